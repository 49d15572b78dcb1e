// CSV import: while a job runs, poll its status and move the progress bar; reload when it ends.
(function () {
  "use strict";
  const card = document.getElementById("import-progress-card");
  if (!card) return;
  const bar = document.getElementById("import-progress");
  const phase = document.getElementById("import-phase");
  const url = card.dataset.statusUrl;
  async function poll() {
    try {
      const r = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (r.ok) {
        const job = await r.json();
        const pct = Math.round(job.progress * 100);
        bar.value = pct;
        phase.textContent = pct + " % · " + (job.phase || "finishing") + " · " + job.rows.toLocaleString() + " rows read";
        if (job.state !== "validating" && job.state !== "importing") {
          window.location.reload();
          return;
        }
      }
    } catch (e) { /* a dropped poll: try again */ }
    setTimeout(poll, 500);
  }
  setTimeout(poll, 300);
})();
