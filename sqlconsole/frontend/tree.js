/* The schema tree beside the editor: schemas → tables → columns (type, PK, FK, NOT NULL), from
   the same catalogue the completion uses. A click on a name inserts it at the cursor (quoted when
   PostgreSQL needs it, schema-qualified when the schema is not on the search path); a
   double-click on a table opens it in the data browser. Plain buttons in nested lists, so the
   keyboard (Tab, Enter) works without a custom tree widget. */
import { quoteIdent } from "./completion.js";

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
};

const DOUBLE_CLICK_MS = 250;

function toggle(button, list) {
  const open = button.getAttribute("aria-expanded") !== "true";
  button.setAttribute("aria-expanded", String(open));
  list.hidden = !open;
}

export function renderTree(box, cat, insert) {
  const schemas = [...cat.bySchema.keys()];
  const items = schemas.map((schema) => {
    const tables = [...cat.bySchema.get(schema).values()];
    const onPath = cat.path.includes(schema);
    const list = el("ul", { class: "tree-tables", hidden: !onPath });
    const head = el("button", { type: "button", class: "tree-toggle tree-schema", "aria-expanded": String(onPath) },
      el("span", { class: "tree-caret", "aria-hidden": "true" }), schema,
      el("small", { class: "muted", text: ` ${tables.length} table${tables.length === 1 ? "" : "s"}` }));
    head.addEventListener("click", () => toggle(head, list));
    for (const table of tables) {
      const name = onPath ? quoteIdent(table.name) : `${quoteIdent(schema)}.${quoteIdent(table.name)}`;
      const cols = el("ul", { class: "tree-columns", hidden: true }, table.columns.map((c) => el("li", { class: "tree-column" },
        el("button", { type: "button", class: "tree-name", "data-insert": quoteIdent(c.name),
          title: `Insert ${quoteIdent(c.name)}` }, c.name),
        el("span", { class: "tree-type", text: c.type, title: c.type }),
        c.pk ? el("abbr", { class: "tree-key tree-pk", title: "primary key", text: "PK" }) : null,
        c.fk ? el("abbr", { class: "tree-key tree-fk", title: `foreign key to ${c.fk}`, text: "FK" }) : null,
        c.not_null && !c.pk ? el("abbr", { class: "tree-key tree-nn", title: "NOT NULL", text: "NN" }) : null)));
      const caret = el("button", { type: "button", class: "tree-toggle tree-caret-only", "aria-expanded": "false",
        "aria-label": `Columns of ${table.name}` }, el("span", { class: "tree-caret", "aria-hidden": "true" }));
      caret.addEventListener("click", () => toggle(caret, cols));
      const nameButton = el("button", { type: "button", class: "tree-name tree-table-name", "data-insert": name,
        "data-table": `${schema}.${table.name}`, "data-url": table.data_url,
        title: `Insert ${name} · double-click to open it in the data browser` }, table.name);
      list.append(el("li", { class: `tree-table tree-kind-${table.kind.replace(/\s+/g, "-")}`, "data-name": table.name.toLowerCase() },
        el("div", { class: "tree-row" }, caret, nameButton,
          el("small", { class: "muted tree-meta", text: table.kind === "table" ? "" : table.kind })), cols));
    }
    return el("li", { class: "tree-schema-item" }, head, list);
  });
  box.replaceChildren(el("ul", { class: "tree-root" }, items));

  /* One click inserts, a double-click opens: the insert waits a moment so that a double-click
     does not also insert the name twice. */
  let pending = null;
  box.onclick = (event) => {
    const button = event.target.closest(".tree-name");
    if (!button) return;
    clearTimeout(pending);
    if (event.detail > 1) return;
    const text = button.dataset.insert;
    if (event.detail === 0) { insert(text); return; } // keyboard: Enter / Space
    pending = setTimeout(() => insert(text), DOUBLE_CLICK_MS);
  };
  box.ondblclick = (event) => {
    const button = event.target.closest(".tree-table-name");
    if (!button) return;
    clearTimeout(pending);
    window.location.href = button.dataset.url;
  };
}

/* The filter box: show the tables whose name contains the text (their schema opens). */
export function filterTree(box, text) {
  const needle = text.trim().toLowerCase();
  for (const schema of box.querySelectorAll(".tree-schema-item")) {
    let any = false;
    for (const table of schema.querySelectorAll(".tree-table")) {
      const show = !needle || table.dataset.name.includes(needle);
      table.hidden = !show;
      any = any || show;
    }
    schema.hidden = !any;
    if (needle && any) {
      schema.querySelector(".tree-tables").hidden = false;
      schema.querySelector(".tree-schema").setAttribute("aria-expanded", "true");
    }
  }
}
