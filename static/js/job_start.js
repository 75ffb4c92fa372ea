// Job start form: show the fields the chosen range needs, and count its events as it changes
// (the server resolves the range as the job would: `count=partial` answers with the count only).
(function () {
  "use strict";
  var form = document.getElementById("job-form");
  var range = document.getElementById("id_range");
  var box = document.getElementById("range-count");
  if (!form || !range || !box) return;

  function showParts() {
    var chosen = range.value;
    form.querySelectorAll(".range-part").forEach(function (el) {
      el.hidden = el.dataset.ranges.split(" ").indexOf(chosen) < 0;
    });
    form.querySelectorAll(".range-custom").forEach(function (el) { el.hidden = chosen !== "custom"; });
  }

  var timer = null;
  var asked = 0;
  function count() {
    var mine = ++asked;
    var data = new FormData(form);
    data.set("count", "partial");
    box.setAttribute("aria-busy", "true");
    fetch(form.dataset.countUrl, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) { if (mine === asked) box.innerHTML = html; })
      .catch(function () { if (mine === asked) box.textContent = "the count did not arrive: try again"; })
      .finally(function () { if (mine === asked) box.removeAttribute("aria-busy"); });
  }
  function later() {
    clearTimeout(timer);
    timer = setTimeout(count, 350);
  }

  range.addEventListener("change", showParts);
  form.addEventListener("input", function (event) { if (event.target.classList.contains("range-input") || event.target.id === "id_partitions") later(); });
  form.addEventListener("change", function (event) { if (event.target.classList.contains("range-input") || event.target.id === "id_partitions") later(); });
  showParts();
  count();
})();
