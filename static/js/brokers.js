// Broker configs: the filter box narrows the table as you type (the server filters too, with ?q=).
(function () {
  "use strict";
  var box = document.getElementById("broker-config-search");
  var table = document.getElementById("broker-configs");
  var count = document.getElementById("broker-config-count");
  if (!box || !table) return;
  var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-search]"));
  var total = count ? count.textContent.replace(/^\d+ of /, "") : "";
  function apply() {
    var q = box.value.trim().toLowerCase();
    var shown = 0;
    rows.forEach(function (row) {
      var hit = !q || row.getAttribute("data-search").toLowerCase().indexOf(q) !== -1;
      row.hidden = !hit;
      if (hit) shown += 1;
    });
    if (count) count.textContent = shown + " of " + total;
  }
  box.addEventListener("input", apply);
})();
