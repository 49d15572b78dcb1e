/* Data browser comfort: table filter, FK pickers, export progress. Every page works without it. */

/* The FK lookup shared by the form's picker (below) and the grid's inline editor (gridedit.js):
   ``pgadminFkLookup(url)`` (the field's data-fk-lookup) gives ``search(q, cursor)``, a promise of
   ``{items: [{value, label}], next: <cursor of "more…" or null>}``, or of null when a newer search of
   the same field went out since (the older one is aborted: its answer must not replace the newer
   one's), and ``cancel()`` for a field whose value was just picked or whose editor closed. */
window.pgadminFkLookup = function (url) {
  "use strict";
  var seq = 0, running = null;
  function cancel() {
    seq++;
    if (running) running.abort();
    running = null;
  }
  function search(q, cursor) {
    cancel();
    var mine = seq, ctl = window.AbortController ? new AbortController() : null;
    running = ctl;
    var full = url + "&q=" + encodeURIComponent(q || "") + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
    return fetch(full, { headers: { Accept: "application/json" }, credentials: "same-origin", signal: ctl ? ctl.signal : undefined })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (data) {
        if (mine !== seq) return null;
        running = null;
        return { items: data.items || [], next: data.next_cursor || null };
      }, function (err) {
        if (mine !== seq) return null;  // aborted by a newer search: not a failure
        running = null;
        throw err;
      });
  }
  return { search: search, cancel: cancel };
};

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
    var timer = null, lookup = window.pgadminFkLookup(input.dataset.fkLookup);

    function load(q, cursor, append) {
      lookup.search(q, cursor)
        .then(function (data) {
          if (!data) return;  // a newer search is on its way
          if (!append) menu.textContent = "";
          data.items.forEach(function (item) {
            var b = document.createElement("button");
            b.type = "button"; b.setAttribute("role", "option"); b.dataset.value = item.value;
            b.textContent = item.value + (item.label !== item.value ? " — " + item.label : "");
            b.addEventListener("click", function () {
              input.value = item.value; label.textContent = item.label !== item.value ? "→ " + item.label : "";
              // a search still on its way (typing then picking fast) must not reopen the menu over the next field
              clearTimeout(timer); lookup.cancel();
              menu.hidden = true; input.dispatchEvent(new Event("change"));
            });
            menu.append(b);
          });
          var old = menu.querySelector(".fk-more"); if (old) old.remove();
          if (data.next) {
            var more = document.createElement("button");
            more.type = "button"; more.className = "fk-more muted"; more.textContent = "more…";
            more.addEventListener("click", function () { more.remove(); load(q, data.next, true); });
            menu.append(more);
          }
          if (!data.items.length && !append) menu.textContent = "No match.";
          // under the input, aligned with its left edge (the label sits between them in the flow)
          menu.style.left = input.offsetLeft + "px";
          menu.style.top = (input.offsetTop + input.offsetHeight + 2) + "px";
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

/* grid comfort: density toggle (a cookie, so the server renders the next page the same way),
   the grid box ends at the viewport's bottom (one scroll), "Delete selected…" waits for a selection */
(function () {
  "use strict";
  var wrap = document.getElementById("grid-wrap");
  if (!wrap) return;

  function fit() {
    var below = 16;  // the page's bottom margin
    var top = wrap.getBoundingClientRect().top + window.scrollY;
    var height = Math.max(240, window.innerHeight - top - below);
    wrap.style.maxHeight = height + "px";
    // whatever sits below the grid (the page's padding, a note) must not make the page scroll too
    var over = document.scrollingElement.scrollHeight - window.innerHeight;
    if (over > 0 && height - over >= 240) wrap.style.maxHeight = (height - over) + "px";
    var box = wrap.querySelector("td.rowlink");  // the sticky key column starts where the boxes end
    if (box) wrap.style.setProperty("--box-w", box.getBoundingClientRect().width + "px");
  }
  fit();
  window.addEventListener("resize", fit);

  var toggle = document.getElementById("density-toggle");
  if (toggle) {
    toggle.addEventListener("click", function () {
      var next = toggle.dataset.density === "comfortable" ? "compact" : "comfortable";
      toggle.dataset.density = next;
      toggle.setAttribute("aria-pressed", next === "comfortable" ? "true" : "false");
      toggle.lastChild.textContent = next === "comfortable" ? " Comfortable" : " Compact";
      wrap.classList.remove("density-compact", "density-comfortable");
      wrap.classList.add("density-" + next);
      document.cookie = "grid_density=" + next + "; path=/; max-age=31536000; SameSite=Lax";
      fit();
    });
  }

  var needs = document.querySelectorAll("[data-needs-selection]");
  function selection() {
    var n = document.querySelectorAll('#grid input[name="pk"]:checked').length;
    needs.forEach(function (button) {
      button.disabled = n === 0;
      button.title = n === 0 ? "Tick rows first" : n + " row" + (n === 1 ? "" : "s") + " selected";
    });
  }
  if (needs.length) {
    document.getElementById("grid").addEventListener("change", selection);
    selection();
  }
})();

/* grid columns: drag a header to move it, drag its right edge to resize it; the columns menu's
   arrows move without a reload (the menu is a form that works without this). Saved per user and
   table through /api/tables/<table>/columns; the server renders the saved layout. */
(function () {
  "use strict";
  var grid = document.getElementById("grid"), form = document.getElementById("col-form");
  if (!grid || !form || !form.dataset.api) return;
  var csrf = form.querySelector("[name=csrfmiddlewaretoken]");
  var list = form.querySelector(".col-list");
  var headRow = grid.tHead.rows[0];
  var lead = headRow.querySelector("th.rowlink-head") ? 1 : 0;  // the selection column (editors only)

  function save(body) {
    return fetch(form.dataset.api, {
      method: "PUT", credentials: "same-origin", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf ? csrf.value : "" }
    }).then(function (r) {
      if (!r.ok) return r.json().catch(function () { return {}; }).then(function (j) {
        throw new Error((j.error && j.error.message) || ("HTTP " + r.status));
      });
      grid.dataset.saved = String(Date.now());
      return r.json();
    }).catch(function (err) {
      if (window.pgadminToast) window.pgadminToast("Columns not saved: " + err.message, "error");
    });
  }
  function heads() { return Array.prototype.slice.call(headRow.querySelectorAll("th[data-col]")); }
  function fullOrder() {
    return Array.prototype.map.call(list.querySelectorAll("li[data-col]"), function (li) { return li.dataset.col; });
  }
  function refreshArrows() {
    var items = list.querySelectorAll("li[data-col]");
    items.forEach(function (li, i) {
      li.querySelector("[value$=':left']").disabled = i === 0;
      li.querySelector("[value$=':right']").disabled = i === items.length - 1;
    });
  }
  /* lay the menu and the grid (header and every row) out in ``order`` (hidden names are skipped) */
  function apply(order) {
    var byName = {};
    list.querySelectorAll("li[data-col]").forEach(function (li) { byName[li.dataset.col] = li; });
    order.forEach(function (name) { list.append(byName[name]); });
    refreshArrows();
    var now = heads().map(function (th) { return th.dataset.col; });
    var wanted = order.filter(function (n) { return now.indexOf(n) >= 0; });
    var index = wanted.map(function (n) { return now.indexOf(n) + lead; });
    Array.prototype.forEach.call(grid.rows, function (tr) {
      var cells = Array.prototype.slice.call(tr.children);
      if (cells.length !== now.length + lead) return;
      index.forEach(function (i) { tr.append(cells[i]); });
    });
  }
  function moveBefore(name, before) {
    var order = fullOrder().filter(function (n) { return n !== name; });
    var at = before === null ? order.length : order.indexOf(before);
    order.splice(at < 0 ? order.length : at, 0, name);
    apply(order);
    return save({ order: order });
  }

  /* the menu's arrows: swap with the neighbour in the full order (as the server does), keep the focus */
  form.addEventListener("submit", function (e) {
    var by = e.submitter;
    if (!by || by.name !== "move") return;
    e.preventDefault();
    var parts = by.value.split(":"), way = parts.pop(), name = parts.join(":");
    var order = fullOrder(), i = order.indexOf(name), j = way === "left" ? i - 1 : i + 1;
    if (i < 0 || j < 0 || j >= order.length) return;
    order[i] = order[j]; order[j] = name;
    apply(order);
    var again = list.querySelector("li[data-col='" + CSS.escape(name) + "'] [value$=':" + way + "']");
    (again && !again.disabled ? again : list.querySelector("li[data-col='" + CSS.escape(name) + "'] input")).focus();
    var status = document.getElementById("col-status");
    if (status) status.textContent = name + " moved " + way + ".";
    save({ order: order });
  });
  /* ticking a column shows or hides it: the server renders it (hidden cells are not sent) */
  var menu = document.getElementById("col-menu");
  var reopen = (sessionStorage.getItem("pgadmin-col-menu") || "").split("\n");
  if (reopen[0] === location.pathname) {  // back from a show/hide: the menu open, the focus on that box
    sessionStorage.removeItem("pgadmin-col-menu");
    menu.open = true;
    var box = form.querySelector("input[name=show][value='" + CSS.escape(reopen[1] || "") + "']");
    if (box) box.focus();
  }
  form.addEventListener("change", function (e) {
    if (e.target.name !== "show") return;
    sessionStorage.setItem("pgadmin-col-menu", location.pathname + "\n" + e.target.value);
    form.requestSubmit(document.getElementById("col-apply"));
  });

  /* drag a header onto another: it lands before it (or after it, on its right half) */
  var dragged = null;
  function clearMarks() { heads().forEach(function (th) { th.classList.remove("drop-before", "drop-after"); }); }
  heads().forEach(function (th) {
    th.draggable = true;
    th.addEventListener("dragstart", function (e) {
      dragged = th.dataset.col; th.classList.add("dragging");
      e.dataTransfer.effectAllowed = "move";
      e.dataTransfer.setData("text/plain", dragged);
    });
    th.addEventListener("dragend", function () { dragged = null; th.classList.remove("dragging"); clearMarks(); });
    th.addEventListener("dragover", function (e) {
      if (!dragged || dragged === th.dataset.col) return;
      e.preventDefault();
      var box = th.getBoundingClientRect(), after = e.clientX > box.left + box.width / 2;
      clearMarks(); th.classList.add(after ? "drop-after" : "drop-before");
    });
    th.addEventListener("drop", function (e) {
      if (!dragged || dragged === th.dataset.col) return;
      e.preventDefault();
      var after = th.classList.contains("drop-after"), name = dragged;
      clearMarks();
      var order = heads().map(function (h) { return h.dataset.col; }).filter(function (n) { return n !== name; });
      var target = after ? order[order.indexOf(th.dataset.col) + 1] : th.dataset.col;
      var full = fullOrder();
      // after the last shown column: before the next column of the full order (maybe a hidden one)
      moveBefore(name, target !== undefined ? target : (full[full.indexOf(th.dataset.col) + 1] || null));
    });
  });

  /* drag a header's right edge to resize its column; a double-click gives the natural width back.
     By keyboard the edge is a focusable separator (after the header's sort link in the Tab order):
     ArrowLeft / ArrowRight narrow or widen the column by 10 px (Shift: 50 px), saved as a drag is,
     once the keys rest (one save for a held key, not one per step). */
  function setWidth(name, px) {
    var i = heads().map(function (th) { return th.dataset.col; }).indexOf(name) + lead;
    Array.prototype.forEach.call(grid.rows, function (tr) {
      var cell = tr.children[i];
      if (!cell) return;
      ["width", "minWidth", "maxWidth"].forEach(function (p) { cell.style[p] = px ? px + "px" : ""; });
    });
  }
  var STEP = 10, BIG_STEP = 50, MIN = 40, MAX = 2000;
  headRow.querySelectorAll(".col-resize").forEach(function (handle) {
    var th = handle.parentElement, name = th.dataset.col, pending = null;
    function now() { return Math.round(th.getBoundingClientRect().width); }
    function mark() {  // the separator's value: the column's width as shown now
      var px = now();
      handle.setAttribute("aria-valuenow", String(px));
      handle.setAttribute("aria-valuetext", px + " pixels");
    }
    handle.removeAttribute("aria-hidden");
    handle.setAttribute("role", "separator");
    handle.setAttribute("aria-orientation", "vertical");
    handle.setAttribute("aria-label", "Width of " + name);
    handle.setAttribute("aria-valuemin", String(MIN));
    handle.setAttribute("aria-valuemax", String(MAX));
    mark();
    handle.title = "Drag to resize (or focus it and press ← →); double-click for the natural width";
    handle.tabIndex = 0;
    handle.addEventListener("focus", mark);
    handle.addEventListener("keydown", function (e) {
      if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
      e.preventDefault(); e.stopPropagation();
      var step = (e.shiftKey ? BIG_STEP : STEP) * (e.key === "ArrowLeft" ? -1 : 1);
      var width = Math.max(MIN, Math.min(MAX, now() + step));
      setWidth(name, width);
      mark();
      clearTimeout(pending);
      pending = setTimeout(function () { var w = {}; w[name] = now(); save({ widths: w }); }, 400);
    });
    handle.addEventListener("mousedown", function (e) {
      e.preventDefault(); e.stopPropagation();
      th.draggable = false;
      var startX = e.clientX, start = th.getBoundingClientRect().width, width = start;
      function move(ev) { width = Math.max(40, Math.min(2000, Math.round(start + ev.clientX - startX))); setWidth(name, width); }
      function up() {
        window.removeEventListener("mousemove", move); window.removeEventListener("mouseup", up);
        th.draggable = true;
        mark();
        if (width !== start) { var w = {}; w[name] = width; save({ widths: w }); }
      }
      window.addEventListener("mousemove", move); window.addEventListener("mouseup", up);
    });
    handle.addEventListener("click", function (e) { e.preventDefault(); e.stopPropagation(); });
    handle.addEventListener("dblclick", function (e) {
      e.preventDefault(); setWidth(name, null); var w = {}; w[name] = null; save({ widths: w });
      mark();
    });
  });
})();
