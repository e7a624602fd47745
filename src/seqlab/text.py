"""Make text that came from a submission safe to store, print and render.

Anything a submission controls (exception messages, type names, file and folder names) may hold
lone surrogates (which make a UTF-8 write fail), terminal escape sequences, bidi overrides,
newlines that forge Markdown headings, or a megabyte of text. Everything such text passes
through on the trusted side goes through `clean_line` (one capped line, no control characters)
or `clean_id` (the same, but reversible enough to stay unique), then the escaper of the medium
it is written to (`markdown_escape`, `html.escape`, Rich's `escape`).
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["clean_id", "clean_line", "markdown_escape", "safe_file_stem"]

# C0 and C1 controls, DEL, zero-width and bidi formatting characters, line/paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"\s+")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]()<>#|~!&$])")
_FILE_UNSAFE = re.compile(r"[^\w.+@-]")


def clean_line(value: object, limit: int = 300) -> str:
    """One line of at most `limit` characters: no lone surrogates, no control characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > 4 * limit:  # never run the regexes over a megabyte we are about to cut anyway
        text = text[: 4 * limit]
    text = _SURROGATE.sub("\ufffd", text)
    text = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _escape_char(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte of a file name (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean_id(value: object, limit: int = 300) -> str:
    """A student id for results and terminals: bytes that are not UTF-8 and control characters
    become visible escapes (so two such names stay distinct); overlong ids keep a hash."""
    text = value if isinstance(value, str) else str(value)
    escaped = _CONTROL.sub(lambda m: _escape_char(m.group()), text)
    escaped = _SURROGATE.sub(lambda m: _escape_char(m.group()), escaped)
    if len(escaped) > limit:
        escaped = f"{escaped[: limit - 9]}~{_digest(text)}"
    return escaped or "(unnamed)"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def safe_file_stem(student: str, taken: set[str], limit: int = 60) -> str:
    """A file name stem for the student's feedback: portable characters, short, unique in `taken`
    (compared case-insensitively). An id that had to change keeps a short hash of the original."""
    stem = _FILE_UNSAFE.sub("_", student)[:limit].lstrip(".") or "_"
    if stem != student or stem.lower() in taken:
        stem = f"{stem[: limit - 9]}-{_digest(student)}"
        while stem.lower() in taken:
            stem = f"{stem[: limit - 9]}-{_digest(stem)}"
    taken.add(stem.lower())
    return stem


def markdown_escape(text: str) -> str:
    """Text rendered literally in Markdown: one line, every markup character backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", clean_line(text, 10**6))
