// Live tail page: one websocket to the shared tail of this topic; renders pushed events,
// acknowledges each push, pauses/resumes, changes the filter in place (Apply), clears, and
// reconnects by itself with backoff. Rows are built once and never measured: one line each
// (the table has a fixed layout), a value opens on click, headers open in one shared popover.
(function () {
  "use strict";

  var root = document.getElementById("tail");
  if (!root) return;

  var stateBadge = document.getElementById("tail-state");
  var reasonText = document.getElementById("tail-reason");
  var errorBox = document.getElementById("tail-error");
  var filterError = document.getElementById("tail-filter-error");
  var rows = document.getElementById("tail-rows");
  var empty = document.getElementById("tail-empty");
  var form = document.getElementById("tail-form");
  var filterInput = document.getElementById("tail-filter");
  var rateInput = document.getElementById("tail-rate");
  var pauseButton = document.getElementById("tail-pause");
  var clearButton = document.getElementById("tail-clear");
  var receivedText = document.getElementById("tail-received");
  var droppedText = document.getElementById("tail-dropped");
  var droppedByText = document.getElementById("tail-dropped-by");
  var partitionsText = document.getElementById("tail-partitions");
  var pop = document.getElementById("tail-headers-pop");
  var popTitle = document.getElementById("tail-pop-title");
  var popList = document.getElementById("tail-pop-list");
  var maxRows = parseInt(root.dataset.maxRows, 10) || 500;
  var eventUrl = root.dataset.eventUrl || "";

  // Close codes after which reconnecting cannot help (the server says why before closing).
  var FINAL = {
    4400: "the filter or rate was refused",
    4401: "you are no longer logged in: reload the page to log in",
    4403: "your access to this cluster was taken away",
    4404: "the topic does not exist (any more)",
    4429: "you have too many live tails open: close one, then apply again"
  };

  var ws = null;
  var ready = false;  // the current socket has said its status: it takes filter changes
  var attempt = 0;
  var retryTimer = null;
  var paused = false;
  var lastError = "";
  var received = 0;
  var dropped = 0;
  var droppedBy = { rate: 0, queue: 0, paused: 0 };
  // What the server runs (a reconnect asks for it again), not what is being typed.
  var applied = { filter: filterInput.value.trim(), rate: rateInput.value };
  var events = new WeakMap();  // row → its event, for the value and headers opened on click
  var popRow = null;  // the row whose headers the popover shows
  var pending = [];  // events received, drawn at the next frame
  var frame = 0;
  var localTime = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit", hour12: false, timeZoneName: "short"
  });

  function setState(state, reason) {
    stateBadge.dataset.state = state;
    stateBadge.textContent = state;
    stateBadge.className = "badge tail-state " + state;
    reasonText.textContent = reason || "";
  }

  function showError(message) {
    errorBox.textContent = message || "";
    errorBox.hidden = !message;
  }

  function showFilterError(message) {
    filterError.textContent = message || "";
    filterError.hidden = !message;
    if (message) filterInput.setAttribute("aria-invalid", "true"); else filterInput.removeAttribute("aria-invalid");
  }

  function wsUrl() {
    var proto = location.protocol === "https:" ? "wss" : "ws";
    var query = new URLSearchParams();
    if (applied.filter) query.set("filter", applied.filter);
    if (applied.rate) query.set("rate", applied.rate);
    var qs = query.toString();
    return proto + "://" + location.host + root.dataset.wsPath + (qs ? "?" + qs : "");
  }

  function rememberInAddress() {
    var query = new URLSearchParams(location.search);
    if (applied.filter) query.set("filter", applied.filter); else query.delete("filter");
    if (applied.rate) query.set("rate", applied.rate); else query.delete("rate");
    var qs = query.toString();
    history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
  }

  function connect() {
    retryTimer = null;
    lastError = "";
    ready = false;
    setState(attempt ? "reconnecting" : "connecting", attempt ? "attempt " + (attempt + 1) : "");
    var socket = new WebSocket(wsUrl());
    ws = socket;
    socket.onmessage = function (msg) {
      if (socket !== ws) return;
      var data;
      try { data = JSON.parse(msg.data); } catch (e) { return; }
      if (data.events) {
        onPush(data);
        socket.send(JSON.stringify({ ack: data.seq }));
      } else if (data.applied) {
        onApplied(data.applied);
      } else if (data.refused !== undefined) {
        showFilterError("Not applied: " + String(data.refused).replace(/\.$/, "") + ". Still running: " + describeApplied() + ".");
      } else if (data.error) {
        lastError = data.error;
        // A refused filter or rate is said next to the inputs; anything else above the table.
        var fields = data.fields || {};
        if (fields.filter || fields.rate) showFilterError(data.error); else showError(data.error);
      } else if (data.status) {
        ready = true;
        onStatus(data);
      }
    };
    socket.onclose = function (ev) {
      if (socket !== ws) return;  // replaced by a new connection
      ws = null;
      ready = false;
      if (FINAL[ev.code]) {
        setState("closed", FINAL[ev.code]);  // the server's own words are in the error box
        if (!lastError) showError(FINAL[ev.code]);
        return;
      }
      attempt += 1;
      // 1 s, 2 s, 4 s … up to 30 s, with some jitter so many pages do not come back at once.
      var delay = Math.min(30000, 1000 * Math.pow(2, attempt - 1)) * (0.75 + Math.random() * 0.5);
      var why = lastError || (ev.code === 1006 ? "connection lost" : "closed (" + ev.code + ")");
      setState("reconnecting", why + "; retrying in " + Math.round(delay / 1000) + " s");
      retryTimer = setTimeout(connect, delay);
    };
  }

  function onStatus(data) {
    if (data.status === "live") {
      attempt = 0;
      showError("");
      if (data.partitions) partitionsText.textContent = data.partitions.length + " (" + data.partitions.join(", ") + ")";
      // Paused before a reconnect: the new connection is paused too.
      if (paused && ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ action: "pause" }));
      setState(paused ? "paused" : "live", "");
    } else if (data.status === "paused") {
      setState("paused", "new events are counted, not sent, until you resume");
    } else if (data.status === "unavailable") {
      setState("reconnecting", data.error || "the cluster does not answer; retrying");
    }
  }

  function describeApplied() {
    return (applied.filter ? "filter " + applied.filter : "no filter (every event)") + " at " + applied.rate + " events/s";
  }

  function clock(date) {
    return date.toLocaleTimeString([], { hour12: false, hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  // The server runs the new filter from here on: every event below the divider matched the old one.
  function onApplied(change) {
    flush();
    applied = { filter: change.filter || "", rate: String(change.rate) };
    rememberInAddress();
    showFilterError("");
    var tr = document.createElement("tr");
    tr.className = "tail-divider";
    var td = document.createElement("td");
    td.colSpan = 6;
    var when = new Date(change.at || Date.now());
    var label = document.createElement("span");
    label.className = "tail-divider-label";
    label.textContent = "filter changed " + clock(when);
    label.title = when.toLocaleString();
    var what = document.createElement("span");
    what.className = "mono";
    what.textContent = change.filter ? change.filter : "no filter (every event)";
    td.appendChild(label);
    td.appendChild(document.createTextNode(" "));
    td.appendChild(what);
    td.appendChild(document.createTextNode(" · at most " + change.rate + " events/s"));
    tr.appendChild(td);
    rows.insertBefore(tr, rows.firstChild);
    trim();
  }

  function onPush(data) {
    var list = data.events || [];
    received += list.length;
    dropped += data.dropped || 0;
    var by = data.dropped_by || {};
    ["rate", "queue", "paused"].forEach(function (k) { droppedBy[k] += by[k] || 0; });
    receivedText.textContent = received.toLocaleString();
    droppedText.textContent = dropped.toLocaleString();
    var parts = [];
    if (droppedBy.rate) parts.push(droppedBy.rate.toLocaleString() + " over the rate limit");
    if (droppedBy.queue) parts.push(droppedBy.queue.toLocaleString() + " while the page lagged");
    if (droppedBy.paused) parts.push(droppedBy.paused.toLocaleString() + " while paused");
    droppedByText.textContent = parts.length ? "(" + parts.join(", ") + ")" : "";
    if (!list.length) return;
    // Rows are built once per frame for every push that came meanwhile, and only as many as
    // the page keeps: at hundreds of events a second most would be removed again at once.
    for (var i = 0; i < list.length; i++) pending.push(list[i]);
    if (pending.length > 2 * maxRows) pending = pending.slice(-maxRows);
    if (!frame) frame = requestAnimationFrame(render);
  }

  function render() {
    frame = 0;
    var list = pending;
    pending = [];
    var fragment = document.createDocumentFragment();
    for (var i = list.length - 1; i >= 0 && i >= list.length - maxRows; i--) fragment.appendChild(row(list[i]));
    rows.insertBefore(fragment, rows.firstChild);
    trim();
    empty.hidden = rows.children.length > 0;
  }

  // Pushed events not yet drawn, and what the order of events and dividers needs: a divider
  // waits for the events that came before it.
  function flush() {
    if (frame) cancelAnimationFrame(frame);
    if (pending.length) render();
    frame = 0;
  }

  function trim() {
    while (rows.children.length > maxRows) {
      if (rows.lastElementChild === popRow) closePop();
      rows.removeChild(rows.lastElementChild);
    }
  }

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    if (text) td.textContent = text;
    return td;
  }

  function badge(text, title) {
    var span = document.createElement("span");
    span.className = "badge";
    span.textContent = text;
    if (title) span.title = title;
    return span;
  }

  // A closed line holds no more text than the widest screen shows: the browser lays out (shapes)
  // all of a line's text, cut or not, and values run to thousands of characters.
  var LINE = 400;
  function line(text) {
    return text.length > LINE ? text.slice(0, LINE) + "…" : text;
  }

  function pretty(text, encoding) {
    if (encoding !== "json" || text === null) return text;
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
  }

  // "2026-12-07 10:41:44.123 UTC", as the message browser shows times; local time in the tooltip.
  function utc(date) {
    var iso = date.toISOString();
    return iso.slice(0, 10) + " " + iso.slice(11, 23) + " UTC";
  }

  // The local time is written when a pointer first rests on a time, not for every row drawn.
  rows.addEventListener("mouseover", function (ev) {
    var td = ev.target.closest && ev.target.closest("td.tail-time");
    if (!td || td.title) return;
    var e = events.get(td.parentNode);
    if (e && e.timestamp >= 0) td.title = localTime.format(new Date(e.timestamp)) + " your time (" + e.timestamp_type + " time)";
  });

  function row(e) {
    var tr = document.createElement("tr");
    tr.className = "tail-row";
    tr.dataset.partition = e.partition;
    tr.dataset.offset = e.offset;
    events.set(tr, e);
    var time = cell("", "tail-time small nowrap");
    if (e.timestamp >= 0) {
      var when = new Date(e.timestamp);
      var t = document.createElement("time");
      t.dateTime = when.toISOString();
      t.textContent = utc(when);
      time.appendChild(t);
    } else {
      time.textContent = "—";
    }
    tr.appendChild(time);
    tr.appendChild(cell(String(e.partition), "num tail-part"));
    var offset = cell(eventUrl ? "" : String(e.offset), "num nowrap tail-off");
    if (eventUrl) {
      var link = document.createElement("a");
      link.href = eventUrl + "?partition=" + e.partition + "&offset=" + e.offset;
      link.textContent = String(e.offset);
      link.title = "open the whole event";
      offset.appendChild(link);
    }
    tr.appendChild(offset);
    var key = cell("", "mono tail-key");
    var keyLine = document.createElement("div");
    keyLine.className = "tail-keyline";
    var keyText = document.createElement("span");
    keyText.className = "tail-line" + (e.key === null ? " muted" : "");
    keyText.textContent = e.key === null ? "null" : line(e.key);
    if (e.key !== null) keyText.title = e.key;
    keyLine.appendChild(keyText);
    if (e.key_encoding === "base64") keyLine.appendChild(badge("base64", "binary key shown as base64"));
    key.appendChild(keyLine);
    tr.appendChild(key);
    tr.appendChild(valueCell(e));
    tr.appendChild(headersCell(e));
    return tr;
  }

  // One line cut with an ellipsis; a click (or Enter) on it opens the whole value, JSON indented.
  function valueCell(e) {
    var td = cell("", "mono value tail-value");
    var details = document.createElement("details");
    details.className = "tail-val";
    var summary = document.createElement("summary");
    summary.className = "tail-line";
    summary.textContent = e.value === null ? "null (tombstone)" : line(e.value);
    if (e.value === null) summary.classList.add("muted");
    details.appendChild(summary);
    td.appendChild(details);
    var notes = [];
    if (e.value_encoding && e.value_encoding !== "text" && e.value_encoding !== "json") {
      notes.push(badge(e.value_encoding, e.schema_id !== null && e.schema_id !== undefined ? "schema " + e.schema_id : ""));
    }
    if (e.truncated) notes.push(badge("cut", "the value is longer than shown here: the offset opens it whole"));
    if (e.masked) notes.push(badge("masked", "sensitive fields are masked for your role"));
    if (notes.length) {
      var span = document.createElement("span");
      span.className = "tail-notes";
      notes.forEach(function (n) { span.appendChild(n); });
      td.appendChild(span);
    }
    return td;
  }

  function headersCell(e) {
    var count = (e.headers || []).length;
    var td = cell(count ? "" : "none", "tail-hdr small" + (count ? "" : " muted"));
    if (count) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "tail-hdr-btn small";
      button.setAttribute("popovertarget", "tail-headers-pop");
      button.textContent = count + (count === 1 ? " header" : " headers");
      td.appendChild(button);
    }
    return td;
  }

  function fillPop(tr, button) {
    var e = events.get(tr);
    popRow = tr;
    popTitle.textContent = "Headers of partition " + e.partition + ", offset " + e.offset;
    popList.textContent = "";
    e.headers.forEach(function (h) {
      var dt = document.createElement("dt");
      dt.textContent = h.key;
      var dd = document.createElement("dd");
      dd.textContent = h.value === null ? "null" : h.value;
      if (h.value === null) dd.className = "muted";
      if (h.encoding && h.encoding !== "text") dd.appendChild(badge(h.encoding));
      popList.appendChild(dt);
      popList.appendChild(dd);
    });
    // Beside its button (one read of layout, on a click only); the sheet keeps it on screen.
    var box = button.getBoundingClientRect();
    var width = Math.min(420, window.innerWidth - 16);
    pop.style.left = Math.max(8, Math.min(box.right - width, window.innerWidth - width - 8)) + "px";
    pop.style.top = Math.min(box.bottom + 4, Math.max(8, window.innerHeight - 200)) + "px";
  }

  function closePop() {
    if (pop.matches(":popover-open")) pop.hidePopover();
    popRow = null;
  }

  pop.addEventListener("toggle", function (ev) { if (ev.newState === "closed") popRow = null; });

  rows.addEventListener("click", function (ev) {
    var target = ev.target;
    var button = target.closest(".tail-hdr-btn");
    if (button) {
      var tr = button.closest("tr");
      var open = pop.matches(":popover-open");
      if (open && popRow === tr) return;  // the button closes its own popover
      fillPop(tr, button);
      if (open) ev.preventDefault();  // another row's headers: stay open, now showing these
      return;
    }
    var summary = target.closest("summary.tail-line");
    if (!summary) return;
    // Selecting text in an open value is not a click to fold it.
    var selection = window.getSelection();
    if (summary.parentNode.open && selection && !selection.isCollapsed && summary.contains(selection.anchorNode)) {
      ev.preventDefault();
      return;
    }
    var e = events.get(summary.closest("tr"));
    if (!e || e.value === null) return;
    // Toggled after this handler: opening shows the whole value, closing the one line again.
    summary.textContent = summary.parentNode.open ? line(e.value) : pretty(e.value, e.value_encoding);
  });

  function reconnectNow() {
    if (retryTimer) clearTimeout(retryTimer);
    var old = ws;
    ws = null;
    if (old) old.close(1000);
    attempt = 0;
    paused = false;
    pauseButton.textContent = "Pause";
    connect();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var wanted = { filter: filterInput.value.trim(), rate: rateInput.value };
    if (ws && ready && ws.readyState === WebSocket.OPEN) {
      // Changed on the open socket: a filter the server refuses leaves the running one on.
      ws.send(JSON.stringify({ action: "filter", filter: wanted.filter, rate: wanted.rate }));
      return;
    }
    // Closed (a refused first filter, a lost connection): connect again with these.
    applied = wanted;
    rememberInAddress();
    showError("");
    showFilterError("");
    reconnectNow();
  });

  pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ action: paused ? "pause" : "resume" }));
    if (!ws || stateBadge.dataset.state === "closed") return;
    setState(paused ? "paused" : "live", "");
  });

  clearButton.addEventListener("click", function () {
    closePop();
    if (frame) cancelAnimationFrame(frame);
    frame = 0;
    pending = [];
    rows.textContent = "";
    received = 0;
    dropped = 0;
    droppedBy = { rate: 0, queue: 0, paused: 0 };
    receivedText.textContent = "0";
    droppedText.textContent = "0";
    droppedByText.textContent = "";
    empty.hidden = false;
  });

  connect();
})();
