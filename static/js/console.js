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
})();
