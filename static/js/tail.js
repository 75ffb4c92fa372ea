// Live tail page: one websocket to the shared tail of this topic; renders pushed events,
// acknowledges each push, pauses/resumes, clears, and reconnects by itself with backoff.
(function () {
  "use strict";

  var root = document.getElementById("tail");
  if (!root) return;

  var stateBadge = document.getElementById("tail-state");
  var reasonText = document.getElementById("tail-reason");
  var errorBox = document.getElementById("tail-error");
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
  var maxRows = parseInt(root.dataset.maxRows, 10) || 500;

  // Close codes after which reconnecting cannot help (the server says why before closing).
  var FINAL = {
    4400: "the filter or rate was refused",
    4401: "you are no longer logged in: reload the page to log in",
    4403: "your access to this cluster was taken away",
    4404: "the topic does not exist (any more)",
    4429: "you have too many live tails open: close one, then apply again"
  };

  var ws = null;
  var attempt = 0;
  var retryTimer = null;
  var paused = false;
  var lastError = "";
  var received = 0;
  var dropped = 0;
  var droppedBy = { rate: 0, queue: 0, paused: 0 };

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

  function wsUrl() {
    var proto = location.protocol === "https:" ? "wss" : "ws";
    var query = new URLSearchParams();
    if (filterInput.value.trim()) query.set("filter", filterInput.value.trim());
    if (rateInput.value) query.set("rate", rateInput.value);
    var qs = query.toString();
    return proto + "://" + location.host + root.dataset.wsPath + (qs ? "?" + qs : "");
  }

  function connect() {
    retryTimer = null;
    lastError = "";
    setState(attempt ? "reconnecting" : "connecting", attempt ? "attempt " + (attempt + 1) : "");
    var socket = new WebSocket(wsUrl());
    ws = socket;
    socket.onmessage = function (msg) {
      if (socket !== ws) return;
      var data;
      try { data = JSON.parse(msg.data); } catch (e) { return; }
      if (data.error) {
        lastError = data.error;
        showError(data.error);
        return;
      }
      if (data.status) return onStatus(data);
      if (data.events) {
        onPush(data);
        socket.send(JSON.stringify({ ack: data.seq }));
      }
    };
    socket.onclose = function (ev) {
      if (socket !== ws) return;  // replaced by a new connection (Apply)
      ws = null;
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

  function onPush(data) {
    var events = data.events || [];
    received += events.length;
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
    if (!events.length) return;
    var fragment = document.createDocumentFragment();
    for (var i = events.length - 1; i >= 0; i--) fragment.appendChild(row(events[i]));
    rows.insertBefore(fragment, rows.firstChild);
    while (rows.children.length > maxRows) rows.removeChild(rows.lastChild);
    empty.hidden = true;
  }

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function badge(text, title) {
    var span = document.createElement("span");
    span.className = "badge";
    span.textContent = text;
    if (title) span.title = title;
    return span;
  }

  function pretty(text, encoding) {
    if (encoding !== "json" || text === null) return text;
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
  }

  function row(e) {
    var tr = document.createElement("tr");
    tr.className = "tail-row";
    tr.dataset.partition = e.partition;
    tr.dataset.offset = e.offset;
    var when = new Date(e.timestamp);
    var time = cell(e.timestamp >= 0 ? when.toLocaleTimeString([], { hour12: false }) + "." +
      String(when.getMilliseconds()).padStart(3, "0") : "—", "nowrap mono");
    if (e.timestamp >= 0) time.title = when.toISOString() + " (" + e.timestamp_type + " time)";
    tr.appendChild(time);
    tr.appendChild(cell(String(e.partition), "num"));
    var offset = cell(root.dataset.eventUrl ? "" : String(e.offset), "num nowrap");
    if (root.dataset.eventUrl) {
      var link = document.createElement("a");
      link.href = root.dataset.eventUrl + "?" + new URLSearchParams({ partition: e.partition, offset: e.offset });
      link.textContent = String(e.offset);
      link.title = "open the whole event";
      link.addEventListener("click", function (ev) { ev.stopPropagation(); });
      offset.appendChild(link);
    }
    tr.appendChild(offset);
    var key = cell(e.key === null ? "null" : e.key, "mono tail-key" + (e.key === null ? " muted" : ""));
    if (e.key_encoding === "base64") key.appendChild(badge("base64", "binary key shown as base64"));
    tr.appendChild(key);
    var value = cell("", "mono tail-value");
    var pre = document.createElement("pre");
    pre.className = "tail-pre";
    pre.textContent = e.value === null ? "null (tombstone)" : e.value;
    value.appendChild(pre);
    if (e.value_encoding && e.value_encoding !== "text" && e.value_encoding !== "json") {
      value.appendChild(badge(e.value_encoding, e.schema_id !== null && e.schema_id !== undefined ? "schema " + e.schema_id : ""));
    }
    if (e.truncated) value.appendChild(badge("cut", "the value is longer than shown here"));
    if (e.masked) value.appendChild(badge("masked", "sensitive fields are masked for your role"));
    tr.appendChild(value);
    var headers = (e.headers || []).map(function (h) { return h.key + "=" + (h.value === null ? "null" : h.value); });
    tr.appendChild(cell(headers.join("\n"), "mono small tail-headers"));
    // A click shows the whole value (pretty-printed JSON) and back.
    tr.addEventListener("click", function () {
      var open = tr.classList.toggle("open");
      pre.textContent = e.value === null ? "null (tombstone)" : open ? pretty(e.value, e.value_encoding) : e.value;
    });
    return tr;
  }

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
    var query = new URLSearchParams(location.search);
    if (filterInput.value.trim()) query.set("filter", filterInput.value.trim()); else query.delete("filter");
    if (rateInput.value) query.set("rate", rateInput.value); else query.delete("rate");
    var qs = query.toString();
    history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
    showError("");
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
