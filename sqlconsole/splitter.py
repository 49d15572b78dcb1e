"""Split a SQL script into statements, the way PostgreSQL's lexer sees the semicolons.

A semicolon ends a statement only at the top level: not inside '…' strings (with '' escapes),
E'…' strings (with backslash escapes), "…" identifiers, $tag$…$tag$ bodies, -- line comments,
nested /* … */ comments, parentheses, or a ``BEGIN ATOMIC … END`` function body. Each
statement keeps its character offset in the script, so an error position reported by
PostgreSQL for one statement maps back to the place in the editor.

This is deliberately small and tested; it is a convenience, not the safety boundary: every
statement is then sent with the extended query protocol, which refuses several commands in
one message, so a splitting mistake can only produce an error, never an extra command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\u0080-\uffff][A-Za-z_0-9\u0080-\uffff]*)?\$")
_WORD = re.compile(r"[A-Za-z_\u0080-\uffff][A-Za-z_0-9$\u0080-\uffff]*")


@dataclass(frozen=True)
class Statement:
    """One statement: its text (without the final semicolon) and where it starts in the script."""

    text: str
    start: int  # character offset of text[0] in the script

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    @property
    def keyword(self) -> str:
        return first_keyword(self.text)


def _skip_quoted(script: str, i: int, quote: str, backslash: bool) -> int:
    """Index just past the closing quote of the literal whose opening quote is at ``i``."""
    n = len(script)
    i += 1
    while i < n:
        ch = script[i]
        if backslash and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and script[i + 1] == quote:  # doubled quote = escaped quote
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _skip_block_comment(script: str, i: int) -> int:
    depth, n = 0, len(script)
    while i < n:
        if script.startswith("/*", i):
            depth += 1
            i += 2
        elif script.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n


def _word_char_before(script: str, i: int) -> bool:
    """True when ``script[i]`` continues a word ($ inside an identifier like a$b is not a quote)."""
    return i > 0 and (script[i - 1].isalnum() or script[i - 1] in "_$")


def _lexemes(script: str):  # type: ignore[no-untyped-def]
    """Yield (kind, start, end) for the top-level pieces that matter to splitting."""
    i, n = 0, len(script)
    while i < n:
        ch = script[i]
        if ch == "-" and script.startswith("--", i):
            end = script.find("\n", i)
            end = n if end < 0 else end + 1
            yield "comment", i, end
            i = end
        elif ch == "/" and script.startswith("/*", i):
            end = _skip_block_comment(script, i)
            yield "comment", i, end
            i = end
        elif ch == "'":
            # E'…' / e'…' strings honour backslash escapes (the prefix letter was a word).
            backslash = i > 0 and script[i - 1] in "eE" and (i < 2 or not (script[i - 2].isalnum() or script[i - 2] == "_"))
            end = _skip_quoted(script, i, "'", backslash)
            yield "string", i, end
            i = end
        elif ch == '"':
            end = _skip_quoted(script, i, '"', False)
            yield "ident", i, end
            i = end
        elif ch == "$" and (match := _DOLLAR_TAG.match(script, i)) and not _word_char_before(script, i):
            tag = match.group(0)
            close = script.find(tag, match.end())
            end = n if close < 0 else close + len(tag)
            yield "dollar", i, end
            i = end
        elif ch in "();":
            yield ch, i, i + 1
            i += 1
        elif ch.isalpha() or ch == "_":
            match = _WORD.match(script, i)
            end = match.end() if match else i + 1
            yield "word", i, end
            i = end
        else:
            i += 1


def split(script: str) -> list[Statement]:
    """The statements of ``script`` (empty and comment-only pieces dropped), with offsets."""
    statements: list[Statement] = []
    start = 0
    depth = 0  # parentheses
    atomic = 0  # BEGIN ATOMIC … END bodies (SQL-standard function bodies)
    previous_word = ""
    meaningful = False

    def flush(end: int) -> None:
        nonlocal meaningful
        piece = script[start:end]
        if meaningful:
            stripped_left = len(piece) - len(piece.lstrip())
            text = piece.strip()
            statements.append(Statement(text=text, start=start + stripped_left))
        meaningful = False

    for kind, lo, hi in _lexemes(script):
        if kind == "comment":
            continue
        if kind == ";" and depth == 0 and atomic == 0:
            flush(lo)
            start = hi
            previous_word = ""
            continue
        meaningful = meaningful or kind != ";"
        if kind == "(":
            depth += 1
        elif kind == ")":
            depth = max(0, depth - 1)
        elif kind == "word":
            word = script[lo:hi].upper()
            if word == "ATOMIC" and previous_word == "BEGIN":
                atomic += 1
            elif word == "END" and atomic and depth == 0:
                # "END" closes the body unless it closes a CASE inside it; CASE … END nests.
                atomic -= 1
            elif word == "CASE" and atomic:
                atomic += 1
            previous_word = word
    flush(len(script))
    return [s for s in statements if strip_comments(s.text).strip()]


def strip_comments(text: str) -> str:
    """The text with comments replaced by spaces (offsets keep their meaning)."""
    out = list(text)
    for kind, lo, hi in _lexemes(text):
        if kind == "comment":
            for k in range(lo, hi):
                out[k] = " " if text[k] != "\n" else "\n"
    return "".join(out)


def first_keyword(text: str) -> str:
    """The statement's first word in upper case ('' when it starts with something else)."""
    match = _WORD.match(strip_comments(text).lstrip("( \t\r\n"))
    return match.group(0).upper() if match else ""


def words(text: str) -> list[str]:
    """Top-level-agnostic list of the statement's words (upper case), strings and comments skipped."""
    return [text[lo:hi].upper() for kind, lo, hi in _lexemes(text) if kind == "word"]


def statement_at(script: str, offset: int) -> Statement | None:
    """The statement under a cursor offset (the one before it when the cursor is between two)."""
    best: Statement | None = None
    for stmt in split(script):
        if stmt.start <= offset:
            best = stmt
        if stmt.start <= offset <= stmt.end + 1:
            return stmt
    return best
