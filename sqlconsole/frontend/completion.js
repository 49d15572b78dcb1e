/* Schema-aware completion from the live catalogue (GET /api/database/schema).

   Offered: a curated list of SQL keywords and common PostgreSQL functions and types, the target's
   schemas, tables and columns, and the project's own functions — nothing else. (lang-sql's own
   PostgreSQL keyword list carries every word of the SQL standard, e.g. DLURLCOMPLETEWRITE.)
   Columns come after `table.`, `schema.table.` and `alias.`, and unqualified for the tables the
   statement under the cursor reads (FROM / JOIN / UPDATE / INSERT INTO), ranked first in the
   select list, WHERE, ON, GROUP BY and ORDER BY. */

export const KEYWORDS = `SELECT FROM WHERE AND OR NOT IN IS NULL AS ON JOIN INNER LEFT RIGHT FULL OUTER CROSS NATURAL
USING LATERAL GROUP BY ORDER HAVING LIMIT OFFSET FETCH FIRST NEXT ROWS ONLY DISTINCT ALL UNION INTERSECT
EXCEPT WITH RECURSIVE VALUES TABLE INSERT INTO UPDATE SET DELETE RETURNING CONFLICT DO NOTHING MERGE MATCHED
WHEN THEN ELSE END CASE BETWEEN LIKE ILIKE SIMILAR TO EXISTS ANY SOME ASC DESC NULLS LAST TRUE FALSE CAST
CREATE ALTER DROP INDEX VIEW MATERIALIZED SCHEMA SEQUENCE FUNCTION TRIGGER PRIMARY KEY FOREIGN REFERENCES
UNIQUE CHECK CONSTRAINT DEFAULT COLUMN ADD RENAME TRUNCATE CASCADE RESTRICT IF BEGIN COMMIT ROLLBACK
SAVEPOINT TRANSACTION READ WRITE EXPLAIN ANALYZE VERBOSE BUFFERS FORMAT SHOW VACUUM GRANT REVOKE FILTER
OVER PARTITION WINDOW RANGE PRECEDING FOLLOWING UNBOUNDED CURRENT ROW INTERVAL COLLATE CONCURRENTLY
TEMPORARY UNLOGGED REFRESH COPY LOCK FOR SHARE SKIP LOCKED NOWAIT ARRAY`.split(/\s+/);

export const TYPES = `integer bigint smallint numeric real text varchar char boolean date time timestamp timestamptz
interval uuid json jsonb bytea inet`.split(/\s+/);

export const FUNCTIONS = `count sum avg min max coalesce nullif greatest least now current_date current_timestamp
date_trunc date_part extract age to_char to_date to_timestamp make_interval lower upper length trim btrim
substring replace concat concat_ws string_agg array_agg array_length unnest jsonb_build_object
jsonb_agg json_agg jsonb_array_elements jsonb_each jsonb_extract_path_text to_jsonb row_number rank dense_rank
lag lead first_value last_value ntile generate_series random round trunc abs ceil floor split_part
regexp_replace regexp_match position left right format md5 gen_random_uuid pg_size_pretty
pg_total_relation_size pg_relation_size`.split(/\s+/);

/* PostgreSQL's reserved words: a name spelled like one must be double-quoted ("order", "user"). */
const RESERVED = new Set(`all analyse analyze and any array as asc asymmetric authorization binary both case cast
check collate collation column concurrently constraint create cross current_catalog current_date current_role
current_schema current_time current_timestamp current_user default deferrable desc distinct do else end except
false fetch for foreign freeze from full grant group having ilike in initially inner intersect into is isnull
join lateral leading left like limit localtime localtimestamp natural not notnull null offset on only or order
outer overlaps placing primary references returning right select session_user similar some symmetric
system_user table tablesample then to trailing true union unique user using variadic verbose when where window
with`.split(/\s+/));

export function quoteIdent(name) {
  return /^[a-z_][a-z0-9_$]*$/.test(name) && !RESERVED.has(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/* ---- the catalogue, indexed -------------------------------------------------------------- */
export function indexCatalogue(data) {
  const bySchema = new Map(); // schema -> Map(table -> entry)
  for (const table of data.tables || []) {
    if (!bySchema.has(table.schema)) bySchema.set(table.schema, new Map());
    bySchema.get(table.schema).set(table.name, table);
  }
  const path = (data.search_path || []).filter((s) => bySchema.has(s));
  if (!path.length && bySchema.has(data.default_schema)) path.push(data.default_schema);
  return { bySchema, path, defaultSchema: data.default_schema || "public", functions: data.functions || [] };
}

/* The table a name in the SQL means: `schema.table`, or the first schema of the search path holding it. */
function resolve(cat, parts) {
  if (parts.length >= 2) return cat.bySchema.get(parts[parts.length - 2])?.get(parts[parts.length - 1]) || null;
  for (const schema of cat.path) {
    const hit = cat.bySchema.get(schema).get(parts[0]);
    if (hit) return hit;
  }
  return null;
}

/* ---- reading the statement under the cursor ---------------------------------------------- */
const IDENT = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)`;
const identifiers = (text) => (text.match(new RegExp(IDENT, "g")) || []).map((w) => unquote(w));
const unquote = (word) => (word.startsWith('"') ? word.slice(1, -1).replace(/""/g, '"') : word.toLowerCase());

/* The text of the statement around `pos`, with string literals and comments blanked (same length,
   so offsets stay valid). */
export function statementAround(doc, pos) {
  let out = "";
  let start = 0;
  let i = 0;
  let found = null;
  const n = doc.length;
  while (i < n) {
    const ch = doc[i];
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < n && !(doc[j] === ch && doc[j + 1] !== ch)) j += doc[j] === ch ? 2 : 1;
      const piece = doc.slice(i, Math.min(j + 1, n));
      out += ch === "'" ? (j < n ? `'${" ".repeat(piece.length - 2)}'` : `'${" ".repeat(piece.length - 1)}`) : piece;
      i = j + 1;
    } else if (ch === "-" && doc[i + 1] === "-") {
      const j = doc.indexOf("\n", i);
      const end = j < 0 ? n : j;
      out += " ".repeat(end - i);
      i = end;
    } else if (ch === "/" && doc[i + 1] === "*") {
      const j = doc.indexOf("*/", i + 2);
      const end = j < 0 ? n : j + 2;
      out += doc.slice(i, end).replace(/[^\n]/g, " ");
      i = end;
    } else {
      if (ch === ";") {
        if (pos <= i) { found = { text: out.slice(start), start }; break; }
        start = i + 1;
      }
      out += ch;
      i += 1;
    }
  }
  if (!found) found = { text: out.slice(start), start };
  return found;
}

const NOT_ALIAS = new Set(`where join on inner left right full cross natural group order limit offset having union
except intersect using set window returning fetch for values select lateral tablesample as outer into
default do from where and or`.split(/\s+/));

/* {alias or table name -> table entry} for the relations the statement reads or writes. */
export function referencedTables(cat, text) {
  const found = new Map();
  const ref = new RegExp(String.raw`\b(from|join|update|into)\s+((?:${IDENT}\s*\.\s*)?${IDENT})`, "gi");
  let m;
  while ((m = ref.exec(text))) {
    let rest = m.index + m[0].length;
    let name = m[2];
    for (;;) {
      const parts = identifiers(name);
      const table = resolve(cat, parts);
      const after = text.slice(rest);
      const aliasMatch = new RegExp(String.raw`^\s+(?:as\s+)?(${IDENT})`, "i").exec(after);
      let alias = null;
      if (aliasMatch && !NOT_ALIAS.has(aliasMatch[1].toLowerCase())) {
        alias = unquote(aliasMatch[1]);
        rest += aliasMatch[0].length;
      }
      if (table) {
        found.set(parts[parts.length - 1], table);
        if (alias) found.set(alias, table);
      }
      // FROM a, b x: the next relation of a comma-separated list (not after JOIN/UPDATE/INTO)
      const next = new RegExp(String.raw`^\s*,\s*((?:${IDENT}\s*\.\s*)?${IDENT})`).exec(text.slice(rest));
      if (m[1].toLowerCase() !== "from" || !next) break;
      name = next[1];
      rest += next[0].length;
    }
  }
  return found;
}

/* Where in the statement the cursor is: after SELECT / WHERE / ON / BY … columns come first. */
function wantsColumns(before) {
  const words = before.match(/[A-Za-z_]+/g) || [];
  for (let i = words.length - 1; i >= 0; i--) {
    const w = words[i].toLowerCase();
    if (["select", "where", "on", "by", "having", "and", "or", "set", "returning", "when", "then"].includes(w)) return true;
    if (["from", "join", "update", "into", "table"].includes(w)) return false;
  }
  return false;
}

/* ---- the completion source ----------------------------------------------------------------- */
const columnOption = (col, table, boost) => ({
  label: col.name, apply: quoteIdent(col.name), type: "column", boost,
  detail: `${col.type}${col.pk ? " · PK" : ""}${col.fk ? " · FK" : ""} · ${table.name}`,
});
const tableOption = (table, label, boost = 0) => ({
  label, apply: label.split(".").length > 1 ? label.split(".").map(quoteIdent).join(".") : quoteIdent(label),
  type: table.kind === "view" || table.kind === "materialized view" ? "view" : "table", boost,
  detail: `${table.kind}${table.rows !== null && table.rows !== undefined ? ` · ~${Number(table.rows).toLocaleString()} rows` : ""}`,
});

export function makeCompletionSource(getCatalogue) {
  return (context) => {
    const cat = getCatalogue();
    const doc = context.state.doc.toString();
    const stmt = statementAround(doc, context.pos);
    const before = stmt.text.slice(0, context.pos - stmt.start);
    const dotted = new RegExp(String.raw`((?:${IDENT}\s*\.\s*){1,2})("?[\w$]*)$`).exec(before);
    if (dotted && cat) {
      const parts = identifiers(dotted[1]);
      const from = context.pos - dotted[2].length;
      const refs = referencedTables(cat, stmt.text);
      const options = [];
      const table = parts.length === 1 ? refs.get(parts[0]) || resolve(cat, parts) : resolve(cat, parts);
      if (table) for (const col of table.columns) options.push(columnOption(col, table, 0));
      if (parts.length === 1 && cat.bySchema.has(parts[0])) {
        for (const t of cat.bySchema.get(parts[0]).values()) options.push(tableOption(t, t.name));
        for (const f of cat.functions.filter((f) => f.schema === parts[0])) {
          options.push({ label: f.name, apply: quoteIdent(f.name), type: "function", detail: `(${f.args})` });
        }
      }
      return options.length ? { from, options, validFor: /^"?[\w$]*$/ } : null;
    }
    const word = context.matchBefore(/[\w$]+/);
    if (!word && !context.explicit) return null;
    const from = word ? word.from : context.pos;
    const options = KEYWORDS.map((k) => ({ label: k, type: "keyword", boost: -2 }));
    for (const ty of TYPES) options.push({ label: ty, type: "type", boost: -3 });
    for (const fn of FUNCTIONS) options.push({ label: fn, type: "function", detail: "built-in", boost: -1 });
    if (cat) {
      const columnsFirst = wantsColumns(before);
      const seen = new Set();
      for (const [, table] of referencedTables(cat, stmt.text)) {
        if (seen.has(table)) continue;
        seen.add(table);
        for (const col of table.columns) options.push(columnOption(col, table, columnsFirst ? 3 : 1));
      }
      for (const [schema, tables] of cat.bySchema) {
        const onPath = cat.path.includes(schema);
        options.push({ label: schema, apply: quoteIdent(schema), type: "schema", detail: "schema", boost: -1 });
        for (const table of tables.values()) {
          options.push(tableOption(table, onPath ? table.name : `${schema}.${table.name}`, columnsFirst ? 0 : 2));
        }
      }
      for (const f of cat.functions) {
        const label = cat.path.includes(f.schema) ? f.name : `${f.schema}.${f.name}`;
        options.push({ label, apply: label, type: "function", detail: `(${f.args})` });
      }
    }
    return { from, options, validFor: /^[\w$]*$/ };
  };
}
