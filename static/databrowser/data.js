/* Data browser comfort: table filter, FK pickers, export notice. Every page works without it. */
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

  /* exports stream: say that it started (the browser shows the download's progress) */
  document.querySelectorAll("[data-export]").forEach(function (a) {
    a.addEventListener("click", function () {
      var total = document.getElementById("row-total");
      if (window.pgadminToast) window.pgadminToast("Export started" + (total ? " (" + total.textContent.trim().split("\n")[0] + ")" : "") +
        ": the file streams to your downloads.", "info");
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
