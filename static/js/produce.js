// Produce page: header rows, the subject field for Avro, tombstones, JSON formatting, and a
// preview marked stale once the form changes after it.
(function () {
  "use strict";
  var form = document.getElementById("produce-form");
  if (!form) return;
  var rows = document.querySelector("#produce-headers tbody");
  var template = document.getElementById("header-row-template");
  var format = document.getElementById("id_value_format");
  var value = document.getElementById("id_value");
  var tombstone = document.getElementById("id_tombstone");

  document.getElementById("add-header").addEventListener("click", function () {
    rows.appendChild(template.content.cloneNode(true));
    var inputs = rows.querySelectorAll("input[name=header_key]");
    inputs[inputs.length - 1].focus();
  });

  rows.addEventListener("click", function (event) {
    var button = event.target.closest(".remove-header");
    if (!button) return;
    var row = button.closest("tr");
    if (rows.querySelectorAll("tr").length > 1) {
      row.remove();
    } else {
      row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
    }
    markStale();
  });

  function showSubject() {
    var avro = format.value === "avro";
    document.querySelectorAll(".subject-row").forEach(function (el) { el.hidden = !avro; });
  }
  format.addEventListener("change", showSubject);
  showSubject();

  function showTombstone() {
    value.readOnly = tombstone.checked;
  }
  tombstone.addEventListener("change", showTombstone);
  showTombstone();

  document.getElementById("format-json").addEventListener("click", function () {
    try {
      value.value = JSON.stringify(JSON.parse(value.value), null, 2);
      if (format.value === "text") format.value = "json";
      showSubject();
      markStale();
    } catch (error) {
      // The server names the line and column; ask it through the preview.
      document.getElementById("preview-button").click();
    }
  });

  function markStale() {
    var preview = document.getElementById("preview");
    if (!preview || !preview.querySelector(".produce-preview") || preview.querySelector(".stale-note")) return;
    var note = document.createElement("div");
    note.className = "notice warn stale-note";
    note.textContent = "The form changed after this preview: preview again to see what will be sent.";
    preview.prepend(note);
  }
  form.addEventListener("input", markStale);
})();
