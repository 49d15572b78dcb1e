"""Grid column layout per user and table: order, hidden columns and widths (``ColumnPrefs``).

Read by the grid view, which renders the columns in the saved order without the hidden ones (so
the layout holds before any script runs); written by ``/api/tables/{tref}/columns`` (the page's
drag and resize) and by the columns menu's form (move left/right, show/hide, without JS).
The project is PGADMIN_PROJECT_DIR, as for the ER diagram's positions. A preference, not a write
to the target: no audit entry. Bad input is a 400 with a hint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from core.exceptions import BadRequest
from databrowser.models import ColumnPrefs
from databrowser.query import ColumnInfo, TableInfo

MIN_WIDTH, MAX_WIDTH = 40, 2000
HINT = ('Send {"order": ["id", "name", ...], "hidden": ["notes"], "widths": {"name": 240}}: names of the '
        f"table's columns, widths in pixels from {MIN_WIDTH} to {MAX_WIDTH} (null forgets one); every key is optional.")


@dataclass
class Layout:
    """A table's columns as one user arranges them (only names that exist today)."""

    ordered: list[ColumnInfo]  # every column, in the user's order
    hidden: set[str] = field(default_factory=set)
    widths: dict[str, int] = field(default_factory=dict)

    @property
    def visible(self) -> list[ColumnInfo]:
        return [c for c in self.ordered if c.name not in self.hidden]

    @property
    def customised(self) -> bool:
        return bool(self.hidden or self.widths) or [c.position for c in self.ordered] != sorted(
            c.position for c in self.ordered)

    def as_json(self) -> dict[str, Any]:
        return {"order": [c.name for c in self.ordered], "hidden": [c.name for c in self.ordered if c.name in self.hidden],
                "widths": dict(self.widths)}


def project_key() -> str:
    return str(settings.PROJECT_DIR)


def _row(user: Any, info: TableInfo) -> ColumnPrefs | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return ColumnPrefs.objects.filter(user=user, project=project_key(), table=info.ref.slug).first()


def _arrange(info: TableInfo, order: list[str], hidden: list[str], widths: dict[str, int]) -> Layout:
    by_name = {c.name: c for c in info.columns}
    ordered = [by_name[n] for n in dict.fromkeys(order) if n in by_name]
    seen = {c.name for c in ordered}
    ordered += [c for c in info.columns if c.name not in seen]  # new columns: at the end, in table order
    hide = {n for n in hidden if n in by_name}
    if len(hide) >= len(info.columns):  # never a grid without columns (a column renamed under the prefs)
        hide = set()
    return Layout(ordered, hide, {n: int(w) for n, w in widths.items() if n in by_name})


def load(user: Any, info: TableInfo) -> Layout:
    """The user's layout of this table (the table's own order when none is saved)."""
    row = _row(user, info)
    if row is None:
        return _arrange(info, [], [], {})
    return _arrange(info, list(row.order), list(row.hidden), dict(row.widths))


def _names(info: TableInfo, value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise BadRequest(f"{what} must be a list of column names.", hint=HINT)
    known = {c.name for c in info.columns}
    unknown = [n for n in value if n not in known]
    if unknown:
        raise BadRequest(f"{info.ref.name} has no column {unknown[0]!r}.", hint=HINT, code="unknown_column")
    if len(set(value)) != len(value):
        raise BadRequest(f"{what} names a column twice.", hint=HINT)
    return list(value)


def _widths(info: TableInfo, value: Any, saved: dict[str, int]) -> dict[str, int]:
    if not isinstance(value, dict):
        raise BadRequest("widths must be an object of column name → pixels.", hint=HINT)
    _names(info, list(value), "widths")
    out = dict(saved)
    for name, px in value.items():
        if px is None:
            out.pop(name, None)
        elif isinstance(px, bool) or not isinstance(px, (int, float)) or not MIN_WIDTH <= px <= MAX_WIDTH:
            raise BadRequest(f"The width of {name!r} must be a number of pixels from {MIN_WIDTH} to {MAX_WIDTH}.", hint=HINT)
        else:
            out[name] = round(px)
    return out


def save(user: Any, info: TableInfo, body: Any) -> Layout:
    """Replace the parts of the layout ``body`` names (order, hidden, widths); return the whole layout."""
    if not isinstance(body, dict) or not body or set(body) - {"order", "hidden", "widths"}:
        raise BadRequest("Expected a JSON object with order, hidden and/or widths.", hint=HINT)
    current = load(user, info)
    order = _names(info, body["order"], "order") if "order" in body else [c.name for c in current.ordered]
    hidden = _names(info, body["hidden"], "hidden") if "hidden" in body else sorted(current.hidden)
    if len(set(hidden)) >= len(info.columns):
        raise BadRequest("At least one column must stay visible.", hint="Show another column before hiding this one.")
    widths = _widths(info, body["widths"], current.widths) if "widths" in body else current.widths
    layout = _arrange(info, order, hidden, widths)
    ColumnPrefs.objects.update_or_create(user=user, project=project_key(), table=info.ref.slug, defaults={
        "order": [c.name for c in layout.ordered], "hidden": sorted(layout.hidden), "widths": layout.widths})
    return layout


def reset(user: Any, info: TableInfo) -> Layout:
    """Forget the user's layout of this table: the table's own order, every column, natural widths."""
    ColumnPrefs.objects.filter(user=user, project=project_key(), table=info.ref.slug).delete()
    return load(user, info)


def apply_form(user: Any, info: TableInfo, post: Any) -> Layout:
    """The columns menu without JS: ``show`` = the ticked columns, ``move`` = ``<name>:left|right``, ``reset``."""
    if post.get("reset"):
        return reset(user, info)
    current = load(user, info)
    order = [c.name for c in current.ordered]
    move = post.get("move", "")
    if move:
        name, _, way = move.rpartition(":")
        if name not in order or way not in ("left", "right"):
            raise BadRequest(f"Cannot move {name or move!r} {way or ''}".rstrip() + ".",
                             hint="Use the arrows of the columns menu on the grid.")
        i = order.index(name)
        j = i - 1 if way == "left" else i + 1
        if 0 <= j < len(order):
            order[i], order[j] = order[j], order[i]
    body: dict[str, Any] = {"order": order}
    if "columns" in post:  # the menu lists every column: the unticked ones are hidden
        shown = set(post.getlist("show"))
        body["hidden"] = [n for n in order if n not in shown]
    return save(user, info, body)
