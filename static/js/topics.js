// New topic: picking a retention policy pre-fills the retention fields from its configs.
(function () {
  const select = document.getElementById("id_retention_policy");
  if (!select) return;
  const fields = {
    retentionTime: document.getElementById("id_retention_time"),
    retentionSize: document.getElementById("id_retention_size"),
    cleanup: document.getElementById("id_cleanup"),
    other: document.getElementById("id_other_configs"),
  };
  select.addEventListener("change", () => {
    const option = select.selectedOptions[0];
    if (!option || !option.value) return;
    fields.retentionTime.value = option.dataset.retentionTime || "";
    fields.retentionSize.value = option.dataset.retentionSize || "";
    fields.cleanup.value = option.dataset.cleanup || "";
    if (option.dataset.other) fields.other.value = option.dataset.other;
  });
})();
