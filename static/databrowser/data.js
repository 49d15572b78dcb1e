/* Data browser comfort: table filter, FK pickers, export progress. Every page works without it. */
(function () {
  "use strict";

  /* /data: filter the table list as you type */
  var box = document.querySelector("[data-table-filter]");
  if (box) {
    box.addEventListener("input", function () {
      var q = box.value.trim().toLowerCase(), shown = 0;
      document.querySelectorAll("#tables tbody tr[data-name]").forEach(function (tr) {
        var hit = tr.dataset.name.toLowerCase().indexOf(q) >= 0;
        tr.hidden = !hit; if (hit) shown++;
      });
      var count = document.getElementById("table-count");
      if (count) count.textContent = shown + " shown";
    });
  }

  /* forms: searchable picker for foreign-key fields, backed by the referenced table's lookup */
  document.querySelectorAll("input[data-fk-lookup]").forEach(function (input) {
    var menu = document.createElement("div");
    menu.className = "fk-menu"; menu.hidden = true; menu.setAttribute("role", "listbox");
    var label = document.createElement("span");
    label.className = "fk-label";
    input.after(label); label.after(menu);
    var timer = null, seq = 0;

    function load(q, cursor, append) {
      var url = input.dataset.fkLookup + "&q=" + encodeURIComponent(q) + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
      var mine = ++seq;
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (mine !== seq || !data.items) return;
          if (!append) menu.textContent = "";
          data.items.forEach(function (item) {
            var b = document.createElement("button");
            b.type = "button"; b.setAttribute("role", "option"); b.dataset.value = item.value;
            b.textContent = item.value + (item.label !== item.value ? " — " + item.label : "");
            b.addEventListener("click", function () {
              input.value = item.value; label.textContent = item.label !== item.value ? "→ " + item.label : "";
              menu.hidden = true; input.dispatchEvent(new Event("change"));
            });
            menu.append(b);
          });
          var old = menu.querySelector(".fk-more"); if (old) old.remove();
          if (data.next_cursor) {
            var more = document.createElement("button");
            more.type = "button"; more.className = "fk-more muted"; more.textContent = "more…";
            more.addEventListener("click", function () { more.remove(); load(q, data.next_cursor, true); });
            menu.append(more);
          }
          if (!data.items.length && !append) menu.textContent = "No match.";
          menu.hidden = false;
        })
        .catch(function () { menu.hidden = true; });
    }
    input.addEventListener("focus", function () { load(input.value, null, false); });
    input.addEventListener("input", function () {
      label.textContent = "";
      clearTimeout(timer); timer = setTimeout(function () { load(input.value, null, false); }, 200);
    });
    document.addEventListener("click", function (e) {
      if (e.target !== input && !menu.contains(e.target)) menu.hidden = true;
    });
  });

  /* exports: fetch the stream, count rows as they arrive against the grid's total (exact or
     estimated), then hand the file over as a download. Without fetch streams the link downloads. */
  var exportBox = document.getElementById("export-box");
  var bar = document.getElementById("export-progress"), status = document.getElementById("export-status");
  var busy = false;
  function filenameOf(response, fallback) {
    var m = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    return m ? m[1] : fallback;
  }
  function secs(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    return s < 60 ? s + " s" : Math.floor(s / 60) + " min " + ("0" + (s % 60)).slice(-2) + " s";
  }
  function say(text, percent) {
    status.textContent = text;
    if (percent === null) bar.removeAttribute("value"); else bar.value = percent;
  }
  document.querySelectorAll("[data-export]").forEach(function (a) {
    a.addEventListener("click", function (e) {
      if (!exportBox || !window.fetch || !window.ReadableStream || !window.URL || !URL.createObjectURL) return;
      e.preventDefault();
      if (busy) return;
      busy = true;
      var total = parseInt(a.dataset.total || "", 10), rows = 0, newlines = 0, chunks = [], parts = [], pending = 0;
      var csv = a.dataset.export === "csv", quoted = false, approx = "exact" in a.dataset ? "" : "≈";
      exportBox.hidden = false; exportBox.dataset.state = "running";
      var started = Date.now();
      say("Export started…" + (a.dataset.eta ? " (usually about " + a.dataset.eta + " for this many rows)" : ""),
          isFinite(total) && total > 0 ? 0 : null);
      fetch(a.href, { credentials: "same-origin" }).then(function (response) {
        if (!response.ok) {
          return response.json().catch(function () { return {}; }).then(function (body) {
            throw new Error(body.error ? body.error.message + (body.error.hint ? " " + body.error.hint : "") : "HTTP " + response.status);
          });
        }
        var reader = response.body.getReader();
        function pump() {
          return reader.read().then(function (step) {
            if (step.done) return;
            chunks.push(step.value); pending += step.value.length;
            // fold into a Blob every 16 MB: the browser may keep big blobs on disk, JS arrays it cannot
            if (pending > 16777216) { parts.push(new Blob(chunks)); chunks = []; pending = 0; }
            // a newline inside a quoted CSV field is not a row end ("" escapes keep the parity)
            for (var i = 0, b; i < step.value.length; i++) {
              b = step.value[i];
              if (b === 34 && csv) quoted = !quoted; else if (b === 10 && !quoted) newlines++;
            }
            rows = Math.max(0, newlines - 1);  // CSV: the header line; JSON: the opening "["
            // the time so far, and the time left at the pace so far (once there is a pace to go by)
            var elapsed = Date.now() - started, clock = " · " + secs(elapsed) + " so far";
            if (isFinite(total) && total > 0) {
              var share = Math.min(0.99, rows / total);
              if (share >= 0.02 && elapsed >= 1000) clock += ", about " + secs(elapsed / share - elapsed) + " left";
              say(rows.toLocaleString() + " of " + approx + total.toLocaleString() + " rows (" + Math.floor(100 * share) + " %)" + clock,
                  Math.floor(100 * share));
            } else {
              say(rows.toLocaleString() + " rows" + clock, null);
            }
            return pump();
          });
        }
        return pump().then(function () {
          if (a.dataset.export === "json") rows = Math.max(0, newlines - 2);  // the closing "]" line
          var blob = new Blob(parts.concat(chunks), { type: response.headers.get("Content-Type") || "application/octet-stream" });
          var link = document.createElement("a");
          link.href = URL.createObjectURL(blob);
          link.download = filenameOf(response, "export." + a.dataset.export);
          document.body.append(link); link.click(); link.remove();
          setTimeout(function () { URL.revokeObjectURL(link.href); }, 60000);
          bar.value = 100; exportBox.dataset.state = "done";
          say("done: " + rows.toLocaleString() + " rows (100 %) in " + secs(Date.now() - started), 100);
        });
      }).catch(function (err) {
        exportBox.dataset.state = "failed"; say("Export failed: " + err.message, 0);
        if (window.pgadminToast) window.pgadminToast("Export failed: " + err.message, "error");
      }).then(function () { busy = false; });
    });
  });
})();

/* grid filter form: offer the conditions that fit the chosen column's type */
(function () {
  "use strict";
  var col = document.getElementById("add-col"), op = document.getElementById("add-op"), val = document.getElementById("add-val");
  if (!col || !op) return;
  var byKind = {
    text: ["contains", "eq", "starts", "null"], enum: ["eq", "contains", "null"], bool: ["bool", "null"],
    json: ["json", "contains", "null"], int: ["eq", "gte", "lte", "null"], numeric: ["eq", "gte", "lte", "null"],
    float: ["eq", "gte", "lte", "null"], date: ["eq", "gte", "lte", "null"], datetime: ["gte", "lte", "eq", "null"],
    time: ["eq", "gte", "lte", "null"], interval: ["eq", "gte", "lte", "null"]
  };
  var hints = { json: "key=value", bool: "true / false", null: "1 = is null, 0 = not null", date: "YYYY-MM-DD",
                datetime: "YYYY-MM-DD HH:MM" };
  function refresh() {
    var kind = col.options[col.selectedIndex].dataset.kind;
    var allowed = byKind[kind] || ["eq", "contains", "null"];
    var firstAllowed = null;
    Array.prototype.forEach.call(op.options, function (o) {
      var ok = allowed.indexOf(o.value) >= 0;
      o.hidden = !ok; o.disabled = !ok;
      if (ok && firstAllowed === null) firstAllowed = o.value;
    });
    if (op.selectedOptions[0] && op.selectedOptions[0].disabled) op.value = allowed[0] || firstAllowed;
    if (val) val.placeholder = hints[op.value] || hints[kind] || "";
  }
  col.addEventListener("change", refresh);
  op.addEventListener("change", refresh);
  refresh();
})();

/* grid: n / p for the next and previous page (outside text fields) */
(function () {
  "use strict";
  if (!document.getElementById("grid")) return;
  document.addEventListener("keydown", function (e) {
    var tag = (e.target && e.target.tagName) || "";
    if (/INPUT|TEXTAREA|SELECT/.test(tag) || e.ctrlKey || e.metaKey || e.altKey) return;
    var target = e.key === "n" ? "page-next" : e.key === "p" ? "page-prev" : null;
    var link = target && document.getElementById(target);
    if (link) { e.preventDefault(); link.click(); }
  });
})();
