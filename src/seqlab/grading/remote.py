"""What a hidden grader holds: proxies for objects that live in the submission's sandbox.

A grader never touches student objects. `submission.get("MultiHeadedAttention")` returns a
`Remote`; calling it constructs the module in the sandbox and returns another `Remote`; calling
that with tensors runs `forward` there and returns *decoded plain tensors* here. Anything that
cannot cross as data (modules, numpy arrays, functions) comes back as a `Remote`.
"""

from __future__ import annotations

import builtins
import re
from typing import Any

import torch

from seqlab.sandbox.client import SandboxSession
from seqlab.sandbox.codec import decode_value, encode_value
from seqlab.sandbox.wire import ProtocolError, RefToken
from seqlab.text import clean_line

__all__ = ["MissingDefinition", "Remote", "StudentError", "Submission"]

# Values printed to many decimals are what a repr of the hidden inputs looks like: never echoed.
_PRECISE_NUMBER = re.compile(r"[-+]?\d*\.\d{4,}(?:[eE][-+]?\d+)?")
_BUILTIN_EXCEPTIONS = frozenset(name for name, obj in vars(builtins).items()
                                if isinstance(obj, type) and issubclass(obj, BaseException))


class StudentError(Exception):
    """The submission's code raised. Carries the type name, builtin bases and cell/line.

    Everything in `info` came from the submission's process: it is cleaned and capped here
    (a short type name, a message of a few hundred characters, only real builtin exception
    names as bases, numbers printed to four or more decimals blanked), so what reaches
    feedback is bounded whatever the child sends and carries no repr of the hidden inputs."""

    def __init__(self, info: dict[str, Any]) -> None:
        info = info if isinstance(info, dict) else {}
        self.type_name = clean_line(info.get("type") or "Exception", 80)
        bases = info.get("bases")
        self.bases = [b for b in bases[:64] if b in _BUILTIN_EXCEPTIONS] if isinstance(bases, list) else []
        self.detail = _PRECISE_NUMBER.sub("…", clean_line(info.get("message") or "", 200))
        where = info.get("where")
        self.where = clean_line(where, 40) if isinstance(where, str) else None
        super().__init__(self.describe())

    def is_a(self, builtin_name: str) -> bool:
        """True if the raised exception derives from the builtin exception named here."""
        return builtin_name in self.bases

    def describe(self) -> str:
        text = f"{self.type_name}: {self.detail}" if self.detail else self.type_name
        return f"{text} ({self.where})" if self.where else text


class MissingDefinition(StudentError):
    """The submission does not define a name the assignment asks for."""

    def __init__(self, name: str) -> None:
        super().__init__({"type": "NameError", "bases": ["NameError"],
                          "message": f"submission does not define `{name}`"})
        self.name = name

    def describe(self) -> str:
        return self.detail


class Submission:
    """The `submission` fixture: look up names, send tensors, seed, back-propagate."""

    def __init__(self, session: SandboxSession) -> None:
        self.session = session

    def _request(self, message: dict[str, Any], blobs: list[bytes] | None = None,
                 generation: int | None = None) -> Any:
        reply, reply_blobs = self.session.request(message, blobs, generation)
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            raise ProtocolError("malformed reply")
        if not reply["ok"]:
            raise StudentError(reply.get("error") or {})
        return decode_value(reply.get("value"), reply_blobs, self._remote)

    def _remote(self, token: RefToken) -> Remote:
        return Remote(self, token, self.session.generation)

    def _encode(self, values: Any) -> tuple[Any, list[bytes]]:
        blobs: list[bytes] = []

        def refuse(value: Any) -> RefToken:
            raise TypeError(f"cannot send {type(value).__name__} to a submission")

        return encode_value(_swap_remotes(values), blobs, refuse), blobs

    @property
    def defined_names(self) -> list[str]:
        self.session.ensure_loaded()
        return list(self.session.defined)

    def has(self, name: str) -> bool:
        return name in self.defined_names

    def get(self, name: str) -> Remote:
        """The object the submission bound to `name`; MissingDefinition if there is none."""
        if not self.has(name):
            raise MissingDefinition(name)
        return self._request({"op": "lookup", "name": name})

    __getitem__ = get

    def put(self, tensor: torch.Tensor) -> Remote:
        """Place a tensor in the sandbox (keeping requires_grad) to read its .grad later."""
        value, blobs = self._encode(tensor)
        return self._request({"op": "put", "value": value}, blobs)

    def seed(self, seed: int) -> None:
        """Seed torch's global RNG inside the sandbox (dropout, sampling, training)."""
        self._request({"op": "seed", "seed": int(seed)})


def _swap_remotes(value: Any) -> Any:
    if isinstance(value, Remote):
        return value.token
    if isinstance(value, tuple):
        return tuple(_swap_remotes(v) for v in value)
    if isinstance(value, list):
        return [_swap_remotes(v) for v in value]
    if isinstance(value, dict):
        return {k: _swap_remotes(v) for k, v in value.items()}
    return value


class Remote:
    """A handle on an object inside the sandbox. Attribute access and calls are forwarded."""

    __slots__ = ("_generation", "_submission", "token")

    def __init__(self, submission: Submission, token: RefToken, generation: int) -> None:
        self._submission = submission
        self.token = token
        self._generation = generation

    @property
    def type_name(self) -> str:
        """Fully qualified type name, as the submission reports it (informational only)."""
        return self.token.type_name

    def __repr__(self) -> str:
        return f"<remote {self.token.type_name}>"

    def _op(self, op: str, blobs: list[bytes] | None = None, **fields: Any) -> Any:
        return self._submission._request({"op": op, "target": self.token.ref_id, **fields},
                                         blobs, self._generation)

    def _call(self, keep: bool, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        encoded, blobs = self._submission._encode([list(args), kwargs])
        return self._op("call", blobs, args=encoded[0], kwargs=encoded[1], keep=keep)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call it in the sandbox; the result comes back decoded (tensors are plain here)."""
        return self._call(False, args, kwargs)

    def keep(self, *args: Any, **kwargs: Any) -> Remote:
        """Call it but leave the result in the sandbox (to back-propagate through it later)."""
        return self._call(True, args, kwargs)

    def __getattr__(self, name: str) -> Remote:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._op("getattr", name=name, keep=True)

    def attr(self, name: str) -> Any:
        """Read an attribute's value, decoded."""
        return self._op("getattr", name=name, keep=False)

    def __getitem__(self, index: Any) -> Remote:
        encoded, blobs = self._submission._encode(index)
        return self._op("getitem", blobs, index=encoded, keep=True)

    def fetch(self) -> Any:
        """Decode the object itself (tensors, numbers, tuples ...)."""
        return self._op("fetch")

    def load_parameters(self, source: torch.nn.Module | dict[str, torch.Tensor]) -> None:
        """Copy parameters in by name (from a torch module's state or a dict); each dotted name is
        resolved on the student's module by attribute path, into exactly the module it names."""
        params = dict(source.named_parameters()) if isinstance(source, torch.nn.Module) else source
        encoded, blobs = self._submission._encode({k: v.detach() for k, v in params.items()})
        self._op("load_params", blobs, params=encoded)

    def parameters_by_name(self) -> dict[str, torch.Tensor]:
        """Every entry of the module's named_parameters() (a module bound twice: first name only)."""
        return self._op("params", grads=False)

    def gradients_by_name(self) -> dict[str, torch.Tensor | None]:
        return self._op("params", grads=True)

    def parameters_at(self, names: list[str] | tuple[str, ...]) -> dict[str, torch.Tensor | None]:
        """The parameters the spec names (`lin_Q.weight` ...), each resolved on the student's module
        by attribute path, so aliases and shared modules count; None where a path reaches nothing."""
        return self._op("params", grads=False, names=[str(n) for n in names])

    def gradients_at(self, names: list[str] | tuple[str, ...]) -> dict[str, torch.Tensor | None]:
        """The .grad of the parameters named, resolved like `parameters_at`."""
        return self._op("params", grads=True, names=[str(n) for n in names])

    def backward(self, grad: torch.Tensor | None = None) -> None:
        """Back-propagate from this (kept) tensor inside the sandbox."""
        encoded, blobs = self._submission._encode(grad)
        self._op("backward", blobs, grad=encoded)

    def grad(self) -> torch.Tensor | None:
        """The .grad of a tensor placed with `submission.put`."""
        return self._op("grad")
