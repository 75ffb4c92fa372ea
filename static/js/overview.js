// Overview: follow cluster health pushed over the websocket and refresh the panel when it changes.
(function () {
  const section = document.getElementById("health");
  if (!section) return;
  const cluster = section.dataset.cluster;
  let last = null;
  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/ws/clusters/`);
    ws.onmessage = (msg) => {
      const data = JSON.parse(msg.data);
      const mine = (data.clusters || []).find((c) => c.name === cluster);
      if (!mine) return;
      const key = JSON.stringify([mine.status, mine.topic_count, mine.partition_count, mine.brokers,
        mine.under_replicated_partitions, mine.offline_partitions]);
      if (last !== null && key !== last) {
        htmx.ajax("GET", location.pathname, { target: "#health", swap: "outerHTML" });
      }
      last = key;
    };
    ws.onclose = (ev) => { if (ev.code !== 4401 && ev.code !== 4403) setTimeout(connect, 5000); };
  }
  connect();
})();
