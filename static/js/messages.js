// Message browser: start fields, the date-time picker (UTC and local time), local times of
// events, and searches streamed over the search websocket (rows arrive as they are found).
(function () {
  "use strict";
  var root = document.getElementById("messages");
  if (!root) return;
  var form = document.getElementById("browse-form");
  var start = document.getElementById("f-start");
  var when = document.getElementById("f-when");
  var stamp = document.getElementById("f-timestamp");
  var shown = document.getElementById("f-when-shown");
  var cancel = document.getElementById("f-cancel");
  var submit = document.getElementById("f-submit");
  var errorBox = document.getElementById("browse-error");

  // --- start fields: show the input the chosen start needs ------------------------------
  function showStartFields() {
    var value = start.value;
    [["offset", ".start-offset"], ["timestamp", ".start-timestamp"], ["group", ".start-group"]].forEach(function (pair) {
      form.querySelectorAll(pair[1]).forEach(function (el) { el.hidden = value !== pair[0]; });
    });
  }
  start.addEventListener("change", showStartFields);
  showStartFields();

  // --- the picker is local time; the server gets ms since the epoch ----------------------
  function pad(n, width) { var s = String(n); while (s.length < (width || 2)) s = "0" + s; return s; }
  function localInputValue(date) {
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + "T" +
      pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()) + "." + pad(date.getMilliseconds(), 3);
  }
  function describe(ms) {
    var date = new Date(ms);
    return ms + " ms = " + date.toISOString().replace("T", " ").replace("Z", " UTC") + " = " + date.toLocaleString() + " (your time)";
  }
  function syncTimestamp() {
    if (!when.value) { stamp.value = ""; shown.textContent = ""; return; }
    var ms = new Date(when.value).getTime();  // a datetime-local value is read as local time
    if (isNaN(ms)) return;
    stamp.value = String(ms);
    shown.textContent = describe(ms);
  }
  when.addEventListener("input", syncTimestamp);
  when.addEventListener("change", syncTimestamp);
  if (stamp.value && /^\d+$/.test(stamp.value)) {
    when.value = localInputValue(new Date(parseInt(stamp.value, 10)));
    shown.textContent = describe(parseInt(stamp.value, 10));
  } else if (when.value) {
    syncTimestamp();
  }

  // --- local times beside the UTC ones ----------------------------------------------------
  function localTimes(scope) {
    scope.querySelectorAll(".local-time[data-ms]").forEach(function (el) {
      var ms = parseInt(el.dataset.ms, 10);
      if (ms >= 0 && !el.textContent) el.textContent = new Date(ms).toLocaleString() + " local";
    });
  }
  localTimes(document);

  // --- building the filter: examples, fields, and the fields of an event's JSON ------------
  var q = document.getElementById("f-q");
  function addToFilter(clause) {
    var now = q.value.trim();
    // A plain-text search cannot be joined with `and`: the clause replaces it.
    var plain = now && !/[=<>~!()"]|\b(contains|exists)\b/.test(now);
    q.value = !now || plain || now === clause ? clause : now + " and " + clause;
    q.focus();
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-filter]");
    if (!button || !root.contains(button)) return;
    event.preventDefault();
    addToFilter(button.dataset.filter);
  });

  // The pretty JSON of a value (json.dumps(indent=2) on the server) gets a button on each
  // field name: a scalar adds `path == value`, an object or a list `path exists`. Read line
  // by line, not with JSON.parse, so numbers keep every digit as written.
  var IDENT = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;
  var RESERVED = ["key", "value", "partition", "offset", "timestamp", "headers", "header",
    "and", "or", "not", "contains", "exists", "true", "false", "null"];
  function pathText(segments) {
    var out = "";
    segments.forEach(function (segment) {
      if (segment === null) out = (out || "value") + "[*]";
      else if (IDENT.test(segment)) out = out || RESERVED.indexOf(segment.toLowerCase()) >= 0 ? (out || "value") + "." + segment : segment;
      else out = (out || "value") + "." + JSON.stringify(segment);
    });
    return out;
  }
  var KEY_LINE = /^(\s*)("(?:[^"\\]|\\.)*")(: )(.*)$/;
  function clickableJson(pre) {
    var stack = [];  // the path of each open object or list; null segments stand for list elements
    var lines = pre.textContent.split("\n");
    var out = document.createDocumentFragment();
    lines.forEach(function (line, index) {
      var match = KEY_LINE.exec(line);
      var rest = line.trim();
      var parent = stack.length ? stack[stack.length - 1] : null;
      var path = null;
      if (match) {
        path = (parent ? parent.path : []).concat([JSON.parse(match[2])]);
        rest = match[4];
      } else if (parent && parent.list && rest && rest[0] !== "}" && rest[0] !== "]") {
        path = parent.path.concat([null]);
      }
      var bare = rest.replace(/,$/, "");
      var opens = bare === "{" || bare === "[";
      if (match) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "jf";
        var name = pathText(path);
        button.dataset.filter = opens || bare === "{}" || bare === "[]" ? name + " exists" : name + " == " + bare;
        button.title = "Add " + button.dataset.filter + " to the search";
        button.textContent = match[2];
        out.appendChild(document.createTextNode(match[1]));
        out.appendChild(button);
        out.appendChild(document.createTextNode(match[3] + match[4]));
      } else {
        out.appendChild(document.createTextNode(line));
      }
      if (index < lines.length - 1) out.appendChild(document.createTextNode("\n"));
      if (opens) stack.push({path: path || [], list: bare === "["});
      else if ((bare === "}" || bare === "]") && stack.length) stack.pop();
    });
    pre.textContent = "";
    pre.appendChild(out);
    pre.dataset.fields = "1";
  }
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!details.open || !details.closest || !details.closest("#event-rows")) return;
    var pre = details.querySelector("pre");
    if (pre && !pre.dataset.fields) clickableJson(pre);
  }, true);

  // --- streamed search ----------------------------------------------------------------------
  var socket = null;
  var current = 0;
  var rows = document.getElementById("event-rows");
  var status = document.getElementById("search-status");
  var scanBox = document.getElementById("scan-box");
  var notesBox = document.getElementById("notes-box");

  function params() {
    var data = new FormData(form);
    var out = {};
    data.forEach(function (value, name) { if (value !== "") out[name] = String(value); });
    if (out.start !== "timestamp") { delete out.timestamp; delete out.when; }
    if (out.start !== "offset") delete out.offset;
    if (out.start !== "group") delete out.group;
    var cursor = new URLSearchParams(location.search).get("cursor");
    if (cursor && root.dataset.cursorFor === location.search) out.cursor = cursor;
    return out;
  }
  function searching(p) { return Boolean((p.q || "").trim() || p.key); }
  function setError(message) {
    errorBox.textContent = message || "";
    errorBox.hidden = !message;
  }
  function setPagers(html) {
    document.querySelectorAll(".pager-box").forEach(function (box) { box.innerHTML = html || ""; });
  }
  function running(on) {
    cancel.hidden = !on;
    submit.disabled = on;
  }

  function handle(message) {
    if (message.search !== undefined && message.search !== current && message.type !== "started") return;
    if (message.type === "started") {
      current = message.search;
    } else if (message.type === "hit") {
      var empty = rows.querySelector("tr.empty");
      if (empty) empty.remove();
      rows.insertAdjacentHTML("beforeend", message.html);
      localTimes(rows);
      status.textContent = "Searching… found " + message.found;
    } else if (message.type === "queued") {
      status.textContent = "Waiting to start (place " + message.position + "): " + message.reason + ".";
    } else if (message.type === "progress") {
      status.textContent = "Searching… read " + message.scanned.toLocaleString() + " events, found " + message.found;
    } else if (message.type === "done") {
      var byId = {};
      rows.querySelectorAll("tr[data-id]").forEach(function (tr) { byId[tr.dataset.id] = tr; });
      message.order.forEach(function (id) { if (byId[id]) rows.appendChild(byId[id]); });
      rows.querySelectorAll("tr[data-id]").forEach(function (tr) {
        if (message.order.indexOf(tr.dataset.id) < 0) tr.remove();
      });
      if (!message.found) rows.insertAdjacentHTML("beforeend", '<tr class="empty"><td colspan="7" class="muted">No event matched in what was read.</td></tr>');
      scanBox.innerHTML = message.scan_html;
      if (message.help_html) document.getElementById("filter-help-examples").innerHTML = message.help_html;
      setPagers(message.pager_html);
      notesBox.textContent = "";
      (message.key_partitions ? [message.key_partitions] : []).concat(message.notes || []).forEach(function (text) {
        var div = document.createElement("div");
        div.className = "notice small key-partitions";
        div.textContent = text;
        notesBox.appendChild(div);
      });
      status.textContent = (message.cancelled ? "Cancelled: " : "Done: ") + "found " + message.found + " in " +
        message.scan.scanned.toLocaleString() + " events read (" + message.scan.seconds + " s).";
      running(false);
    } else if (message.type === "error") {
      setError(message.error);
      status.textContent = "";
      running(false);
    }
  }

  function connect(then) {
    if (socket && socket.readyState === WebSocket.OPEN) { then(); return; }
    var proto = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(proto + "://" + location.host + root.dataset.wsPath);
    socket.addEventListener("open", then);
    socket.addEventListener("message", function (event) { handle(JSON.parse(event.data)); });
    socket.addEventListener("close", function (event) {
      if (!cancel.hidden) {
        setError(event.code === 4403 || event.code === 4401
          ? "Your access to this cluster's events has ended; log in again."
          : "The connection to the console was lost; the search stopped. Search again to continue.");
        running(false);
      }
      socket = null;
    });
  }

  function startSearch(p) {
    setError("");
    rows.textContent = "";
    scanBox.textContent = "";
    setPagers("");
    status.textContent = "Searching…";
    running(true);
    connect(function () { socket.send(JSON.stringify({action: "search", params: p})); });
  }

  form.addEventListener("submit", function (event) {
    if (event.submitter && event.submitter.name === "sync") return;  // run on the server
    var p = params();
    delete p.cursor;
    if (!searching(p)) return;  // plain browsing: the server renders the page
    event.preventDefault();
    history.pushState(null, "", form.action + "?" + new URLSearchParams(p).toString());
    root.dataset.cursorFor = "";
    startSearch(p);
  });
  cancel.addEventListener("click", function () {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({action: "cancel"}));
  });

  // A search address (a shared link, "next" of a search) streams when the page opens.
  if (root.dataset.stream) {
    root.dataset.cursorFor = location.search;
    var initial = {};
    new URLSearchParams(location.search).forEach(function (value, name) { initial[name] = value; });
    startSearch(initial);
  }
})();
