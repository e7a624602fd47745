"""Assertions for hidden graders that fail with a student-readable line and a misconception id.

A grader raises `Misconception` (directly or through these helpers) to say *what* is wrong in
the student's terms; the rubric marker's misconception is the default when it does not. Only
the message given here ever reaches feedback: never grader source, never hidden values.

`fail(message, id)` is a diagnosis (a wrong oracle reproduced the result, a probe found the
cause of a crash). `differs(message, id)` only says plainly what differs: the plugin may still
charge it to a root cause an item this one `depends_on` already diagnosed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from seqlab.oracles.tolerance import ATOL, RTOL, describe_difference, is_close

from .remote import Remote, StudentError

__all__ = ["Misconception", "differs", "expect_close", "expect_raises", "expect_shape", "expect_tensor", "fail"]


class Misconception(AssertionError):
    """A failed rubric item, with the misconception that explains it (None: the marker's)."""

    def __init__(self, message: str, misconception: str | None = None, diagnosed: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.misconception = misconception
        self.diagnosed = diagnosed and misconception is not None


def fail(message: str, misconception: str | None = None) -> None:
    raise Misconception(message, misconception)


def differs(message: str, misconception: str | None = None) -> None:
    """Fail saying what differs, under an id that is not a diagnosis (e.g. wrong-output)."""
    raise Misconception(message, misconception, diagnosed=False)


def expect_tensor(value: Any, what: str) -> torch.Tensor:
    """The value must be a real tensor (not a numpy array, list or other object)."""
    if isinstance(value, torch.Tensor):
        return value
    kind = value.type_name if isinstance(value, Remote) else type(value).__name__
    raise Misconception(f"{what} should be a torch.Tensor, got {kind}", "not-a-tensor")


def expect_shape(value: Any, shape: tuple[int, ...], what: str, misconception: str | None = None) -> torch.Tensor:
    tensor = expect_tensor(value, what)
    if tuple(tensor.shape) != tuple(shape):
        raise Misconception(f"{what} has shape {tuple(tensor.shape)}, expected {tuple(shape)}",
                            misconception)
    return tensor


def expect_close(actual: Any, expected: torch.Tensor, what: str, misconception: str | None = None,
                 atol: float = ATOL, rtol: float = RTOL) -> torch.Tensor:
    """Fail with the tensor's name and its largest difference unless it matches the oracle."""
    tensor = expect_tensor(actual, what)
    if not is_close(tensor, expected, atol=atol, rtol=rtol):
        raise Misconception(f"{what} differs from the reference: {describe_difference(tensor, expected)}",
                            misconception)
    return tensor


def expect_raises(builtin_name: str, call: Callable[[], Any], what: str,
                  misconception: str | None = None) -> StudentError:
    """The call must raise an exception deriving from the builtin named (e.g. "ValueError")."""
    try:
        call()
    except StudentError as exc:
        if exc.is_a(builtin_name):
            return exc
        raise Misconception(f"{what} should raise {builtin_name}, but raised {exc.describe()}",
                            misconception) from None
    raise Misconception(f"{what} should raise {builtin_name}, but nothing was raised", misconception)
