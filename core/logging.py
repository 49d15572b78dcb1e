"""A logging filter that keeps secrets out of every log line, and forged lines out of the log.

The target URL's password (and the internal DB's) are registered here when known; every
record passing through the console handler has them replaced by ``***``. This is a net under
``mask_url``: code should already print masked URLs, the filter catches what slips through
(e.g. a driver's error message that quotes the DSN).

Control characters are escaped too: a request path with ``%0A`` (or ``\r``, ANSI escapes) must
not start a line of its own that reads like a real log record. Arguments — where request data
arrives — are escaped entirely (``\n`` becomes the two characters ``\\n``); in the message
itself and in tracebacks, which are multi-line on purpose, every continuation line is indented
so that it can never pass for a record of its own.
"""

from __future__ import annotations

import logging
import re

_secrets: set[str] = set()
# password in any URL-looking string: scheme://user:PASSWORD@host
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)([^@\s]+)(@)", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)
# C0 controls but tab, DEL, C1 controls, and the Unicode line/paragraph separators.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
CONTINUATION = "\n    "


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in "\n\r":
        return "\\n" if char == "\n" else "\\r"
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def escape_controls(text: str) -> str:
    """``text`` on one line: every control character written as an escape (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(_escape_char, text)


def indent_lines(text: str) -> str:
    """Multi-line text with controls escaped and every line after the first indented."""
    text = _CONTROL_BUT_NEWLINE.sub(_escape_char, text)
    return text.replace("\n", CONTINUATION) if "\n" in text else text


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


def _escaped_args(args: object) -> object:
    if isinstance(args, tuple):
        return tuple(escape_controls(a) if isinstance(a, str) else
                     escape_controls(a.decode("utf-8", "replace")) if isinstance(a, bytes) else a for a in args)
    if isinstance(args, dict):
        return {k: escape_controls(v) if isinstance(v, str) else v for k, v in args.items()}
    return args


class MaskSecretsFilter(logging.Filter):
    """Rewrites the formatted message of each record: secrets masked, control characters escaped."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if record.args:
                record.args = _escaped_args(record.args)  # type: ignore[assignment]
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not break logging
            return True
        cleaned = indent_lines(scrub(message))
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # Format the traceback now, scrubbed, so the handler does not print the raw one.
            record.exc_text = indent_lines(scrub(logging.Formatter().formatException(record.exc_info)))
            record.exc_info = None
        return True
