// Group page: the rewind form asks for the value its kind needs; a time comes from the date-time
// picker (console.js) or a preset (−10 min, −1 h, the start of today in your time zone).
(function () {
  "use strict";
  var kind = document.getElementById("rewind-to");
  var value = document.getElementById("rewind-value");
  var hint = document.getElementById("rewind-hint");
  var when = document.getElementById("rewind-when");
  if (!kind || !value) return;
  var picker = when && when.querySelector("[data-time-picker]");
  var needs = {
    earliest: null,
    latest: null,
    timestamp: ["2024-05-01T12:00:00Z or ms since the epoch", "Pick a time or a preset, or type ISO 8601 (no zone = UTC) or milliseconds since the epoch."],
    offset: ["e.g. 1200", "Offsets outside the log are clamped to its first or last offset."],
    shift: ["e.g. -500 or 100", "Negative: back (events consumed again); positive: forward (events skipped)."],
    group: ["another group's id", "Copies that group's committed offsets for the chosen partitions."],
  };
  function update() {
    var need = needs[kind.value];
    value.disabled = !need;
    value.placeholder = need ? need[0] : "not needed for " + kind.value;
    if (hint) hint.textContent = need ? need[1] : "";
    if (when) when.hidden = kind.value !== "timestamp";
  }
  kind.addEventListener("change", update);
  update();
  if (!when || !picker) return;

  // The picker's time (ms) is the value sent: read after console.js (whose document listener was
  // added first, so runs first) has turned the picker's local time into ms.
  var ms = picker.querySelector("[data-time-ms]");
  function fromPicker(event) { if (picker.contains(event.target) && ms.value) value.value = ms.value; }
  document.addEventListener("change", fromPicker);
  document.addEventListener("input", fromPicker);
  when.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button) return;
    var at;
    if (button.hasAttribute("data-rewind-today")) {
      var today = new Date();
      today.setHours(0, 0, 0, 0);
      at = today.getTime();
    } else {
      at = Date.now() - parseInt(button.dataset.rewindAgo, 10);
    }
    window.backboneTime.set(picker, at);
  });
})();
