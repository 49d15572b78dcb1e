/* /alembic: fill the drift panel after the page is shown (the comparison runs the project's env.py,
   about a second); without JavaScript the panel links to the drift page. */
(function () {
  "use strict";
  var panel = document.getElementById("drift-panel");
  if (!panel || !window.fetch) return;
  var summary = document.getElementById("drift-summary");
  var list = document.getElementById("drift-list");
  summary.textContent = "Comparing the models with the database…";
  fetch(panel.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (drift) {
      if (!drift.ok) {
        summary.textContent = "Drift unknown: " + (drift.error ? drift.error.message + " " + drift.error.hint : "error");
        panel.dataset.drift = "error";
        return;
      }
      panel.dataset.drift = String(drift.differences.length);
      // env.py's target_metadata was empty: the comparison used the models found by scanning; say so.
      var note = drift.fallback ? " (" + drift.fallback.message + ")" : "";
      if (!drift.differences.length) {
        summary.textContent = "No drift: the database matches the models." + note;
        summary.className = "ok";
        return;
      }
      summary.textContent = drift.differences.length + " difference(s) between the models and the database" + note + ":";
      drift.differences.slice(0, 12).forEach(function (d) {
        var li = document.createElement("li");
        li.className = "finding finding-" + (d.kind.indexOf("remove") === 0 ? "danger" : "warning");
        var kind = document.createElement("span");
        kind.className = "sev";
        kind.textContent = d.kind;
        li.append(kind, " " + d.detail);
        list.appendChild(li);
      });
      list.hidden = false;
    })
    .catch(function () { summary.textContent = "Drift could not be computed; open the drift page for details."; });
})();
