// Every page: behaviour the base template needs, kept out of inline handlers for the CSP.
(function () {
  "use strict";

  // The cluster switcher opens the chosen cluster's overview.
  document.addEventListener("change", function (event) {
    var select = event.target;
    var form = select.form;
    if (select.name !== "cluster" || !form || !form.dataset.clusterUrl) return;
    window.location = form.dataset.clusterUrl.replace("CLUSTER", encodeURIComponent(select.value));
  });

  // A form with data-confirm asks before it is sent (plain forms; htmx requests use hx-confirm).
  document.addEventListener("submit", function (event) {
    var message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // Narrow windows: the Menu button folds the navigation open and shut (console.css hides it).
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest && event.target.closest(".menu-toggle");
    if (!toggle) return;
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    toggle.closest(".topbar").classList.toggle("open", open);
  });
  document.addEventListener("keydown", function (event) {
    var toggle = document.querySelector(".menu-toggle[aria-expanded=true]");
    if (event.key !== "Escape" || !toggle) return;
    toggle.setAttribute("aria-expanded", "false");
    toggle.closest(".topbar").classList.remove("open");
    toggle.focus();
  });

  // Below 1100 px a table wider than the page scrolls sideways inside itself (console.css): it
  // takes the keyboard focus then, so arrow keys can scroll it too (WCAG 2.1.1).
  function scrollerFocusable(table) {
    if (table.scrollWidth > table.clientWidth + 1) table.setAttribute("tabindex", "0");
    else if (table.getAttribute("tabindex") === "0") table.removeAttribute("tabindex");
  }
  var resized = window.ResizeObserver ? new ResizeObserver(function (entries) {
    entries.forEach(function (entry) { scrollerFocusable(entry.target); });
  }) : null;
  function watchScrollers() {
    document.querySelectorAll("table.grid, .chart-scroll").forEach(function (table) {
      scrollerFocusable(table);
      if (resized) resized.observe(table);  // new rows, a resized window
    });
  }
  watchScrollers();
  document.addEventListener("htmx:afterSettle", watchScrollers);
})();

// Date-time pickers (templates/includes/time_picker.html): the input is the reader's local time,
// the hidden `*_ms` field what the server gets; the line under it says the time in UTC and locally.
// `window.backboneTime.set(picker, ms)` fills one (presets such as "−10 min").
(function () {
  "use strict";
  function pad(n, width) { var s = String(n); while (s.length < (width || 2)) s = "0" + s; return s; }
  function localInputValue(date) {
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + "T" +
      pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
  }
  function describe(ms) {
    var date = new Date(ms);
    return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC") + " = " + date.toLocaleString() + " (your time) = " + ms + " ms";
  }
  function parts(picker) {
    return {
      when: picker.querySelector("input[type=datetime-local]"),
      ms: picker.querySelector("[data-time-ms]"),
      shown: picker.querySelector("[data-time-shown]"),
    };
  }
  function sync(picker) {
    var p = parts(picker);
    if (!p.when.value) { p.ms.value = ""; p.shown.textContent = ""; return; }
    var ms = new Date(p.when.value).getTime();  // a datetime-local value is read as local time
    if (isNaN(ms)) return;
    p.ms.value = String(ms);
    p.shown.textContent = describe(ms);
  }
  function set(picker, ms) {
    var p = parts(picker);
    p.when.value = localInputValue(new Date(ms));
    p.ms.value = String(ms);
    p.shown.textContent = describe(ms);
    p.when.dispatchEvent(new Event("change", { bubbles: true }));
  }
  function listen(event) {
    var picker = event.target.closest && event.target.closest("[data-time-picker]");
    if (picker && event.target.type === "datetime-local") sync(picker);
  }
  document.addEventListener("input", listen);
  document.addEventListener("change", listen);
  document.querySelectorAll("[data-time-picker]").forEach(function (picker) {
    var p = parts(picker);
    if (/^\d+$/.test(p.ms.value)) set(picker, parseInt(p.ms.value, 10));
    else if (p.when.value) sync(picker);
  });
  window.backboneTime = { set: set };
})();
