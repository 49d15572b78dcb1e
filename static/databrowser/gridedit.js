/* Data grid: keyboard (a roving cell focus), inline editing through the row API (with the row's
   version as If-Match: a conflict shows both values and lets the user choose; a click outside the
   editor saves a changed value the same way) and the row side panel (?row=<pk> in the URL). A saved
   cell is put back as the server renders it (the API's ?cells=true), never by rules of its own here.
   The grid works without it: the key cell links to the row page. */
(function () {
  "use strict";
  var grid = document.getElementById("grid");
  if (!grid || !grid.tBodies[0] || !grid.tHead) return;
  var body = grid.tBodies[0], headRow = grid.tHead.rows[0];
  var readonly = grid.dataset.readonly || "";
  var api = grid.dataset.rowsApi, rowPage = grid.dataset.rowPage;
  var current = null, editing = null;

  function toast(message, kind) { if (window.pgadminToast) window.pgadminToast(message, kind); }
  function csrf() {
    var el = document.querySelector("[name=csrfmiddlewaretoken]");
    if (el) return el.value;
    var m = /(?:^|; )csrftoken=([^;]+)/.exec(document.cookie);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function typing(el) { return el && (/INPUT|TEXTAREA|SELECT/.test(el.tagName) || el.isContentEditable); }
  function rows() { return Array.prototype.filter.call(body.rows, function (tr) { return tr.cells.length > 0; }); }
  function headOf(td) { var th = headRow.cells[td.cellIndex]; return th && th.dataset.col ? th : null; }

  /* ---- keyboard: one focusable cell (roving tabindex) ---- */
  function setCurrent(td, focus) {
    if (current && current !== td) { current.tabIndex = -1; current.classList.remove("cell-current"); }
    current = td; td.tabIndex = 0; td.classList.add("cell-current");
    if (focus) td.focus();
  }
  rows().forEach(function (tr) { Array.prototype.forEach.call(tr.cells, function (td) { td.tabIndex = -1; }); });
  var first = rows()[0];
  if (first) setCurrent(first.querySelector("td:not(.rowlink)") || first.cells[0], false);

  function move(dRow, dCol) {
    if (!current) return;
    var all = rows(), r = all.indexOf(current.parentElement), c = current.cellIndex;
    var tr = all[Math.max(0, Math.min(all.length - 1, r + dRow))];
    if (!tr) return;
    setCurrent(tr.cells[Math.max(0, Math.min(tr.cells.length - 1, c + dCol))], true);
  }
  function toggleSelection(tr) {
    var box = tr.querySelector('input[name="pk"]');
    if (!box) { if (readonly) toast(readonly + " (rows cannot be selected).", "info"); return; }
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change", { bubbles: true }));
    tr.classList.toggle("selected", box.checked);
  }
  function page(id) { var link = document.getElementById(id); if (link) link.click(); }

  body.addEventListener("focusin", function (e) {
    var td = e.target.closest && e.target.closest("td");
    if (td && td.parentElement.parentElement === body && td !== current) setCurrent(td, false);
  });
  var afterG = 0;  // "g x" navigates (app.js): its second key is not a grid key
  document.addEventListener("keydown", function (e) {
    if (editing || e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    if (e.key === "g") { afterG = Date.now(); return; }
    if (Date.now() - afterG < 1200) { afterG = 0; return; }
    var inGrid = current && body.contains(document.activeElement);
    if (e.key === "PageDown" || e.key === "PageUp") { e.preventDefault(); page(e.key === "PageDown" ? "page-next" : "page-prev"); return; }
    if (e.key === "Escape" && panel && !panel.hidden) { e.preventDefault(); closePanel(); return; }
    if ((e.key === "j" || e.key === "k") && current) {
      e.preventDefault();
      if (!inGrid) setCurrent(current, true); else move(e.key === "j" ? 1 : -1, 0);
      return;
    }
    if (!inGrid) return;
    var td = current, onCell = document.activeElement === td;
    switch (e.key) {
      case "ArrowDown": e.preventDefault(); move(1, 0); break;
      case "ArrowUp": e.preventDefault(); move(-1, 0); break;
      case "ArrowRight": e.preventDefault(); move(0, 1); break;
      case "ArrowLeft": e.preventDefault(); move(0, -1); break;
      case " ": e.preventDefault(); toggleSelection(td.parentElement); break;
      case "o": e.preventDefault(); openPanel(td.parentElement.dataset.pk); break;
      case "Enter":
        if (!onCell) return;  // a focused link inside the cell follows itself
        e.preventDefault(); enter(td); break;
    }
  });

  /* Enter: edit when this user may change this column, else follow the cell's link, else say why not */
  function enter(td) {
    var th = headOf(td);
    if (!readonly && th && "editable" in th.dataset) { startEdit(td); return; }
    var link = td.querySelector("a[href]");
    if (link) { link.click(); return; }
    refuse(td, th);
  }
  function refuse(td, th) {
    var why = readonly || (th ? th.dataset.col + " cannot be changed here (a key or generated column)." : "");
    if (!why) return;
    td.title = why;
    toast(why, "info");
  }

  /* ---- inline editing ---- */
  var NUMBER = /^\s*[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?\s*$/;
  /* the row API; ``cells``: the answer carries each cell as the grid's own HTML (the FK link and all) */
  function rowUrl(pk, force, cells) {
    var q = [force ? "force=true" : "", cells ? "cells=true" : ""].filter(Boolean).join("&");
    return api + "/" + encodeURIComponent(pk) + (q ? "?" + q : "");
  }
  function shown(value) {  // the conflict box's plain text of a value (not a cell)
    if (value === null || value === undefined) return "NULL";
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  function widget(th, value) {
    var kind = th.dataset.kind, el;
    if (kind === "enum" || kind === "bool") {
      el = document.createElement("select");
      var options = kind === "bool" ? ["true", "false"] : JSON.parse(th.dataset.enum || "[]");
      options.forEach(function (o) { var opt = document.createElement("option"); opt.value = opt.textContent = o; el.append(opt); });
      el.value = value === null ? options[0] : String(value);
    } else if (kind === "json") {
      el = document.createElement("textarea");
      el.rows = 6; el.value = value === null ? "" : JSON.stringify(value, null, 2);
    } else {
      el = document.createElement("input");
      el.type = kind === "date" ? "date" : "text";
      if (kind === "int") el.inputMode = "numeric";
      if (kind === "numeric" || kind === "float") el.inputMode = "decimal";
      if (kind === "datetime") el.placeholder = "YYYY-MM-DD HH:MM:SS";
      if (kind === "time") el.placeholder = "HH:MM:SS";
      el.value = value === null ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
    }
    el.className = "cell-input";
    el.setAttribute("aria-label", "New value of " + th.dataset.col);
    if (th.dataset.fkLookup && el.tagName === "INPUT") fkSuggestions(el, th.dataset.fkLookup);
    return el;
  }

  /* an FK cell suggests the referenced rows (value — label) as you type, through the form picker's
     lookup (data.js's pgadminFkLookup: a newer search cancels the one still on its way) */
  var listSeq = 0;
  function fkSuggestions(input, url) {
    if (!window.pgadminFkLookup) return;  // no suggestions: a plain text input still works
    var list = document.createElement("datalist"), timer = null, lookup = window.pgadminFkLookup(url);
    list.id = "cell-fk-list-" + (++listSeq);
    input.setAttribute("list", list.id);
    input.fkList = list;  // openEditor puts it beside the input
    input.fkStop = function () { clearTimeout(timer); lookup.cancel(); };  // the editor closed
    function load() {
      lookup.search(input.value).then(function (data) {
        if (!data) return;  // a newer search is on its way
        list.textContent = "";
        data.items.forEach(function (item) {
          var o = document.createElement("option");
          o.value = item.value; o.label = item.label !== item.value ? item.label : "";
          list.append(o);
        });
      }).catch(function () { /* no suggestions: a plain text input still works */ });
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(load, 200); });
    timer = setTimeout(load, 0);
  }

  function startEdit(td) {
    var tr = td.parentElement, th = headOf(td), pk = tr.dataset.pk;
    if (!pk || !th || editing) return;
    var name = th.dataset.col, kind = th.dataset.kind;
    editing = { td: td, tr: tr, name: name, kind: kind, html: td.innerHTML };
    td.classList.add("editing");
    // the stored value, not the grid's cut or formatted text; the version stays the grid's (If-Match)
    fetch(rowUrl(pk), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw j; return j; }); })
      .then(function (data) { if (editing && editing.td === td) openEditor(td, th, data.row[name]); })
      .catch(function (err) { cancel(); toast(errorText(err), "error"); });
  }

  function openEditor(td, th, value) {
    var box = document.createElement("div");
    box.className = "cell-editor";
    var input = widget(th, value);
    box.append(input);
    if (input.fkList) box.append(input.fkList);
    var nullBox = null;
    if ("nullable" in th.dataset) {
      var label = document.createElement("label");
      label.className = "cell-null";
      nullBox = document.createElement("input");
      nullBox.type = "checkbox"; nullBox.checked = value === null;
      label.append(nullBox, " NULL");
      box.append(label);
      input.disabled = nullBox.checked;
      nullBox.addEventListener("change", function () { input.disabled = nullBox.checked; if (!nullBox.checked) input.focus(); });
    }
    var note = document.createElement("div");
    note.className = "cell-error"; note.setAttribute("role", "alert"); note.hidden = true;
    var help = document.createElement("div");
    help.className = "cell-help muted"; help.textContent = "Enter, Tab or a click elsewhere saves · Esc cancels" + (th.dataset.kind === "json" ? " · Ctrl+Enter in JSON" : "");
    box.append(note, help);
    td.textContent = "";
    td.append(box);
    editing.input = input; editing.nullBox = nullBox; editing.note = note; editing.box = box;
    editing.opened = snapshot();  // a click outside saves only a change
    if (th.dataset.kind === "int" || th.dataset.kind === "numeric" || th.dataset.kind === "float") {
      // refuse letters visibly: the text stays as typed (never silently altered), marked invalid
      input.addEventListener("input", function () {
        var bad = input.value.trim() !== "" && !NUMBER.test(input.value);
        input.setAttribute("aria-invalid", bad ? "true" : "false");
        say(bad ? "“" + input.value + "” is not a number." : "", bad ? "Use digits, an optional sign and one decimal point." : "");
      });
    }
    box.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); cancel(); }
      else if (e.key === "Tab" && e.target === input && !e.ctrlKey && !e.metaKey && !e.altKey) {
        // as in a spreadsheet: Tab saves (or closes an unchanged cell) and moves to the next cell, Shift+Tab back
        e.preventDefault(); e.stopPropagation();
        var step = e.shiftKey ? -1 : 1;
        if (snapshot() === editing.opened) { cancel(); move(0, step); return; }
        editing.then = function () { move(0, step); };
        save(false);
      }
      else if (e.key === "Enter" && (e.target.tagName !== "TEXTAREA" || e.ctrlKey || e.metaKey)) {
        if (e.target.tagName === "BUTTON") return;
        e.preventDefault(); e.stopPropagation(); editing.then = null; save(false);
      }
    });
    input.focus();
    if (input.select) input.select();
  }

  function snapshot() {
    var ed = editing;
    return (ed.nullBox && ed.nullBox.checked ? "1" : "0") + ed.input.value;
  }
  function say(message, hint) {
    if (!editing || !editing.note) return;
    editing.note.textContent = message + (hint ? " " + hint : "");
    editing.note.hidden = !message;
  }
  function errorText(err) {
    var e = err && err.error ? err.error : err;
    if (!e || !e.message) return "The cell was not saved.";
    var msg = String(e.message).trim();
    if (!/[.!?]$/.test(msg)) msg += ".";
    return msg + (e.hint ? " " + e.hint : "");
  }

  function read() {
    var ed = editing;
    if (ed.nullBox && ed.nullBox.checked) return { value: null };
    var raw = ed.input.value;
    if (ed.kind === "json") {
      if (raw.trim() === "") return { value: null };
      try { return { value: JSON.parse(raw) }; } catch (x) { return { error: "This is not valid JSON: " + x.message + "." }; }
    }
    if (ed.kind === "int" || ed.kind === "numeric" || ed.kind === "float") {
      if (raw.trim() !== "" && !NUMBER.test(raw)) return { error: "“" + raw + "” is not a number. Use digits, an optional sign and one decimal point." };
      return { value: raw.trim().replace(",", ".") };
    }
    if (ed.kind === "bool") return { value: raw === "true" };
    return { value: raw };
  }

  /* ``outside``: a click outside the editor asked for this save (see below) */
  function save(force, outside) {
    var ed = editing;
    if (!ed || !ed.input || ed.saving) return;
    ed.outside = !!outside;
    if (!outside) ed.follow = null;
    if (outside) ed.then = null;  // a click elsewhere decides where the focus goes
    var got = read();
    if (got.error) { failed(); say(got.error, ""); ed.input.focus(); return; }
    var payload = {}; payload[ed.name] = got.value;
    var headers = { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() };
    if (!force) headers["If-Match"] = '"' + ed.tr.dataset.version + '"';
    ed.saving = true; ed.box.classList.add("saving");
    fetch(rowUrl(ed.tr.dataset.pk, force, true), { method: "PUT", credentials: "same-origin", headers: headers, body: JSON.stringify(payload) })
      .then(function (r) { return r.json().catch(function () { return {}; }).then(function (j) { return { status: r.status, ok: r.ok, body: j }; }); })
      .then(function (res) {
        ed.saving = false; ed.box.classList.remove("saving");
        if (res.ok) { done(res.body.cells[ed.name], res.body.version); return; }
        failed();
        var err = res.body.error || {};
        if ((res.status === 409 || res.status === 412) && err.detail && err.detail.current) { conflict(got.value, err.detail); return; }
        say(errorText(res.body), "");
        ed.input.focus();
      })
      .catch(function () {
        ed.saving = false; ed.box.classList.remove("saving"); failed();
        say("The server did not answer; nothing was saved.", "Try again.");
      });
  }

  /* someone changed the row since the page loaded: both values, and the choice */
  function conflict(mine, detail) {
    var ed = editing, theirs = detail.current[ed.name];
    ed.box.querySelectorAll(".cell-conflict").forEach(function (old) { old.remove(); });  // a second try: one box
    var box = document.createElement("div");
    box.className = "cell-conflict"; box.setAttribute("role", "alert");
    var p = document.createElement("p");
    p.textContent = "Someone else changed this row since you loaded the page.";
    var dl = document.createElement("dl");
    [["Yours", mine], ["Theirs", theirs]].forEach(function (pair) {
      var dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = pair[0]; dd.textContent = shown(pair[1]); dd.className = "conflict-" + pair[0].toLowerCase();
      dl.append(dt, dd);
    });
    var keep = document.createElement("button"), take = document.createElement("button");
    keep.type = take.type = "button";
    keep.className = "btn btn-primary small"; keep.textContent = "Overwrite with mine"; keep.id = "conflict-mine";
    take.className = "btn small"; take.textContent = "Take theirs"; take.id = "conflict-theirs";
    keep.addEventListener("click", function () { box.remove(); save(true); });
    take.addEventListener("click", function () { takeTheirs(); });
    box.append(p, dl, keep, take);
    ed.note.hidden = true;
    ed.box.append(box);
    keep.focus();
  }

  /* their value stays: the row read again, its cell as the server renders it, its version for the next save */
  function takeTheirs() {
    var ed = editing;
    ed.saving = true; ed.box.classList.add("saving");
    fetch(rowUrl(ed.tr.dataset.pk, false, true), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw j; return j; }); })
      .then(function (data) { ed.saving = false; done(data.cells[ed.name], data.version); })
      .catch(function (err) { ed.saving = false; ed.box.classList.remove("saving"); say(errorText(err), ""); });
  }

  function closeEditor(ed, focus) {
    editing = null;
    if (ed.input && ed.input.fkStop) ed.input.fkStop();
    ed.td.classList.remove("editing");
    // a click elsewhere moved on: the focus (and the current cell) follow that click, not this cell
    if (focus) setCurrent(ed.td, true);
  }
  function done(html, version) {
    var ed = editing;
    if (version !== undefined && version !== null) ed.tr.dataset.version = version;
    var follow = ed.follow && ed.follow.swallowed && !ed.follow.failed ? ed.follow.el : null;
    closeEditor(ed, !ed.outside);
    ed.td.innerHTML = html;  // the server's own markup of the saved value (escaped by its renderer)
    ed.td.classList.add("cell-saved");
    setTimeout(function () { ed.td.classList.remove("cell-saved"); }, 1500);
    if (follow) follow.click();  // the link or button whose click saved this: on now that it is saved
    else if (ed.then && !ed.outside) ed.then();  // Tab: on to the next cell once this one is saved
  }
  function cancel(focus) {
    var ed = editing;
    if (!ed) return;
    closeEditor(ed, focus !== false);
    ed.td.innerHTML = ed.html;  // the server's own markup, as it was
  }

  /* a click outside the open editor: an unchanged value just closes it; a changed one saves as Enter
     does (a bad value or a conflict keeps the editor open with its message). A link or button clicked
     while that save is on its way waits for it, and is followed once the cell is saved. */
  function failed() {  // the editor stays open with its message; the click that asked for the save is not followed
    if (!editing) return;
    editing.outside = false;
    if (editing.follow) editing.follow.failed = true;
  }
  var wrap = document.getElementById("grid-wrap");
  document.addEventListener("pointerdown", function (e) {
    var ed = editing;
    if (!ed || !ed.box || ed.td.contains(e.target) || e.button > 0) return;
    if (e.target === wrap || e.target === document.documentElement) return;  // a scrollbar: still editing
    if (ed.saving || ed.box.querySelector(".cell-conflict")) return;  // a save on its way, or a choice to make
    if (snapshot() === ed.opened) { cancel(false); return; }
    var target = e.target.closest && e.target.closest("a[href], button, input[type=submit], summary");
    ed.follow = target ? { el: target, swallowed: false, failed: false } : null;
    save(false, true);
  }, true);
  document.addEventListener("click", function (e) {
    var ed = editing;
    if (!ed || !ed.follow || !ed.follow.el.contains(e.target)) return;
    e.preventDefault(); e.stopPropagation();
    ed.follow.swallowed = true;
  }, true);

  body.addEventListener("dblclick", function (e) {
    var td = e.target.closest("td");
    if (!td || editing || e.target.closest("a, input, button, select, textarea")) return;
    clearTimeout(clickTimer);
    var th = headOf(td);
    if (!readonly && th && "editable" in th.dataset) startEdit(td); else refuse(td, th);
  });

  /* ---- the row side panel ---- */
  var panel = document.getElementById("row-panel"), panelBody = document.getElementById("row-panel-body");
  var clickTimer = null, panelRow = null;
  function setRowParam(pk) {
    var url = new URL(location.href);
    if (pk) url.searchParams.set("row", pk); else url.searchParams.delete("row");
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  }
  function openPanel(pk) {
    if (!panel || !pk) return;
    var tr = rows().filter(function (r) { return r.dataset.pk === pk; })[0];
    if (panelRow) panelRow.classList.remove("panel-row");
    panelRow = tr || null;
    if (tr) tr.classList.add("panel-row");
    panelBody.textContent = "Loading…";
    panel.hidden = false;
    document.body.classList.add("has-row-panel");
    setRowParam(pk);
    fetch(rowPage.replace("__pk__", encodeURIComponent(pk)) + "?panel=1", { credentials: "same-origin" })
      .then(function (r) { return r.text().then(function (t) { if (!r.ok) throw new Error("HTTP " + r.status); return t; }); })
      .then(function (html) {
        panelBody.innerHTML = html;  // our own server's fragment, escaped by its templates
        panelBody.querySelectorAll(".json-view[data-json]").forEach(jsonViewer);
        panel.focus();
      })
      .catch(function (err) { panelBody.textContent = "This row could not be loaded (" + err.message + "). It may have been deleted."; });
  }
  function closePanel() {
    if (!panel || panel.hidden) return;
    panel.hidden = true;
    document.body.classList.remove("has-row-panel");
    if (panelRow) panelRow.classList.remove("panel-row");
    setRowParam(null);
    if (current) current.focus();
  }
  if (panel) {
    document.getElementById("row-panel-close").addEventListener("click", closePanel);
    panel.addEventListener("keydown", function (e) { if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); closePanel(); } });
    body.addEventListener("click", function (e) {
      var tr = e.target.closest("tr");
      if (!tr || !tr.dataset.pk || editing || e.target.closest("a, input, button, select, textarea, label, td.rowlink")) return;
      clearTimeout(clickTimer);  // wait: a double-click edits instead
      clickTimer = setTimeout(function () { openPanel(tr.dataset.pk); }, 250);
    });
    var wanted = new URL(location.href).searchParams.get("row");
    if (wanted) openPanel(wanted);
  }

  /* JSON: pretty, collapsible (each object and array a <details>), with a copy button */
  function jsonNode(value, key) {
    var wrap;
    if (value !== null && typeof value === "object") {
      var isArray = Array.isArray(value), keys = Object.keys(value);
      wrap = document.createElement("details"); wrap.open = true;
      var summary = document.createElement("summary");
      summary.textContent = (key !== undefined ? key + ": " : "") + (isArray ? "[" + keys.length + "]" : "{" + keys.length + "}");
      wrap.append(summary);
      keys.forEach(function (k) { wrap.append(jsonNode(value[k], isArray ? undefined : JSON.stringify(k))); });
    } else {
      wrap = document.createElement("div");
      var v = document.createElement("span");
      v.className = "json-" + (value === null ? "null" : typeof value);
      v.textContent = JSON.stringify(value);
      wrap.append(key !== undefined ? key + ": " : "", v);
    }
    wrap.classList.add("json-node");
    return wrap;
  }
  function jsonViewer(view) {
    var raw = view.dataset.json, parsed;
    try { parsed = JSON.parse(raw); } catch (x) { return; }
    var tools = document.createElement("div");
    tools.className = "json-tools";
    var copy = document.createElement("button"), fold = document.createElement("button");
    copy.type = fold.type = "button"; copy.className = fold.className = "btn btn-ghost small";
    copy.textContent = "Copy"; fold.textContent = "Collapse all";
    copy.addEventListener("click", function () {
      var ok = function () { copy.textContent = "Copied"; setTimeout(function () { copy.textContent = "Copy"; }, 1500); };
      if (navigator.clipboard) navigator.clipboard.writeText(raw).then(ok, function () { toast("Copy refused by the browser.", "error"); });
    });
    fold.addEventListener("click", function () {
      var open = fold.textContent === "Expand all";
      view.querySelectorAll("details").forEach(function (d) { d.open = open; });
      fold.textContent = open ? "Collapse all" : "Expand all";
    });
    tools.append(copy, fold);
    var tree = document.createElement("div");
    tree.className = "json-tree";
    tree.append(jsonNode(parsed));
    view.textContent = "";
    view.append(tools, tree);
  }
})();
