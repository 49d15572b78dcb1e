/* The editor's look: syntax colours, the editor box and the completion popup, all read from CSS
   variables (static/sqlconsole/console.css defines a dark and a light palette with 4.5:1 contrast
   against the editor's background), so the app's theme toggle recolours the editor without
   rebuilding it. CodeMirror's own default highlight style is a light palette (dark purple
   keywords): it stays only as basicSetup's fallback, which this style replaces. */
import { EditorView } from "@codemirror/view";
import { HighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { tags as t } from "@lezer/highlight";

const v = (name) => `var(--sql-${name})`;

export const highlight = syntaxHighlighting(HighlightStyle.define([
  { tag: [t.keyword, t.operatorKeyword, t.modifier, t.controlKeyword, t.definitionKeyword], color: v("keyword") },
  { tag: [t.typeName], color: v("type") },
  { tag: [t.standard(t.name), t.function(t.variableName)], color: v("function") },
  { tag: [t.number, t.bool, t.null], color: v("number") },
  { tag: [t.string], color: v("string") },
  { tag: [t.special(t.string)], color: v("ident") },
  { tag: [t.special(t.name)], color: v("function") },
  { tag: [t.comment, t.lineComment, t.blockComment], color: v("comment"), fontStyle: "italic" },
  { tag: [t.operator, t.punctuation, t.paren, t.brace, t.squareBracket], color: v("operator") },
  { tag: [t.name], color: v("text") },
  { tag: t.invalid, color: v("invalid") },
]));

/* Lines of the editor before it grows (it grows with the text up to 70% of the window; the grip
   under it resizes it, see console.js). */
export const MIN_LINES = 12;

export const chrome = EditorView.theme({
  "&": {
    color: "var(--text)", backgroundColor: "var(--bg)", border: "1px solid var(--border)", borderRadius: "6px",
    maxHeight: "70vh",
  },
  "&.cm-focused": { outline: "2px solid var(--accent)", outlineOffset: "1px" },
  ".cm-scroller": { overflow: "auto", fontFamily: "ui-monospace, SFMono-Regular, Menlo, monospace", lineHeight: "1.45" },
  ".cm-content, .cm-gutter": { minHeight: `calc(${MIN_LINES} * 1.45em + 8px)` },
  ".cm-content": { caretColor: "var(--text)" },
  ".cm-cursor, .cm-dropCursor": { borderLeftColor: "var(--text)" },
  ".cm-gutters": { backgroundColor: "var(--panel-2)", color: "var(--muted)", borderRight: "1px solid var(--border)" },
  ".cm-activeLine": { backgroundColor: "var(--sql-active-line)" },
  ".cm-activeLineGutter": { backgroundColor: "var(--sql-active-line)", color: "var(--text)" },
  "&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground, .cm-content ::selection":
    { backgroundColor: "var(--sql-selection)" },
  ".cm-selectionMatch": { backgroundColor: "var(--sql-match)" },
  "&.cm-focused .cm-matchingBracket": { backgroundColor: "var(--sql-match)", outline: "1px solid var(--muted)" },
  ".cm-placeholder": { color: "var(--muted)", fontStyle: "normal" },
  ".cm-panels": { backgroundColor: "var(--panel)", color: "var(--text)" },
  ".cm-panels input, .cm-panels button": { color: "var(--text)", backgroundColor: "var(--bg)" },
  ".cm-foldPlaceholder": { backgroundColor: "var(--panel-2)", color: "var(--muted)", border: "1px solid var(--border)" },
  /* the completion popup and the lint/hover tooltips */
  ".cm-tooltip": {
    backgroundColor: "var(--panel)", color: "var(--text)", border: "1px solid var(--border)", borderRadius: "6px",
    boxShadow: "0 6px 20px rgba(0, 0, 0, .35)",
  },
  ".cm-tooltip-autocomplete > ul": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, monospace", maxHeight: "16em" },
  ".cm-tooltip-autocomplete > ul > li": { padding: "2px 8px 2px 4px", lineHeight: "1.5" },
  ".cm-tooltip-autocomplete > ul > li[aria-selected]": { backgroundColor: "var(--accent)", color: "var(--accent-text)" },
  ".cm-tooltip-autocomplete > ul > li[aria-selected] .cm-completionDetail": { color: "var(--accent-text)" },
  ".cm-completionLabel": { color: "inherit" },
  ".cm-completionMatchedText": { textDecoration: "none", fontWeight: "700" },
  ".cm-completionDetail": { color: "var(--muted)", fontStyle: "normal", marginLeft: "1em", fontSize: "85%" },
  ".cm-completionInfo": { backgroundColor: "var(--panel)", color: "var(--text)", border: "1px solid var(--border)" },
  /* Icons as short text badges: CodeMirror's defaults are symbol/emoji characters ("🔑︎", "ƒ", "□")
     that render as empty boxes where the font lacks them. */
  ".cm-completionIcon": {
    width: "2.1em", fontSize: "70%", opacity: "1", padding: "0", marginRight: "6px", textAlign: "center",
    borderRadius: "3px", fontFamily: "ui-monospace, SFMono-Regular, Menlo, monospace", fontWeight: "700",
    color: "var(--muted)", border: "1px solid var(--border)", boxSizing: "border-box", lineHeight: "1.5",
  },
  ".cm-completionIcon-keyword::after": { content: '"kw"' },
  ".cm-completionIcon-type::after": { content: '"ty"' },
  ".cm-completionIcon-schema::after": { content: '"sc"' },
  ".cm-completionIcon-table::after": { content: '"tb"' },
  ".cm-completionIcon-view::after": { content: '"vw"' },
  ".cm-completionIcon-column::after": { content: '"co"' },
  ".cm-completionIcon-function::after": { content: '"fn"' },
  ".cm-completionIcon-alias::after": { content: '"as"' },
  "li[aria-selected] .cm-completionIcon": { color: "var(--accent-text)", borderColor: "var(--accent-text)" },
});

/* CodeMirror's base theme has light and dark variants (selection, search panel, lint markers):
   follow the page's data-theme. */
export const isDark = () => document.documentElement.dataset.theme !== "light";
export const darkFlag = (dark) => EditorView.theme({}, { dark });
