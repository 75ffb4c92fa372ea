// Job page: follow the job's status and progress pushed over ws/jobs/<id>/.
(function () {
  const root = document.getElementById("job");
  if (!root) return;
  const FINISHED = ["succeeded", "completed_with_gaps", "failed", "cancelled"];
  const COMPLETED = ["succeeded", "completed_with_gaps"];
  const text = (id, value) => { const el = document.getElementById(id); if (el) el.textContent = value; };
  // The same words as the server's console_format filters: "2 min 14 s", "1,234 events/s", "… UTC".
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 10) return `${Math.round(seconds * 10) / 10} s`;
    let rest = Math.round(seconds);
    const parts = [];
    for (const [size, unit] of [[86400, "d"], [3600, "h"], [60, "min"], [1, "s"]]) {
      const n = Math.floor(rest / size);
      rest -= n * size;
      if (n) parts.push(`${n} ${unit}`);
    }
    return parts.slice(0, 2).join(" ");
  }
  function rate(perSecond) {
    if (perSecond === null || perSecond === undefined) return "—";
    const digits = perSecond >= 100 ? 0 : 1;
    return `${perSecond.toLocaleString("en-US", { maximumFractionDigits: digits })} events/s`;
  }
  function utc(iso) {
    if (!iso) return "—";
    return new Date(iso).toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }
  function size(bytes) {
    if (typeof bytes !== "number") return "—";
    let amount = bytes;
    for (const unit of ["B", "KiB", "MiB", "GiB"]) {
      if (amount < 1024) return unit === "B" ? `${bytes} B` : `${amount.toFixed(1).replace(/\.0$/, "")} ${unit}`;
      amount /= 1024;
    }
    return `${amount.toFixed(1).replace(/\.0$/, "")} TiB`;
  }
  const number = (n) => (typeof n === "number" ? n.toLocaleString("en-US") : "—");

  // Messages name things between backticks; the page shows them as code, like the server's `plain` filter.
  function plain(el, message) {
    el.replaceChildren();
    String(message || "").split("`").forEach((part, i) => {
      if (i % 2) { const code = document.createElement("code"); code.textContent = part; el.append(code); }
      else el.append(part);
    });
  }

  function setStatus(el, status, label) {
    el.textContent = label || status.replaceAll("_", " ");
    el.className = `badge status ${status}`;
  }

  function render(job) {
    const progress = job.progress;
    setStatus(document.getElementById("job-status"), job.status, job.status_label);
    text("job-percent", progress.percent);
    text("job-done", number(progress.events_done));
    text("job-total", number(progress.events_total));
    text("job-rate", progress.rate);
    text("job-eta", duration(progress.eta_seconds));
    const finished = progress.duration_seconds !== null && progress.duration_seconds !== undefined;
    document.getElementById("job-live").hidden = finished;
    document.getElementById("job-summary").hidden = !finished;
    text("job-duration", duration(progress.duration_seconds));
    text("job-average", rate(progress.average_rate));
    if (job.finished_at) text("job-finished", utc(job.finished_at));
    text("job-attempts", job.attempts);
    const bar = document.getElementById("job-progress");
    bar.value = progress.percent;
    bar.textContent = `${progress.percent}%`;
    for (const p of progress.partitions) {
      const row = root.querySelector(`tr[data-partition="${p.partition}"]`);
      if (!row) continue;
      const field = (name) => row.querySelector(`[data-field="${name}"]`);
      setStatus(field("status"), p.status);
      field("position").textContent = p.position;
      field("done").textContent = p.done;
      field("skipped").textContent = p.skipped;
      field("lost").textContent = p.lost;
      field("lost").classList.toggle("warn", p.lost > 0);
      field("bar").value = p.percent;
      field("percent").textContent = p.percent;
      field("rate").textContent = p.status === "running" ? p.rate : "—";
      field("eta").textContent = duration(p.eta_seconds);
    }
    const error = document.getElementById("job-error");
    plain(error, job.error);
    error.hidden = !job.error;
    const gaps = document.getElementById("job-gaps");
    if (job.result && job.result.warning) {
      plain(gaps.querySelector("[data-result=warning]"), job.result.warning);
      gaps.hidden = false;
    }
    const result = document.getElementById("job-result");
    if (COMPLETED.includes(job.status)) {
      for (const el of result.querySelectorAll("[data-result]")) el.textContent = job.result[el.dataset.result];
      if (job.file) {
        const shown = { ...job.file, size: size(job.file.size), expires_at: utc(job.file.expires_at) };
        for (const el of result.querySelectorAll("[data-file]")) el.textContent = shown[el.dataset.file];
        const link = document.getElementById("job-file");
        if (link && job.file.download) link.href = job.file.download;
      }
      result.hidden = false;
    }
    const download = document.getElementById("download-slot");
    if (download && job.file) download.hidden = false;
    const cancel = document.getElementById("cancel-form");
    if (cancel && FINISHED.includes(job.status)) cancel.hidden = true;
    root.dataset.status = job.status;
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}${root.dataset.socket}`);
    ws.onmessage = (msg) => {
      const data = JSON.parse(msg.data);
      if (data.job) render(data.job);
    };
    ws.onclose = (ev) => {
      if (ev.code === 4401 || ev.code === 4403 || FINISHED.includes(root.dataset.status)) return;
      setTimeout(connect, 3000);
    };
  }
  connect();
})();
