"""The grid as a django-tables2 table built from a reflected table and one page of rows.

Columns are keyed positionally (``c0``…) since django-tables2 reads ``.`` and ``__`` in a
key as a path; headers carry the real names, the type and the sort links. Ordering is ours
(keyset), so django-tables2's own ordering is off.

The header and the column definitions are django-tables2's; the body's cells are rendered
by ``body_html`` in one pass, because django-tables2's per-cell machinery (a signature
inspection and a template node per cell) cost ~50 ms for 100 rows, more than the whole
query budget of a page (see bench/RESULTS.md). Both use the same ``CellColumn.cell``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.http import RFC3986_SUBDELIMS
from django.utils.safestring import SafeString, mark_safe

from databrowser.formatting import Cut, cell_fast
from databrowser.forms import fk_lookup_url
from databrowser.query import ColumnInfo, Page, TableInfo
from databrowser.refs import TableRef, encode_pk, format_sort

_PK_MARK = "PKMARK0"


@lru_cache(maxsize=512)
def _row_url_template(slug: str) -> str:
    return reverse("data-row", args=[slug, _PK_MARK])


def row_url_for(ref: TableRef, values: list[Any]) -> str:
    """reverse("data-row", …) without a resolver walk per row: same quoting as reverse()."""
    return _row_url_template(ref.slug).replace(_PK_MARK, quote(encode_pk(values), safe=RFC3986_SUBDELIMS + "/~:@"))


def row_url(page: Page, row: dict[str, Any]) -> str | None:
    if not page.info.pk:
        return None
    return row_url_for(page.info.ref, [row[n] for n in page.info.pk])


def fk_url(col: ColumnInfo, row: dict[str, Any]) -> str | None:
    """Where an FK value leads: the referenced row's page, or the referenced grid filtered."""
    fk = col.fk
    if fk is None or row.get(col.name) is None:
        return None
    values = [row.get(c) for c in fk.columns]
    if any(v is None for v in values):
        return None
    if fk.to_pk:
        return row_url_for(fk.ref, values)
    query = urlencode({f"f.eq.{rc}": str(v) for rc, v in zip(fk.ref_columns, values, strict=True)})
    return reverse("data-table", args=[fk.ref.slug]) + "?" + query


def sort_header(col: ColumnInfo, page: Page, base_query: list[tuple[str, str]]) -> SafeString:
    current = dict(page.request.sort)
    first = page.request.sort[0][0] if page.request.sort else None
    desc_now = current.get(col.name)
    # Clicking a column sorts by it ascending; clicking the sorted column flips it.
    new_desc = (first == col.name and desc_now is False)
    query = [(k, v) for k, v in base_query if k not in ("sort", "cursor", "page", "last", "at")]
    query.append(("sort", format_sort([(col.name, new_desc)])))
    arrow = ""
    if first == col.name:
        arrow = " ▼" if desc_now else " ▲"
    hint = "" if col.name in page.info.indexed else " (no index)"
    return format_html(
        '<a href="?{}" class="sort" draggable="false" data-sort="{}" title="Sort by {}{}">{}{}</a>'
        '<br><small class="muted type">{}{}</small>',
        urlencode(query), col.name, col.name, hint, col.name, arrow, col.type_label, " · key" if col.is_pk else "")


class CellColumn(tables.Column):
    """One reflected column: the cell knows its type (NULL, JSON, bytea…) and FK link."""

    def __init__(self, col: ColumnInfo, key: bool = False, **kw: Any) -> None:
        self.col = col
        numeric = col.kind in ("int", "numeric", "float")
        th = " ".join(filter(None, ["num" if numeric else "", "key" if key else ""]))
        super().__init__(empty_values=(), orderable=False,
                         attrs={"td": {"class": "num" if numeric else f"k-{col.kind}"}, "th": {"class": th}}, **kw)

    def render(self, value: Any, record: dict[str, Any]) -> SafeString:
        return mark_safe(self.cell(record["__row"]))  # noqa: S308 - cell_fast escapes

    def cell(self, row: dict[str, Any], url: str | None = None) -> str:
        """``url``: the row's page; a cut value links to its full value under it."""
        return value_cell(self.col, row, url)


def value_cell(col: ColumnInfo, row: dict[str, Any], url: str | None = None) -> str:
    """The inner HTML of a (non-key) grid cell: the value with its FK link, or the head of a cut one
    linking to its full value under the row's page ``url``."""
    value = row[col.name]
    if isinstance(value, Cut):
        return cell_fast(value, col.kind, full_url=f"{url}/value/{col.position}" if url else None)
    return cell_fast(value, col.kind, fk_url(col, row) if col.fk else None)


class RowLinkColumn(tables.Column):
    def __init__(self, selectable: bool, **kw: Any) -> None:
        self.selectable = selectable
        super().__init__(empty_values=(), orderable=False, attrs={"td": {"class": "rowlink"}}, **kw)

    def render(self, value: Any, record: dict[str, Any]) -> SafeString:
        return mark_safe(self.cell(record["__url"], record["__pkseg"]))  # noqa: S308 - escaped in cell()

    def cell(self, url: str | None, pk_text: str) -> str:
        """The selection box (editors); the row's link is on its key cell (``key_cell``)."""
        if not url or not self.selectable:
            return ""
        pk = escape(pk_text)
        return f'<input type="checkbox" name="pk" value="{pk}" form="bulk-form" aria-label="Select row {pk}">'


def key_cell(column: CellColumn, row: dict[str, Any], url: str) -> str:
    """The first key column's cell: its value is the link to the row (no extra "open" column)."""
    return _key_link(column.col, row, url)


def _key_link(col: ColumnInfo, row: dict[str, Any], url: str) -> str:
    return f'<a href="{escape(url)}" class="rowkey" title="Open this row">{cell_fast(row[col.name], col.kind, None)}</a>'


def row_cells(info: TableInfo, row: dict[str, Any]) -> dict[str, str]:
    """{column name: the inner HTML of its grid cell} for one row, as ``body_html`` renders it: the
    grid puts a cell saved in place back from this (the FK link and all), never from rules of its own."""
    url = row_url_for(info.ref, [row[n] for n in info.pk]) if info.pk else None
    key_name = info.pk[0] if info.pk else None
    out = {}
    for col in info.columns:
        if url and col.name == key_name:
            out[col.name] = _key_link(col, row, url)
        else:
            out[col.name] = value_cell(col, row, url)
    return out


def build_grid(page: Page, base_query: list[tuple[str, str]], selectable: bool,
               columns: list[ColumnInfo] | None = None) -> tables.Table:
    """``columns``: the ones to show, in their order (the user's layout, ``databrowser.columns``)."""
    attrs: dict[str, Any] = {"_row": RowLinkColumn(selectable, verbose_name="")} if selectable and page.info.pk else {}
    for col in page.info.columns if columns is None else columns:
        key = bool(page.info.pk) and col.name == page.info.pk[0]
        attrs[f"c{col.position}"] = CellColumn(col, key=key, verbose_name=sort_header(col, page, base_query))
    meta = type("Meta", (), {"attrs": {"class": "grid-table", "id": "grid"}, "orderable": False,
                             "template_name": "django_tables2/table.html", "show_footer": False})
    attrs["Meta"] = meta
    table_class = type("GridTable", (tables.Table,), attrs)
    return table_class([])


def _width_style(px: int | None) -> str:
    return f' style="width:{px}px;min-width:{px}px;max-width:{px}px"' if px else ""


def _edit_attrs(col: ColumnInfo, editable: set[str] | None) -> str:
    """What the inline editor needs to pick a widget: the kind, NULL allowed, the enum labels, editable."""
    attrs = f' data-kind="{escape(col.kind)}"'
    if col.nullable:
        attrs += " data-nullable"
    if col.enum_values:
        attrs += f' data-enum="{escape(json.dumps(list(col.enum_values)))}"'
    if editable is not None and col.name in editable:
        attrs += " data-editable"
        lookup = fk_lookup_url(col)
        if lookup:  # the FK picker's suggestions (the referenced rows with their labels)
            attrs += f' data-fk-lookup="{escape(lookup)}"'
    return attrs


def head_html(table: tables.Table, widths: dict[str, int] | None = None, editable: set[str] | None = None) -> SafeString:
    """The header cells: the selection column (editors), then one per shown column with its name (for
    the columns script: drag to reorder, the edge to resize), its saved width and its kind (``data-kind``,
    for the inline editor; ``editable``: the columns the user may change in place, none for viewers)."""
    widths = widths or {}
    out = ['<th class="rowlink-head"><span class="visually-hidden">Select</span></th>'] if "_row" in table.base_columns else []
    for key, column in table.base_columns.items():
        if key == "_row":
            continue
        col = column.col
        classes = column.attrs["th"]["class"]
        cls = f' class="{escape(classes)}"' if classes else ""
        out.append(f'<th{cls} data-col="{escape(col.name)}"{_width_style(widths.get(col.name))}'
                   f'{_edit_attrs(col, editable)}>{column.verbose_name}'
                   f'<span class="col-resize" aria-hidden="true" title="Drag to resize; double-click for the natural width">'
                   f'</span></th>')
    return mark_safe("".join(out))  # noqa: S308 - names escaped, headers built by format_html


def body_html(table: tables.Table, page: Page, widths: dict[str, int] | None = None) -> SafeString:
    """The <tbody> rows of a page, cell by cell through the table's own columns (in their order)."""
    widths = widths or {}
    link_col: RowLinkColumn | None = table.base_columns.get("_row")
    cols: list[CellColumn] = [c for k, c in table.base_columns.items() if k != "_row"]
    key_name = page.info.pk[0] if page.info.pk else None
    opens = [f'<td class="{escape(c.attrs["td"]["class"])}{" key" if c.col.name == key_name else ""}"'
             f'{_width_style(widths.get(c.col.name))}>' for c in cols]
    out: list[str] = []
    for row in page.rows:
        pk_text = encode_pk([row[n] for n in page.info.pk]) if page.info.pk else ""
        url = row_url(page, row)
        cells = "".join(f"{td}{key_cell(col, row, url) if url and col.col.name == key_name else col.cell(row, url)}</td>"
                        for col, td in zip(cols, opens, strict=True))
        box = f'<td class="rowlink">{link_col.cell(url, pk_text)}</td>' if link_col is not None else ""
        # the key and version let the grid write a cell in place (PUT …/rows/{pk} with If-Match)
        version = row.get("__xmin")
        attrs = f' data-pk="{escape(pk_text)}"' if pk_text else ""
        attrs += f' data-version="{escape(version)}"' if version is not None else ""
        out.append(f'<tr{attrs}>{box}{cells}</tr>')
    return mark_safe("".join(out))  # noqa: S308 - every piece is escaped by format_html/escape above
