"""Text filters for long machine names (URLs, paths) shown in narrow cards.

Browsers never break a line at ``/``, so ``postgres/brokerbot`` was cut mid-word in a narrow card
(issue 13). ``breakable`` escapes the text and offers a break (``<wbr>``) after each separator.
"""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_SEPARATOR = re.compile(r"([/@:.?&=_-])")


@register.filter
def breakable(value: object) -> SafeString:
    """The value, HTML-escaped, with an optional line break after ``/ @ : . ? & = _ -``."""
    parts = _SEPARATOR.split(str(value))
    return mark_safe("".join(escape(p) + ("<wbr>" if _SEPARATOR.fullmatch(p) else "") for p in parts))  # noqa: S308 - every part is escaped
