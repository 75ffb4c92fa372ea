// Key timeline: add topic fields, and show event times in the browser's time zone.
(function () {
  "use strict";
  var add = document.getElementById("t-add");
  var box = document.getElementById("t-topics");
  if (add && box) {
    add.addEventListener("click", function () {
      var input = document.createElement("input");
      input.type = "text";
      input.name = "topic";
      input.className = "mono";
      input.setAttribute("list", "topic-names");
      input.placeholder = "topic";
      input.setAttribute("aria-label", "Topic");
      box.insertBefore(input, add);
      input.focus();
    });
  }
  // Opened with half of what it needs (a key from an event, a topic from the browser): focus the rest.
  var key = document.getElementById("t-key");
  if (key && !document.querySelector(".timeline-events")) {
    var empty = box ? box.querySelector("input[name=topic]:placeholder-shown") : null;
    if (!key.value) key.focus();
    else if (empty && !empty.value) empty.focus();
  }
  document.querySelectorAll(".local-time[data-ms]").forEach(function (el) {
    var ms = parseInt(el.dataset.ms, 10);
    if (ms >= 0) el.textContent = new Date(ms).toLocaleString() + " local";
  });
})();
