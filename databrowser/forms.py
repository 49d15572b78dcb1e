"""Create/edit forms generated from a reflected table.

Field names are positional (``c0``, ``c1``…) because column names may hold any character;
labels carry the real names. Types are validated here, before the database sees them; what
the database fills itself (server defaults, identity, serial) is optional and left out when
empty. A nullable text column gets a "NULL" box so NULL and the empty string stay distinct.
The same form cleans the JSON of the API (``values_from_json``).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.urls import reverse

from databrowser.formatting import as_text
from databrowser.models_info import ModelColumn
from databrowser.query import ColumnInfo, TableInfo

INT_RANGES = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}


def _hex_bytes(text: str) -> bytes:
    raw = text.strip()
    if raw.startswith("\\x"):
        raw = raw[2:]
    try:
        return bytes.fromhex(raw)
    except ValueError:
        raise forms.ValidationError("Write bytes as hex, e.g. \\x0a1b2c.") from None


def _check_hex(text: str) -> None:
    _hex_bytes(text)


class JsonValueField(forms.JSONField):
    """JSON/JSONB: an empty box is NULL (Django would show None as the text "null"); {} and [] are values."""

    empty_values = [None, ""]

    def prepare_value(self, value: Any) -> Any:
        if value is None:
            return ""
        return super().prepare_value(value)


class JsonListField(forms.CharField):
    """An array column: a JSON list (``["a", "b"]`` or ``[1, 2]``)."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, list):
            return value
        text = super().to_python(value)
        if text in ("", None):
            return None
        try:
            data = json.loads(text)
        except ValueError:
            raise forms.ValidationError('Write the array as a JSON list, e.g. ["a", "b"].') from None
        if not isinstance(data, list):
            raise forms.ValidationError('Write the array as a JSON list, e.g. ["a", "b"].')
        return data


def _label(col: ColumnInfo, mc: ModelColumn | None) -> str:
    """An FK column fed by a model relationship is labelled by it: "client (clients.id)"."""
    if col.fk is None or mc is None or not mc.relationship:
        return col.name
    ref = col.fk.ref
    where = ref.name if ref.schema == "public" else f"{ref.schema}.{ref.name}"
    return f"{mc.relationship} ({where}.{col.fk.ref_columns[col.fk.columns.index(col.name)]})"


def _stricter(db: int | None, model: int | None) -> int | None:
    """The smaller of the database's and the model's limit (either may be absent)."""
    return min(x for x in (db, model) if x) if (db or model) else None


def field_for(col: ColumnInfo, *, creating: bool, fk_url: str | None, model: ModelColumn | None = None) -> forms.Field:
    required = not col.nullable and not (creating and col.has_default)
    attrs: dict[str, Any] = {"data-kind": col.kind}
    help_text = col.type_label
    if col.has_default and creating:
        help_text += " · empty = database default"
    if model is not None and model.hint:
        help_text += f" · {model.hint}"
    kw: dict[str, Any] = {"required": required, "label": _label(col, model), "help_text": help_text}
    max_length = _stricter(col.max_length, model.max_length if model else None)
    precision, scale = col.precision, col.scale
    if not precision and model is not None and model.precision:
        precision, scale = model.precision, model.scale
    field: forms.Field
    if col.kind == "int":
        bound = INT_RANGES.get(col.type_label, 2**63)
        field = forms.IntegerField(min_value=-bound, max_value=bound - 1, **kw)
    elif col.kind == "numeric":
        if precision:
            field = forms.DecimalField(max_digits=precision, decimal_places=scale or 0, **kw)
        else:
            field = forms.DecimalField(**kw)
    elif col.kind == "float":
        field = forms.FloatField(**kw)
    elif col.kind == "bool":
        choices = [("", "NULL" if col.nullable else "—")] + [("true", "true"), ("false", "false")]
        field = forms.TypedChoiceField(choices=choices, coerce=lambda v: v == "true", empty_value=None, **kw)
    elif col.kind == "enum" or (col.kind == "text" and model is not None and model.enum_values):
        # a database enum's labels; a non-native Enum (varchar + CHECK) of the model: its values
        values = col.enum_values if col.kind == "enum" else model.enum_values  # type: ignore[union-attr]
        choices = [("", "NULL" if col.nullable else "—")] + [(v, v) for v in values]
        field = forms.ChoiceField(choices=choices, **kw)
    elif col.kind == "date":
        field = forms.DateField(**kw)
        attrs["placeholder"] = "YYYY-MM-DD"
    elif col.kind == "datetime":
        field = forms.DateTimeField(**kw)
        attrs["placeholder"] = "YYYY-MM-DD HH:MM:SS+00:00"
    elif col.kind == "time":
        field = forms.TimeField(**kw)
    elif col.kind == "uuid":
        field = forms.UUIDField(**kw)
    elif col.kind == "json":
        field = JsonValueField(widget=forms.Textarea(attrs={"rows": 3}), **kw)
    elif col.kind == "array":
        field = JsonListField(widget=forms.TextInput(), strip=False, **kw)
    elif col.kind == "bytea":
        field = forms.CharField(validators=[_check_hex], **kw)
        attrs["placeholder"] = "\\x0a1b2c"
    else:  # text, interval, inet, tsvector, geometric…: PostgreSQL parses the text
        widget = forms.Textarea(attrs={"rows": 2}) if col.kind == "text" and not max_length else forms.TextInput()
        field = forms.CharField(max_length=max_length, strip=False, widget=widget, **kw)
        field.empty_value = None if col.kind != "text" else ""
    if col.kind in ("int", "numeric", "float") and not fk_url:
        # a text box, not <input type=number>: browsers drop the letters of "12x4" silently ("124")
        # or send an empty value; here the server refuses the text as typed, with its message
        field.widget = forms.TextInput()
        attrs["inputmode"] = "numeric" if col.kind == "int" else "decimal"
        attrs["class"] = (attrs.get("class", "") + " num").strip()
    if fk_url:  # a searchable picker: free text (a label search), not a number spinner
        field.widget = forms.TextInput()
        attrs["data-fk-lookup"] = fk_url
        attrs["autocomplete"] = "off"
    field.widget.attrs.update(attrs)
    return field


def editable_columns(info: TableInfo, creating: bool) -> list[ColumnInfo]:
    cols = [c for c in info.columns if not c.identity_always]
    if not creating:
        cols = [c for c in cols if not c.is_pk]
    return cols


def fk_lookup_url(col: ColumnInfo) -> str | None:
    if col.fk is None:
        return None
    idx = col.fk.columns.index(col.name)
    base = reverse("data-lookup", args=[col.fk.ref.slug])
    from urllib.parse import urlencode

    return base + "?" + urlencode({"column": col.fk.ref_columns[idx]})


def _initial_default(col: ColumnInfo, mc: ModelColumn) -> Any:
    """A scalar Python-side default as the form shows it (booleans as the select's values)."""
    value = mc.default_value
    if col.kind == "bool":
        return "" if value is None else ("true" if value else "false")
    return "" if value is None else as_text(value, col.kind)


def row_form(info: TableInfo, *, creating: bool, data: Any = None, row: dict[str, Any] | None = None,
             model: dict[str, ModelColumn] | None = None) -> forms.Form:
    """The create/edit form of a table (bound when ``data`` is given). ``model``: what the model
    says per column (``models_info.form_model``): enum class, Python-side defaults (scalars are
    pre-filled on create, callables named), relationship names as labels, String(n) / Numeric(p, s)."""
    fields: dict[str, forms.Field] = {}
    initial: dict[str, Any] = {}
    model = model or {}
    for col in editable_columns(info, creating):
        key = f"c{col.position}"
        mc = model.get(col.name)
        fields[key] = field_for(col, creating=creating, fk_url=fk_lookup_url(col), model=mc)
        fields[key].column_name = col.name  # type: ignore[attr-defined]  # the template's data-column
        if col.kind == "text" and col.nullable:
            fields[key + "__null"] = forms.BooleanField(required=False, label="NULL")
        if creating and row is None and mc is not None and mc.has_scalar_default:
            initial[key] = _initial_default(col, mc)
            if col.kind == "text" and col.nullable:
                initial[key + "__null"] = mc.default_value is None
            continue
        if row is not None:
            value = row.get(col.name)
            if col.kind == "json":
                initial[key] = value
            elif col.kind == "bool":
                initial[key] = "" if value is None else ("true" if value else "false")
            else:
                initial[key] = "" if value is None else as_text(value, col.kind)
            if col.kind == "text" and col.nullable:
                initial[key + "__null"] = value is None
        elif col.kind == "text" and col.nullable:
            initial[key + "__null"] = True
    form_class = type("RowForm", (forms.Form,), dict(fields))
    form = form_class(data=data, initial=initial)
    form.columns = {f"c{c.position}": c for c in editable_columns(info, creating)}  # type: ignore[attr-defined]
    return form


def cleaned_values(info: TableInfo, form: forms.Form, *, creating: bool, only_changed: bool) -> dict[str, Any]:
    """Column name -> value to write, from a valid form."""
    out: dict[str, Any] = {}
    columns: dict[str, ColumnInfo] = form.columns  # type: ignore[attr-defined]
    changed = set(form.changed_data)
    for key, col in columns.items():
        if only_changed and key not in changed and f"{key}__null" not in changed:
            continue
        value = form.cleaned_data.get(key)
        if col.kind == "text" and col.nullable and value == "" and form.cleaned_data.get(f"{key}__null"):
            value = None
        if col.kind == "bytea" and value not in (None, ""):
            value = _hex_bytes(value)
        elif col.kind == "bytea":
            value = None
        if creating and col.has_default and value in (None, ""):
            continue  # the database fills it
        if value == "" and col.kind not in ("text",):
            value = None
        out[col.name] = value
    return out


def values_from_json(info: TableInfo, body: Any, *, creating: bool,
                     model: dict[str, ModelColumn] | None = None) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Clean an API body (column name -> value) with the same fields; returns (values, errors)."""
    if not isinstance(body, dict):
        return {}, {"__all__": ["Send a JSON object keyed by column name."]}
    by_name = {c.name: c for c in editable_columns(info, creating)}
    unknown = [k for k in body if k not in by_name]
    if unknown:
        names = ", ".join(repr(k) for k in unknown[:5])
        return {}, {"__all__": [f"Unknown or read-only column(s): {names}."]}
    data: dict[str, Any] = {}
    for name, col in by_name.items():
        key = f"c{col.position}"
        if name not in body:
            continue
        value = body[name]
        if value is None:
            data[key] = ""
            if col.kind == "text":
                data[key + "__null"] = "on"
        elif col.kind == "json":
            data[key] = json.dumps(value)
        elif col.kind == "bool":
            data[key] = "true" if value is True else "false" if value is False else str(value)
        elif col.kind == "array":
            data[key] = json.dumps(value) if isinstance(value, list) else str(value)
        else:
            data[key] = str(value)
    form = row_form(info, creating=creating, data=data, model=model)
    if not creating:
        # A PUT changes only what it names: drop the fields it did not send.
        for key in list(form.fields):
            base = key.removesuffix("__null")
            if base not in data:
                del form.fields[key]
        form.columns = {k: v for k, v in form.columns.items() if k in data}  # type: ignore[attr-defined]
    if not form.is_valid():
        errors = {form.columns[k].name if k in form.columns else k: [str(e) for e in errs]  # type: ignore[attr-defined]
                  for k, errs in form.errors.items()}
        return {}, errors
    values = cleaned_values(info, form, creating=creating, only_changed=False)
    return values, {}
