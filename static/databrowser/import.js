// CSV import. Upload page: a chosen file is sent in 4 MB pieces with a progress bar (the server's
// memory stays flat whatever the size), then the form is sent naming the upload. Job page: while
// a job runs, poll its status, move the progress bar, and reload when it ends. Without this
// script the form posts the file whole and the job page refreshes itself (<noscript>).
(function () {
  "use strict";
  const PIECE = 4 * 1024 * 1024;

  function csrf() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : (m ? decodeURIComponent(m[1]) : "");
  }

  const form = document.getElementById("import-upload-form");
  if (form) {
    const input = document.getElementById("import-file");
    const bar = document.getElementById("upload-progress");
    const status = document.getElementById("upload-status");
    form.addEventListener("submit", async function (ev) {
      const file = input.files && input.files[0];
      if (!file || form.dataset.sent) return; // pasted text: the plain form post
      ev.preventDefault();
      bar.hidden = false;
      let upload = "", offset = 0;
      try {
        while (offset < file.size) {
          const piece = file.slice(offset, offset + PIECE);
          const url = form.dataset.chunkUrl + "?offset=" + offset + (upload ? "&upload=" + upload : "");
          const r = await fetch(url, { method: "POST", body: piece, credentials: "same-origin",
            headers: { "X-CSRFToken": csrf(), "Content-Type": "application/octet-stream", Accept: "application/json" } });
          const body = await r.json();
          if (!r.ok) throw new Error((body.error && (body.error.message + " " + body.error.hint)) || ("HTTP " + r.status));
          upload = body.upload; offset = body.size;
          bar.value = Math.round(100 * offset / file.size);
          status.textContent = "uploaded " + Math.round(100 * offset / file.size) + " %";
        }
      } catch (e) {
        status.textContent = "Upload failed: " + e.message;
        return;
      }
      form.querySelector("input[name=upload]").value = upload;
      form.querySelector("input[name=name]").value = file.name;
      input.value = "";
      form.dataset.sent = "1";
      form.submit();
    });
  }

  const card = document.getElementById("import-progress-card");
  if (!card) return;
  const jobBar = document.getElementById("import-progress");
  const phase = document.getElementById("import-phase");
  async function poll() {
    try {
      const r = await fetch(card.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (r.ok) {
        const job = await r.json();
        const pct = Math.round(job.progress * 100);
        jobBar.value = pct;
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
