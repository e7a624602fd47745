"""The one error type users see: what went wrong, and what to do next, on one line."""

from __future__ import annotations

__all__ = ["SeqlabError", "UsageError"]


class SeqlabError(Exception):
    """An expected failure reported as a single line; `hint` says what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(SeqlabError):
    """Bad command-line input: unknown assignment, missing path, nothing to grade. Exit 2."""

    exit_code = 2
