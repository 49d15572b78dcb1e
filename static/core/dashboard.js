/* Dashboard: fill the "models vs database" card after the page is shown (the compare runs the
   project's code in a child process, ~1 s, so it must not delay the first paint). */
(function () {
  "use strict";
  var card = document.querySelector("[data-drift-url]");
  if (!card) return;
  var count = document.getElementById("drift-count");
  var detail = document.getElementById("drift-detail");
  fetch(card.dataset.driftUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (body) {
      if (!body.ok) {
        count.textContent = "–";
        detail.textContent = (body.error && (body.error.message + " " + (body.error.hint || ""))) || "Not available.";
        return;
      }
      var n = (body.differences || []).length;
      var pendingEl = document.getElementById("pending-count");
      var pending = pendingEl ? parseInt(pendingEl.dataset.pending, 10) || 0 : 0;
      count.textContent = n === 0 ? "In sync" : n + (n === 1 ? " difference" : " differences");
      /* Behind head, differences are expected (the pending revisions make them): not an alarm. */
      count.className = "big " + (n === 0 ? "ok" : pending > 0 ? "" : "bad");
      card.dataset.driftCount = String(n);
      var list = (body.differences || []).slice(0, 3).map(function (d) { return d.detail || (d.kind + " " + d.table); });
      detail.textContent = n === 0 ? "The models match the database." :
        (pending > 0 ? "Expected while " + pending + " migration(s) are pending: " : "") + list.join(" · ");
    })
    .catch(function () { count.textContent = "–"; detail.textContent = "The drift check could not run."; });
})();
