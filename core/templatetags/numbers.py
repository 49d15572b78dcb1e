"""Row counts in one style everywhere: ``{{ n|count }}`` → "10,000,960", ``{{ n|approx }}`` → "≈ 10.0 M".

The server writes the English grouping; ``static/js/app.js`` regroups every ``[data-n]`` in the
browser's own locale (Intl.NumberFormat), so a page reads "10.000.960" in Germany without the
server guessing the reader's locale.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def count(value: Any) -> SafeString | str:
    """An exact count with thousands grouping, marked for the browser's locale."""
    if value is None or value == "":
        return ""
    n = int(value)
    return format_html('<span data-n="{}">{}</span>', n, f"{n:,}")


def short(n: int) -> str:
    """10000960 → "10.0 M"; 12345 → "12.3 k"; small numbers in full."""
    for size, unit in ((1_000_000_000, "G"), (1_000_000, "M"), (10_000, "k")):
        if n >= size:
            return f"{n / (size if unit != 'k' else 1000):.1f} {unit}"
    return f"{n:,}"


@register.filter
def approx(value: Any) -> SafeString | str:
    """An estimate: "≈ 10.0 M" (never a precise-looking number for a planner's guess)."""
    if value is None or value == "":
        return ""
    n = int(value)
    return format_html('<span title="{} (an estimate)">≈ {}</span>', f"{n:,}", short(n))
