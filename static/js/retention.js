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
  // The navigation's drift badge shows the count this page has just read (unfiltered rows only).
  function syncDrift() {
    var rows = document.getElementById("compliance-rows");
    var badge = document.getElementById("drift-count");
    if (!rows || !badge || rows.dataset.driftTotal === undefined) return;
    var count = parseInt(rows.dataset.driftTotal, 10);
    badge.textContent = count ? String(count) : "";
    badge.hidden = !count;
  }

  // Opened from "Preview applying it to the N matching topics": select the policy's topics and preview.
  function previewFromLink() {
    var params = new URLSearchParams(location.search);
    if (params.get("preview") !== "1" || !params.get("policy")) return;
    var boxes = document.querySelectorAll('#compliance-rows input[name="topics"]');
    if (!boxes.length) return;
    boxes.forEach(function (b) { b.checked = true; });
    update();
    var button = document.getElementById("preview-selected");
    if (button) button.click();
  }

  document.addEventListener("htmx:afterSwap", function () { update(); syncDrift(); });
  syncDrift();
  window.addEventListener("load", previewFromLink);  // after htmx has taken over the form
})();
