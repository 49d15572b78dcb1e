"""``{% icon "next" %}``: small inline SVG icons (no emoji: their glyphs are missing from many fonts).

Strokes use ``currentColor``, so an icon takes the colour of the text around it; icons are decorative
(``aria-hidden``) unless given a ``label``, which becomes the accessible name.
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# 24×24 stroke paths (polylines and lines only: simple shapes drawn for this tool)
PATHS = {
    "first": "M18 17l-5-5 5-5M11 17l-5-5 5-5",
    "prev": "M15 18l-6-6 6-6",
    "next": "M9 18l6-6-6-6",
    "last": "M6 17l5-5-5-5M13 17l5-5-5-5",
    "x": "M18 6L6 18M6 6l12 12",
    "refresh": "M20 11a8 8 0 1 0-2.3 5.7M20 4v7h-7",
    "warning": "M12 3l10 18H2L12 3zM12 10v5M12 18v.5",
    "expand": "M15 3h6v6M9 21H3v-6M21 3l-7 7M3 21l7-7",
    "up": "M6 15l6-6 6 6",
    "down": "M6 9l6 6 6-6",
    "rows": "M3 6h18M3 12h18M3 18h18",
    "columns": "M4 4h16v16H4zM10 4v16M16 4v16",
    "edit": "M4 20h4L19 9l-4-4L4 16v4z",
    "copy": "M9 9h11v11H9zM5 15H4V4h11v1",
}


@register.simple_tag
def icon(name: str, label: str = "") -> SafeString:
    """The SVG of ``name`` (see PATHS); ``label`` makes it a titled image instead of decoration."""
    path = PATHS[name]
    aria = format_html('role="img" aria-label="{}"', label) if label else mark_safe('aria-hidden="true"')
    return format_html(
        '<svg class="icon" viewBox="0 0 24 24" width="14" height="14" fill="none" stroke="currentColor" '
        'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" focusable="false" {}><path d="{}"/></svg>',
        aria, path)
