// Event detail: copy the event as JSON, and its time in the browser's time zone.
(function () {
  "use strict";
  var button = document.getElementById("copy-json");
  var state = document.getElementById("copy-state");
  var data = document.getElementById("event-json");
  document.querySelectorAll(".local-time[data-ms]").forEach(function (el) {
    var ms = parseInt(el.dataset.ms, 10);
    if (ms >= 0) el.textContent = "· " + new Date(ms).toLocaleString() + " your time";
  });
  if (!button || !data) return;
  button.addEventListener("click", function () {
    var text = JSON.stringify(JSON.parse(data.textContent), null, 2);
    var done = function () { state.textContent = "Copied the event as JSON."; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(text); done(); });
    } else {
      fallback(text);
      done();
    }
  });
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
})();
