// Retention compliance: "select all drifting" and the count of selected topics.
(function () {
  "use strict";

  function update() {
    var boxes = document.querySelectorAll('#compliance-rows input[name="topics"]');
    var checked = Array.prototype.filter.call(boxes, function (b) { return b.checked; }).length;
    var out = document.getElementById("selected-count");
    if (out) out.textContent = checked ? checked + " selected" : "";
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.id === "select-all") {
      document.querySelectorAll('#compliance-rows input[name="topics"][data-drifting]').forEach(function (b) {
        b.checked = target.checked;
      });
    }
    if (target.id === "select-all" || target.name === "topics") update();
  });
  document.addEventListener("htmx:afterSwap", update);
})();
