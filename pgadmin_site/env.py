"""Small environment helpers that fail loudly.

Every setting of the tool comes from the environment (see DESIGN.md). A bad value must stop
the start with a message that says what is wrong and how to fix it, never a stack trace deep
inside a request, so each helper raises ``ImproperlyConfigured`` with a hint.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    """Return the variable stripped of surrounding blanks, or ``default``."""
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    """Parse 1/0, true/false, yes/no, on/off (any case)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a yes/no value. Hint: use {name}=1 to enable or {name}=0 to disable."
    )


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Parse a whole number within optional bounds."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number. Hint: e.g. {name}={default}.") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ImproperlyConfigured(
            f"{name}={value} is out of range. Hint: choose a value between {minimum} and {maximum}."
        )
    return value


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)?$")
_UNIT_MS = {"ms": 1, "s": 1000, None: 1000, "min": 60_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration_ms(name: str, raw: str) -> int:
    """Turn ``30s``, ``500ms``, ``2min`` or a bare number of seconds into milliseconds."""
    match = _DURATION.match(raw.strip().lower())
    if not match:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a duration. Hint: write it like 30s, 500ms, 2min, 12h or 30d."
        )
    value = float(match.group(1)) * _UNIT_MS[match.group(2)]
    if value < 1:
        raise ImproperlyConfigured(f"{name}={raw!r} is too short. Hint: at least 1ms, e.g. 30s.")
    return int(value)


def env_duration_ms(name: str, default: str) -> int:
    """A duration variable in milliseconds (``PGADMIN_STATEMENT_TIMEOUT=30s``)."""
    return parse_duration_ms(name, os.environ.get(name, default) or default)


def env_path(name: str, default: str | Path) -> Path:
    """An absolute path (relative values are taken from the current directory)."""
    raw = env_str(name) or str(default)
    return Path(raw).expanduser().resolve()


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One value from a fixed list."""
    value = env_str(name, default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of {', '.join(choices)}.")
    return value


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(b|kb|k|mb|m|gb|g)?$")
_UNIT_BYTES = {None: 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}


def env_bytes(name: str, default: int, *, minimum: int = 1) -> int:
    """A size in bytes: ``52428800``, ``50MB``, ``512kB``, ``1GB`` (binary units)."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    match = _SIZE.match(raw.strip().lower())
    if not match:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a size. Hint: write it like 50MB, 512kB or 1GB.")
    value = int(float(match.group(1)) * _UNIT_BYTES[match.group(2)])
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} is too small. Hint: at least {minimum} bytes.")
    return value
