// Event detail: copy the event as JSON, its value or its key, and its time in the browser's time zone.
(function () {
  "use strict";
  var state = document.getElementById("copy-state");
  var data = document.getElementById("event-json");
  var timer = null;
  document.querySelectorAll(".local-time[data-ms]").forEach(function (el) {
    var ms = parseInt(el.dataset.ms, 10);
    if (ms >= 0) el.textContent = "· " + new Date(ms).toLocaleString() + " your time";
  });
  if (!data) return;
  // The page's JSON is the event as this user sees it (masked below admin): copying never reaches raw bytes.
  var event = JSON.parse(data.textContent);

  function copied(what) {
    state.textContent = "Copied " + what + ".";
    clearTimeout(timer);
    timer = setTimeout(function () { state.textContent = ""; }, 4000);
  }
  function copy(text, what) {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(what); }, function () { fallback(text); copied(what); });
    } else {
      fallback(text);
      copied(what);
    }
  }
  function fallback(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  var texts = {
    json: function () { return JSON.stringify(event, null, 2); },
    value: function () { return event.value; },
    key: function () { return event.key; },
  };
  var names = { json: "the event as JSON", value: "the value", key: "the key" };
  [["copy-json", "json"], ["copy-value", "value"], ["copy-key", "key"]].forEach(function (pair) {
    var button = document.getElementById(pair[0]);
    if (!button) return;
    button.addEventListener("click", function () {
      var text = texts[pair[1]]();
      if (text === null || text === undefined) return;
      copy(text, names[pair[1]]);
    });
  });
})();
