// Job page: follow the job's status and progress pushed over ws/jobs/<id>/.
(function () {
  const root = document.getElementById("job");
  if (!root) return;
  const FINISHED = ["succeeded", "completed_with_gaps", "failed", "cancelled"];
  const COMPLETED = ["succeeded", "completed_with_gaps"];
  const text = (id, value) => { const el = document.getElementById(id); if (el) el.textContent = value; };
  const eta = (seconds) => (seconds === null || seconds === undefined ? "—" : `${seconds} s`);
  const number = (n) => (typeof n === "number" ? n.toLocaleString("en-US") : "—");

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
    text("job-eta", eta(progress.eta_seconds));
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
      field("rate").textContent = p.rate;
      field("eta").textContent = eta(p.eta_seconds);
    }
    const error = document.getElementById("job-error");
    error.textContent = job.error || "";
    error.hidden = !job.error;
    const gaps = document.getElementById("job-gaps");
    if (job.result && job.result.warning) {
      gaps.querySelector("[data-result=warning]").textContent = job.result.warning;
      gaps.hidden = false;
    }
    const result = document.getElementById("job-result");
    if (COMPLETED.includes(job.status)) {
      for (const el of result.querySelectorAll("[data-result]")) el.textContent = job.result[el.dataset.result];
      if (job.file) for (const el of result.querySelectorAll("[data-file]")) el.textContent = job.file[el.dataset.file];
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
