/* SQL console: CodeMirror 6 editor, results grid, plan tree. Bundled by scripts/build_assets.mjs
   into static/build/sqlconsole.js. Without the bundle the page is a plain form that still works. */
import { EditorView, basicSetup } from "codemirror";
import { keymap, placeholder } from "@codemirror/view";
import { Compartment, Prec } from "@codemirror/state";
import { LanguageSupport } from "@codemirror/language";
import { PostgreSQL } from "@codemirror/lang-sql";
import { setDiagnostics } from "@codemirror/lint";
import { autocompletion, completionStatus } from "@codemirror/autocomplete";
import { chrome, darkFlag, highlight, isDark } from "./editor_theme.js";
import { indexCatalogue, makeCompletionSource, quoteIdent } from "./completion.js";
import { filterTree, renderTree } from "./tree.js";

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
};
const toast = (msg, kind) => (window.pgadminToast ? window.pgadminToast(msg, kind) : alert(msg));
const fmtMs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Number(ms).toFixed(1)} ms`);
const pct = (share) => `${(share * 100).toFixed(share >= 0.1 ? 0 : 1)}%`;

const form = $("#sql-form");
const textarea = $("#sql-input");
const results = $("#sql-results");
const statusBox = $("#sql-status");
const cancelBtn = $("#btn-cancel");
const config = JSON.parse($("#sql-config")?.textContent || "{}");
const csrf = () => form.querySelector("[name=csrfmiddlewaretoken]").value;

/* ---- the editor ---------------------------------------------------------------------- */
const mod = /Mac|iPhone|iPad/.test(navigator.platform || "") ? "⌘" : "Ctrl";
function placeholderText(example) {
  return [`-- Type SQL here, e.g. ${example}`,
    `-- ${mod}+Enter: run the statement at the cursor · ${mod}+Shift+Enter: run all`,
    `-- ${mod}+E: explain · ${mod}+Shift+E: explain analyze · ${mod}+Space: complete`].join("\n");
}
const placeholderSlot = new Compartment();
const darkSlot = new Compartment();
let catalogue = null; // indexCatalogue(GET /api/database/schema), once loaded
const editor = new EditorView({
  doc: textarea.value,
  extensions: [
    Prec.highest(keymap.of([
      { key: "Mod-Enter", run: () => (run({ all: false }), true) },
      { key: "Shift-Mod-Enter", run: () => (run({ all: true }), true) },
      { key: "Mod-e", run: () => (run({ all: false, explain: true }), true) },
      { key: "Shift-Mod-e", run: () => (run({ all: false, analyze: true }), true) },
    ])),
    basicSetup,
    // the PostgreSQL grammar only: completion comes from the catalogue (completion.js), not from
    // lang-sql's keyword list
    new LanguageSupport(PostgreSQL.language),
    autocompletion({ override: [makeCompletionSource(() => catalogue)], icons: true, maxRenderedOptions: 80 }),
    highlight,
    chrome,
    darkSlot.of(darkFlag(isDark())),
    placeholderSlot.of(placeholder(placeholderText("SELECT * FROM my_table LIMIT 100;"))),
    EditorView.lineWrapping,
    EditorView.contentAttributes.of({ "aria-label": "SQL editor" }),
    EditorView.updateListener.of((u) => { if (u.docChanged) textarea.value = u.state.doc.toString(); }),
  ],
});
textarea.hidden = true;
textarea.after(editor.dom);
/* The page's theme toggle flips data-theme on <html>: follow it (CodeMirror's light/dark variants). */
new MutationObserver(() => editor.dispatch({ effects: darkSlot.reconfigure(darkFlag(isDark())) }))
  .observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
/* Escape that closes the completion popup must not also reach the page's "Escape leaves the field". */
let escapeClosesPopup = false;
editor.dom.addEventListener("keydown", (e) => { escapeClosesPopup = e.key === "Escape" && !!completionStatus(editor.state); }, true);
editor.dom.addEventListener("keydown", (e) => { if (escapeClosesPopup) e.stopPropagation(); });
editor.dom.classList.add("sql-editor");

/* The grip under the editor: drag it (or focus it and press ↑/↓) to set the editor's height; from
   then on the height is the user's, beyond the 70%-of-the-window growth limit if they want. */
const grip = el("div", { class: "sql-grip", role: "separator", tabindex: 0, "aria-orientation": "horizontal",
  "aria-label": "Editor height", "aria-valuemin": 80, "aria-valuemax": 4000, title: "Drag to resize the editor (or ↑/↓)" });
editor.dom.after(grip);
function setEditorHeight(px) {
  const height = Math.round(Math.min(4000, Math.max(80, px)));
  editor.dom.style.height = `${height}px`;
  editor.dom.style.maxHeight = "none";
  grip.setAttribute("aria-valuenow", height);
  editor.requestMeasure();
}
grip.setAttribute("aria-valuenow", Math.round(editor.dom.getBoundingClientRect().height));
grip.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  const startY = event.clientY;
  const startHeight = editor.dom.getBoundingClientRect().height;
  const move = (e) => setEditorHeight(startHeight + e.clientY - startY);
  const up = () => { grip.removeEventListener("pointermove", move); grip.removeEventListener("pointerup", up); };
  grip.setPointerCapture(event.pointerId);
  grip.addEventListener("pointermove", move);
  grip.addEventListener("pointerup", up);
});
grip.addEventListener("keydown", (event) => {
  const step = { ArrowDown: 40, ArrowUp: -40 }[event.key];
  if (!step) return;
  event.preventDefault();
  setEditorHeight(editor.dom.getBoundingClientRect().height + step);
});
$("#btn-run-all").hidden = false;
$("#sql-keys").hidden = false;
editor.focus();
editor.dispatch({ selection: { anchor: editor.state.doc.length } });

/* Insert a name at the cursor (the schema tree), with a space before it when it would otherwise
   glue onto the previous word. */
function insertName(text) {
  const sel = editor.state.selection.main;
  const prev = sel.from > 0 ? editor.state.sliceDoc(sel.from - 1, sel.from) : "";
  const insert = /[\w$"]/.test(prev) ? ` ${text}` : text;
  editor.dispatch({ changes: { from: sel.from, to: sel.to, insert }, selection: { anchor: sel.from + insert.length },
    scrollIntoView: true });
  editor.focus();
}

const treeBox = $("#schema-tree");
async function loadCatalogue() {
  try {
    const response = await fetch("/api/database/schema", { credentials: "same-origin" });
    if (!response.ok) return;
    catalogue = indexCatalogue(await response.json());
  } catch (e) { return; } // the editor works without names
  // the example names a real table: the biggest of the first schema on the search path
  const tables = catalogue.path.length ? [...catalogue.bySchema.get(catalogue.path[0]).values()] : [];
  const first = tables.filter((t) => t.kind === "table").sort((a, b) => (b.rows || 0) - (a.rows || 0))[0] || tables[0];
  if (first) {
    editor.dispatch({ effects: placeholderSlot.reconfigure(
      placeholder(placeholderText(`SELECT * FROM ${quoteIdent(first.name)} LIMIT 100;`))) });
  }
  if (treeBox) {
    renderTree($("#tree-body"), catalogue, insertName);
    filterTree($("#tree-body"), $("#tree-filter").value);
    treeBox.hidden = false;
    treeBox.dataset.ready = "";
  }
}
loadCatalogue();
$("#tree-filter")?.addEventListener("input", (e) => filterTree($("#tree-body"), e.target.value));
$("#tree-refresh")?.addEventListener("click", () => loadCatalogue());
/* The tree panel folds away to give the editor the width (remembered in this browser). */
const layout = $(".sql-layout");
const treeToggle = $("#tree-toggle");
function showTree(open) {
  layout.classList.toggle("tree-closed", !open);
  treeToggle.setAttribute("aria-expanded", String(open));
  try { localStorage.setItem("sql-tree", open ? "open" : "closed"); } catch (e) { /* private mode */ }
}
if (treeToggle) {
  treeToggle.hidden = false;
  let saved = null;
  try { saved = localStorage.getItem("sql-tree"); } catch (e) { /* private mode */ }
  showTree(saved !== "closed");
  treeToggle.addEventListener("click", () => showTree(layout.classList.contains("tree-closed")));
}

/* ---- running --------------------------------------------------------------------------- */
let running = null; // {queryId, started, timer}

async function api(path, body) {
  const response = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), Accept: "application/json" },
    body: JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (e) { /* not JSON */ }
  if (!response.ok) {
    const err = (data && data.error) || { message: `HTTP ${response.status}` };
    throw Object.assign(new Error(err.message), { hint: err.hint || "", code: err.code, detail: err.detail || null });
  }
  return data;
}

function setRunning(on) {
  cancelBtn.hidden = !on;
  for (const id of ["#btn-run", "#btn-run-all", "#btn-explain", "#btn-analyze"]) $(id).disabled = on;
  if (on) {
    running.timer = setInterval(() => {
      statusBox.textContent = `Running… ${fmtMs(performance.now() - running.started)}`;
    }, 100);
  } else if (running) {
    clearInterval(running.timer);
    running = null;
  }
}

let lastRun = null; // what the last run sent: "Run again" repeats it when its held result is gone

async function run({ all = false, explain = false, analyze = false, again = null } = {}) {
  if (running) return;
  const state = editor.state;
  const sel = state.selection.main;
  let text = state.doc.toString();
  let base = 0;
  let at = null;
  if (again) ({ text, base, at, explain, analyze } = again);
  else if (!sel.empty) { text = state.sliceDoc(sel.from, sel.to); base = sel.from; }
  else if (!all) { at = sel.head; }
  if (!text.trim()) { toast("Type a query first.", "warning"); return; }
  lastRun = { text, base, at, explain, analyze };
  editor.dispatch(setDiagnostics(state, []));
  const queryId = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/[^A-Za-z0-9-]/g, "");
  running = { queryId, started: performance.now() };
  setRunning(true);
  statusBox.textContent = "Running…";
  try {
    const data = await api("/api/database/query", {
      sql: text, at, explain: explain || analyze, analyze, query_id: queryId, write: !!config.writeMode,
    });
    renderRun(data, base);
    statusBox.textContent = `${data.results.length} statement${data.results.length === 1 ? "" : "s"} · ${fmtMs(data.duration_ms)} · ${data.outcome}`;
  } catch (err) {
    results.replaceChildren(errorBox({ message: err.message, hint: err.hint }, { role: "alert", "data-refusal": err.code || "" }));
    // A read-mode refusal says where: mark the statement or call in the editor.
    const pos = err.detail && typeof err.detail.position === "number" ? err.detail.position : null;
    if (pos !== null) markError(base + pos, err.message);
    statusBox.textContent = err.code === "read_mode_refused" || err.code === "read_only" || err.code === "not_allowed"
      ? "Refused: nothing ran" : "Failed";
  } finally {
    setRunning(false);
    refreshHistory();
    refreshStats();
  }
}

cancelBtn.addEventListener("click", async () => {
  if (!running) return;
  statusBox.textContent = "Cancelling…";
  try { await api("/api/database/query/cancel", { query_id: running.queryId }); }
  catch (err) { toast(err.message, "error"); }
});

/* A closed tab cancels its query: the beacon carries the CSRF token as a form field. */
window.addEventListener("pagehide", () => {
  if (!running) return;
  const body = new FormData();
  body.append("query_id", running.queryId);
  body.append("csrfmiddlewaretoken", csrf());
  navigator.sendBeacon("/api/database/query/cancel", body);
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const action = event.submitter ? event.submitter.value : "run";
  const all = event.submitter && event.submitter.id === "btn-run-all";
  run({ all, explain: action === "explain", analyze: action === "analyze" });
});

/* ---- results ------------------------------------------------------------------------- */
function diagnosticAt(from, message) {
  from = Math.min(from, editor.state.doc.length);
  const line = editor.state.doc.lineAt(from);
  const word = /^[\w$."]+/.exec(editor.state.sliceDoc(from, line.to));
  const to = Math.min(Math.max(from + (word ? word[0].length : 1), from + 1), Math.max(line.to, from + 1));
  return { from, to: Math.min(to, editor.state.doc.length), severity: "error", message };
}

function markError(from, message) {
  const d = diagnosticAt(from, message);
  editor.dispatch(setDiagnostics(editor.state, [d]));
  editor.dispatch({ selection: { anchor: d.from }, scrollIntoView: true });
}

/* A script's results as tabs, one per statement (the first failed one open, else the last one),
   following the ARIA tabs pattern: ←/→ move between tabs, Home/End to the ends. */
function resultTabs(sections, data) {
  const failed = data.results.findIndex((r) => !["ok", "skipped"].includes(r.outcome));
  let open = failed >= 0 ? failed : data.results.length - 1;
  const tabs = data.results.map((r, i) => {
    const what = r.outcome === "ok" ? (r.command || "ok").replace(/\s+\d+\+?$/, "") : r.outcome;
    const rows = r.outcome === "ok" && r.row_count !== null && r.row_count !== undefined && r.columns && r.columns.length
      ? ` · ${r.row_count.toLocaleString()}` : "";
    return el("button", { type: "button", role: "tab", id: `sql-tab-${i}`, "aria-controls": `sql-panel-${i}`,
      class: `sql-tab sql-tab-${r.outcome}`, title: r.sql.length > 200 ? r.sql.slice(0, 199) + "…" : r.sql },
      el("span", { class: "sql-tab-n", text: String(i + 1) }), ` ${what}${rows}`);
  });
  const select = (i, focus = false) => {
    open = i;
    tabs.forEach((t, j) => { t.setAttribute("aria-selected", String(j === i)); t.tabIndex = j === i ? 0 : -1; });
    sections.forEach((s, j) => { s.hidden = j !== i; });
    if (focus) tabs[i].focus();
  };
  sections.forEach((s, i) => { s.id = `sql-panel-${i}`; s.setAttribute("role", "tabpanel"); s.setAttribute("aria-labelledby", `sql-tab-${i}`); });
  tabs.forEach((t, i) => {
    t.addEventListener("click", () => select(i));
    t.addEventListener("keydown", (e) => {
      const to = { ArrowRight: (open + 1) % tabs.length, ArrowLeft: (open - 1 + tabs.length) % tabs.length, Home: 0, End: tabs.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      select(to, true);
    });
  });
  select(open);
  return el("div", { class: "sql-tabs", role: "tablist", "aria-label": "Results of the statements" }, tabs);
}

function renderRun(data, base) {
  const diagnostics = [];
  const blocks = (data.messages || []).map((m) => el("p", { class: "alert", text: m }));
  const sections = [];
  for (const r of data.results) {
    sections.push(renderResult(r, base));
    if (r.error && r.error.position !== null && r.error.position !== undefined) {
      const from = Math.min(base + r.error.position, editor.state.doc.length);
      const line = editor.state.doc.lineAt(from);
      const word = /^[\w$."]+/.exec(editor.state.sliceDoc(from, line.to));
      diagnostics.push({ from, to: Math.max(from + (word ? word[0].length : 1), from + 1) > line.to ? line.to : from + (word ? word[0].length : 1),
        severity: "error", message: r.error.message });
    }
  }
  if (sections.length > 1) blocks.push(resultTabs(sections, data));
  results.replaceChildren(...blocks, ...sections);
  if (diagnostics.length) {
    editor.dispatch(setDiagnostics(editor.state, diagnostics));
    editor.dispatch({ selection: { anchor: diagnostics[0].from }, scrollIntoView: true });
  }
}

/* An error as separate parts (message, PostgreSQL's detail, the hint), never run together. */
function errorBox(error, attrs = {}) {
  return el("div", { class: "alert alert-error sql-error", ...attrs },
    el("p", { class: "sql-error-message" }, el("strong", { text: error.message })),
    error.detail ? el("p", { class: "sql-error-detail", text: error.detail }) : null,
    error.hint ? el("p", { class: "sql-error-hint" }, el("span", { class: "sql-error-label", text: "Hint: " }), error.hint) : null);
}

function renderResult(r, base) {
  const sec = el("section", { class: `card sql-result sql-result-${r.outcome}`, "data-result": r.index });
  const meta = [r.command, r.row_count !== null && r.row_count !== undefined ? `${r.row_count} row${r.row_count === 1 ? "" : "s"}` : null, fmtMs(r.duration_ms)]
    .filter(Boolean).join(" · ");
  sec.append(el("header", { class: "sql-result-head" },
    el("code", { class: "sql-result-sql", text: r.sql.length > 120 ? r.sql.slice(0, 119) + "…" : r.sql,
      title: "Show in the editor", onclick: () => editor.dispatch({ selection: { anchor: base + r.start }, scrollIntoView: true }) }),
    el("span", { class: "muted sql-meta", text: meta })));
  for (const n of r.notices || []) sec.append(el("p", { class: "sql-notice", text: n }));
  if (r.outcome === "skipped") sec.append(el("p", { class: "muted", text: "Not run: an earlier statement failed." }));
  if (r.error) sec.append(errorBox(r.error, { "data-error-position": r.error.position ?? "" }));
  if (r.plan) sec.append(renderPlan(r.plan));
  if (r.columns && r.columns.length) sec.append(renderGrid(r));
  return sec;
}

/* ---- grid: sort, copy, export, fetch more ---------------------------------------------- */
const cellText = (v) => (v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));
const csvCell = (v) => { const s = cellText(v); return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; };
function download(name, type, content) {
  const url = URL.createObjectURL(new Blob([content], { type }));
  el("a", { href: url, download: name }).click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
async function copy(text, what) {
  try { await navigator.clipboard.writeText(text); toast(`Copied ${what}.`, "success"); }
  catch (e) { toast("The browser refused the clipboard.", "error"); }
}

function renderGrid(r) {
  const rows = r.rows.slice();
  let selected = null; // [rowIndex, colIndex]
  let sort = null; // [col, dir]
  const wrap = el("div", { class: "sql-grid-box" });
  const tbody = el("tbody");
  const heads = r.columns.map((c, i) => el("th", { class: c.numeric ? "num" : null, title: `${c.type} — click to sort`,
    "data-col": i, onclick: () => sortBy(i) }, c.name));
  const table = el("table", { class: "grid-table sql-grid" }, el("thead", {}, el("tr", {}, heads)), tbody);
  const count = el("span", { class: "muted" });
  const paint = () => {
    tbody.replaceChildren(...rows.map((row, ri) => el("tr", {}, row.map((v, ci) => el("td", {
      class: [r.columns[ci].numeric ? "num" : "", v === null ? "null" : "",
        selected && selected[0] === ri && selected[1] === ci ? "selected" : ""].join(" ").trim() || null,
      onclick: () => { selected = [ri, ci]; paint(); },
    }, v === null ? "NULL" : cellText(v))))));
    heads.forEach((h, i) => h.setAttribute("aria-sort", sort && sort[0] === i ? (sort[1] > 0 ? "ascending" : "descending") : "none"));
    count.textContent = `${rows.length} row${rows.length === 1 ? "" : "s"}${more.hidden ? "" : " shown, more available"}${truncated ? " · truncated at the size limit" : ""}`;
  };
  const sortBy = (i) => {
    const dir = sort && sort[0] === i ? -sort[1] : 1;
    sort = [i, dir];
    const num = rows.every((row) => row[i] === null || typeof row[i] === "number" || /^-?\d+(\.\d+)?$/.test(row[i]));
    rows.sort((a, b) => {
      if (a[i] === null) return 1; if (b[i] === null) return -1;
      const x = num ? Number(a[i]) : cellText(a[i]); const y = num ? Number(b[i]) : cellText(b[i]);
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    });
    selected = null; paint();
  };
  const need = () => { if (!selected) { toast("Click a cell first.", "warning"); return false; } return true; };
  let cursor = r.cursor;
  let truncated = !!r.truncated;
  const more = el("button", { class: "btn small", type: "button", hidden: !cursor, onclick: async () => {
    more.disabled = true;
    try {
      const data = await api("/api/database/query/more", { cursor });
      rows.push(...data.rows); cursor = data.cursor; truncated = !!data.truncated; more.hidden = !data.has_more; paint();
    } catch (err) {
      const again = lastRun;
      if ((err.code === "cursor_elsewhere" || err.code === "cursor_expired") && again) {
        // the held result is gone or lives on another instance: one click runs the same SQL again
        toast(`${err.message} ${err.hint}`.trim(), "warning");
        more.replaceWith(el("button", { class: "btn small sql-run-again", type: "button",
          onclick: () => run({ again }) }, "Run again"));
      } else { toast(err.message, "error"); more.hidden = true; }
    }
    more.disabled = false;
  } }, "Fetch more");
  if (r.has_more && !cursor) count.title = "Capped; fetch more is available in read mode only.";
  const bar = el("div", { class: "sql-grid-bar" },
    el("button", { class: "btn small", type: "button", onclick: () => need() && copy(cellText(rows[selected[0]][selected[1]]), "the cell") }, "Copy cell"),
    el("button", { class: "btn small", type: "button", onclick: () => need() && copy(rows[selected[0]].map(cellText).join("\t"), "the row") }, "Copy row"),
    el("button", { class: "btn small", type: "button", onclick: () => need() && copy(rows.map((row) => cellText(row[selected[1]])).join("\n"), "the column") }, "Copy column"),
    el("button", { class: "btn small", type: "button", onclick: () => download("result.csv", "text/csv",
      [r.columns.map((c) => csvCell(c.name)).join(","), ...rows.map((row) => row.map(csvCell).join(","))].join("\r\n") + "\r\n") }, "CSV"),
    el("button", { class: "btn small", type: "button", onclick: () => download("result.json", "application/json",
      JSON.stringify(rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c.name, row[i]]))), null, 2)) }, "JSON"),
    more, count);
  paint();
  wrap.append(bar, el("div", { class: "table-wrap sql-table-wrap" }, table));
  return wrap;
}

/* ---- plan tree ------------------------------------------------------------------------- */
function renderPlan(plan) {
  const t = plan.tree;
  const box = el("div", { class: "plan", "data-plan": "" });
  const summary = plan.analyze
    ? `EXPLAIN ANALYZE · execution ${fmtMs(t.execution_ms || 0)} · planning ${fmtMs(t.planning_ms || 0)}`
    : `EXPLAIN (estimates only) · total cost ${t.total_cost.toFixed(2)}`;
  box.append(el("p", { class: "plan-summary" }, summary,
    plan.lasting_effects
      ? el("strong", { class: "bad", text: " · rows rolled back, but sequence values drawn and other effects outside the transaction stay" })
      : plan.rolled_back && plan.wrote ? el("strong", { text: " · rolled back: no rows were changed" }) : null));
  if (plan.hints.length) {
    box.append(el("ul", { class: "plan-hints" }, plan.hints.map((h) => el("li", {
      class: `plan-hint plan-hint-${h.severity}`, "data-hint": h.kind,
      onclick: () => { const n = box.querySelector(`[data-node="${h.node}"]`); if (n) { n.scrollIntoView({ block: "center" }); n.classList.add("flash"); } },
    }, el("strong", { text: h.title }), ` — ${h.message}`, h.sql ? el("div", {}, el("code", { text: h.sql }),
      el("button", { class: "btn btn-ghost small", type: "button", onclick: (e) => { e.stopPropagation(); copy(h.sql, "the SQL"); } }, "Copy")) : null))));
  }
  const list = el("ol", { class: "plan-tree" });
  for (const n of t.nodes) {
    const nums = [pct(n.share), `est ${Math.round(n.est_rows).toLocaleString()}`];
    if (n.actual_rows !== null) nums.push(`actual ${Math.round(n.actual_rows).toLocaleString()} × ${n.loops} loop${n.loops === 1 ? "" : "s"}`);
    if (n.exclusive_ms !== null) nums.push(`${fmtMs(n.exclusive_ms)} self`); else nums.push(`cost ${n.exclusive_cost.toFixed(1)} self`);
    const details = el("div", { class: "plan-details", hidden: true },
      el("table", { class: "plain" }, Object.entries({ ...n.details, ...Object.fromEntries(Object.entries(n.buffers).map(([k, v]) => [`buffers ${k.replace("_", " ")}`, v])),
        "cost (startup..total)": `${n.startup_cost}..${n.total_cost}` })
        .map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: Array.isArray(v) ? v.join(", ") : String(v) })))));
    const li = el("li", {
      class: ["plan-node", n.hot ? "hot" : "", n.flagged ? "misestimate" : "", n.never_executed ? "never" : ""].join(" ").trim(),
      style: `--depth: ${n.depth}`, "data-node": n.id, tabindex: 0,
      onclick: () => { details.hidden = !details.hidden; },
      onkeydown: (e) => { if (e.key === "Enter") details.hidden = !details.hidden; },
    },
    el("span", { class: "plan-bar", style: `--share: ${n.share}`, title: `${pct(n.share)} of the total` }),
    el("span", { class: "plan-label", text: n.label }),
    n.relation ? el("span", { class: "plan-rel", text: ` on ${n.relation}${n.alias && n.alias !== n.relation ? " " + n.alias : ""}` }) : null,
    n.index ? el("span", { class: "muted", text: ` using ${n.index}` }) : null,
    el("span", { class: "plan-nums muted" }, nums.join(" · "),
      n.flagged ? el("span", { class: "bad", text: ` · misestimate ${Math.round(n.misestimate)}× (${n.misestimate_direction === "under" ? "more" : "fewer"} rows than estimated)` }) : null),
    details);
    list.append(li);
  }
  box.append(list);
  const raw = el("pre", { class: "plan-raw", hidden: true, text: JSON.stringify(plan.raw, null, 2) });
  box.append(el("div", { class: "plan-actions" },
    el("button", { class: "btn small", type: "button", onclick: () => { raw.hidden = !raw.hidden; } }, "Raw JSON"),
    el("button", { class: "btn small", type: "button", onclick: () => copy(JSON.stringify(plan.raw, null, 2), "the plan JSON") }, "Copy JSON")), raw);
  return box;
}

/* ---- history, saved queries, confirmations --------------------------------------------- */
function loadSql(text) {
  editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: text }, selection: { anchor: text.length } });
  editor.focus();
}
/* A click on a history or saved entry loads it into the editor (to read or change it first: a
   query from the history can be long or heavy); its ▶ button loads and runs it. Ctrl/⌘-click and
   middle-click keep the browser's meaning (the entry is a real link: a new tab with it loaded). */
document.addEventListener("click", (event) => {
  if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  const star = event.target.closest(".sql-star");
  const link = star || event.target.closest(".sql-load");
  if (!link) return;
  event.preventDefault();
  loadSql(link.dataset.sql || "");
  if (star) $("#save-name").focus();
});
document.addEventListener("submit", (event) => {
  const entry = event.target.closest(".sql-run-entry");
  if (!entry) return;
  event.preventDefault();
  loadSql(entry.querySelector("[name=sql]").value);
  run({ all: true });
}, true);

const plural = (n, word) => `${Number(n).toLocaleString()} ${word}${n === 1 ? "" : "s"}`;
function historyItem(h) {
  const runForm = el("form", { method: "post", action: "/sql", class: "inline sql-run-entry" },
    el("input", { type: "hidden", name: "csrfmiddlewaretoken", value: csrf() }),
    el("input", { type: "hidden", name: "sql", value: h.sql }),
    el("button", { class: "btn btn-ghost small", type: "submit", name: "action", value: "run",
      title: "Run it again", "aria-label": "Run it again" }, "▶"));
  return el("li", { class: `history-entry outcome-${h.outcome}`, title: `${h.when} · ${h.outcome}${h.error ? ": " + h.error : ""}` },
    el("a", { href: `?history=${h.id}`, class: "sql-load", "data-sql": h.sql, title: "Load into the editor" },
      el("code", { text: h.sql.length > 160 ? h.sql.slice(0, 159) + "…" : h.sql })),
    el("div", { class: "sql-entry-meta" },
      el("small", { class: "muted" },
        el("time", { datetime: h.started_at, text: h.time }),
        h.rows !== null ? el("span", { text: plural(h.rows, "row") }) : null,
        el("span", { text: `${Math.round(h.duration_ms)} ms` }),
        h.outcome !== "ok" ? el("span", { class: "bad", text: h.outcome }) : null),
      runForm,
      el("a", { href: `?history=${h.id}#save-name`, class: "sql-star", "data-sql": h.sql, title: "Save with a name",
        "aria-label": "Save with a name" }, "★")));
}

async function refreshHistory() {
  const list = $("#history-list");
  if (!list) return;
  try {
    const response = await fetch("/api/database/history?limit=50", { credentials: "same-origin" });
    if (!response.ok) return;
    const data = await response.json();
    list.replaceChildren(...data.history.map(historyItem));
  } catch (e) { /* the server-rendered list stays */ }
}

$("#save-form")?.addEventListener("submit", () => { $("#save-sql").value = editor.state.doc.toString(); });
document.querySelectorAll("form[data-confirm]").forEach((f) => f.addEventListener("submit", (e) => {
  if (!confirm(f.dataset.confirm)) e.preventDefault();
}));

/* ---- database stats (size, connections, cache, biggest tables, longest queries) ---------- */
async function refreshStats() {
  const box = $("#db-stats");
  if (!box) return;
  try {
    const response = await fetch("/api/database/stats", { credentials: "same-origin" });
    if (!response.ok) return;
    const s = await response.json();
    const kv = (k, v) => el("tr", {}, el("th", { text: k }), el("td", { text: v }));
    $("#db-stats-body").replaceChildren(...[
      el("table", { class: "plain" },
        kv("size", s.size),
        kv("connections", `${s.connections} / ${s.max_connections} (${s.active} active, ${s.idle_in_transaction} idle in tx)`),
        kv("cache hit ratio", s.cache_hit_ratio === null ? "–" : `${(s.cache_hit_ratio * 100).toFixed(1)}%`)),
      el("h3", { text: "Biggest tables" }),
      el("ul", { class: "sql-list" }, s.biggest_tables.slice(0, 5).map((t) => el("li", {},
        el("a", { href: "#", class: "sql-load", "data-sql": `SELECT * FROM ${quoteIdent(t.schema)}.${quoteIdent(t.name)} LIMIT 100;` }, `${t.schema}.${t.name}`),
        el("small", { class: "muted", text: ` ${t.total_size} · ${t.estimated_rows == null ? "rows unknown (never analysed)" : `~${Number(t.estimated_rows).toLocaleString()} rows`}` })))),
      s.longest_queries.length ? el("h3", { text: "Longest running" }) : null,
      s.longest_queries.length ? el("ul", { class: "sql-list" }, s.longest_queries.slice(0, 5).map((q) => el("li", { title: q.query ?? "The query text is shown to admins only" },
        q.query == null ? el("span", { class: "muted", text: `${q.user} · ${q.application_name || "?"}` })
          : el("code", { text: q.query.length > 60 ? q.query.slice(0, 59) + "…" : q.query }),
        el("small", { class: "muted", text: ` ${fmtMs(q.running_ms)} · ${q.state} · pid ${q.pid}` })))) : null,
    ].filter(Boolean));
    box.hidden = false;
  } catch (e) { /* stats are a comfort */ }
}
refreshStats();
