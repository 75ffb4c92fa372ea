// Group page: the rewind form asks for the value its kind needs.
(function () {
  "use strict";
  var kind = document.getElementById("rewind-to");
  var value = document.getElementById("rewind-value");
  var hint = document.getElementById("rewind-hint");
  if (!kind || !value) return;
  var needs = {
    earliest: null,
    latest: null,
    timestamp: ["2024-05-01T12:00:00Z or ms since the epoch", "ISO 8601 (no zone = UTC) or milliseconds since the epoch."],
    offset: ["e.g. 1200", "Offsets outside the log are clamped to its first or last offset."],
    shift: ["e.g. -500 or 100", "Negative: back (events consumed again); positive: forward (events skipped)."],
    group: ["another group's id", "Copies that group's committed offsets for the chosen partitions."],
  };
  function update() {
    var need = needs[kind.value];
    value.disabled = !need;
    value.placeholder = need ? need[0] : "not needed for " + kind.value;
    if (hint) hint.textContent = need ? need[1] : "";
  }
  kind.addEventListener("change", update);
  update();
})();
