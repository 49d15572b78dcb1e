"""A logging filter that keeps secrets out of every log line.

The target URL's password (and the internal DB's) are registered here when known; every
record passing through the console handler has them replaced by ``***``. This is a net under
``mask_url``: code should already print masked URLs, the filter catches what slips through
(e.g. a driver's error message that quotes the DSN).
"""

from __future__ import annotations

import logging
import re

_secrets: set[str] = set()
# password in any URL-looking string: scheme://user:PASSWORD@host
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)([^@\s]+)(@)", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)


def register_secret(value: str | None) -> None:
    """Remember a value that must never appear in a log line or a page."""
    if value and len(value) >= 3:
        _secrets.add(value)


def scrub(text: str) -> str:
    """Replace registered secrets and URL/DSN passwords in ``text`` by ``***``."""
    text = _URL_PASSWORD.sub(r"\1***\3", text)
    text = _KV_PASSWORD.sub(r"\1***", text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class MaskSecretsFilter(logging.Filter):
    """Rewrites the formatted message of each record with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not break logging
            return True
        cleaned = scrub(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # Format the traceback now, scrubbed, so the handler does not print the raw one.
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
