"""The submission side of the boundary: runs the student's cells and answers narrow requests.

Runs only inside the sandboxed child. Every request is a small dict; every answer is
`{"ok": True, "value": ...}` or `{"ok": False, "error": {...}}` where the error carries the
exception's type name, the builtin types it derives from (so the grader can ask "is it a
ValueError?" without trusting the class) and the student's cell/line. BaseException is caught
on purpose: `sys.exit`, `KeyboardInterrupt` and custom BaseException subclasses in student code
are just failures of that call.
"""

from __future__ import annotations

import builtins
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import torch

from seqlab.gradients import backward_from

from .codec import decode_value, encode_value
from .wire import RefToken

__all__ = ["CellTimeout", "Dispatcher", "discard_python_output", "resolve_parameter"]

_BUILTIN_EXCEPTIONS = {
    obj for obj in vars(builtins).values() if isinstance(obj, type) and issubclass(obj, BaseException)
}


class CellTimeout(BaseException):
    """Raised by SIGALRM when one cell runs past its time limit."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise CellTimeout()


def _student_location(tb: Any) -> str | None:
    location = None
    for frame, lineno in traceback.walk_tb(tb):
        name = frame.f_code.co_filename
        if name.startswith("<cell "):
            location = f"{name[1:-1]}, line {lineno}"
    return location


def resolve_parameter(module: torch.nn.Module, name: str) -> torch.Tensor | None:
    """The tensor a dotted name such as `lin_Q.weight` or `cells.0.bias_ih` reaches from `module`
    by attribute path (getattr chain; integer parts also index a list), or None.

    `named_parameters()` lists a module bound under two names only under its first, so the spec's
    names are resolved this way, on exactly the object the student bound to that name."""
    target: Any = module
    for part in name.split("."):
        if not part:
            return None
        try:
            target = getattr(target, part)
        except AttributeError:
            if not (part.isdigit() and isinstance(target, (list, tuple))) or int(part) >= len(target):
                return None
            target = target[int(part)]
    return target if isinstance(target, torch.Tensor) else None


def describe_exception(exc: BaseException) -> dict[str, Any]:
    kind = type(exc)
    bases = [c.__name__ for c in kind.__mro__ if c in _BUILTIN_EXCEPTIONS]
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 -- a hostile __str__
        message = "<unprintable message>"
    if isinstance(exc, SyntaxError) and exc.lineno:
        message = f"{exc.msg} (line {exc.lineno})"
    return {
        "type": kind.__name__[:100],
        "bases": bases,
        "message": message[:500],
        "where": _student_location(exc.__traceback__),
    }


class Dispatcher:
    """Holds the student's namespace and the objects handed out as references."""

    def __init__(self, module_name: str = "__main__") -> None:
        self.namespace: dict[str, Any] = {"__name__": module_name, "__builtins__": builtins,
                                          "display": lambda *a, **k: None}
        self.objects: dict[int, Any] = {}
        self._next_id = 1
        self.ops: dict[str, Callable[[dict[str, Any], list[bytes]], Any]] = {
            "lookup": self._lookup, "call": self._call, "getattr": self._getattr,
            "getitem": self._getitem, "fetch": self._fetch, "put": self._put,
            "load_params": self._load_params, "params": self._params, "backward": self._backward,
            "grad": self._grad, "seed": self._seed, "exec": self._exec,
        }

    # -- references -------------------------------------------------------------------------
    def as_ref(self, value: Any) -> RefToken:
        ref_id = self._next_id
        self._next_id += 1
        self.objects[ref_id] = value
        kind = type(value)
        try:
            summary = repr(value)[:120]
        except BaseException:  # noqa: BLE001 -- a hostile __repr__
            summary = f"<{kind.__name__}>"
        return RefToken(ref_id, f"{kind.__module__}.{kind.__qualname__}"[:200], summary)

    def _resolve(self, token: RefToken) -> Any:
        if token.ref_id not in self.objects:
            raise LookupError(f"unknown reference {token.ref_id}")
        return self.objects[token.ref_id]

    def _decode(self, obj: Any, blobs: list[bytes]) -> Any:
        return decode_value(obj, blobs, self._resolve)

    def _answer(self, value: Any, keep: bool) -> tuple[Any, list[bytes]]:
        blobs: list[bytes] = []
        if keep:
            return encode_value(self.as_ref(value), blobs, self.as_ref), blobs
        return encode_value(value, blobs, self.as_ref), blobs

    # -- cells ------------------------------------------------------------------------------
    def run_cell(self, index: int, code: str, timeout: float) -> dict[str, Any]:
        """Execute one cell with a SIGALRM time limit; names it defined before failing stay."""
        started = time.monotonic()
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        outcome: dict[str, Any] = {"index": index, "status": "ok", "error": None}
        try:
            exec(compile(code, f"<cell {index}>", "exec"), self.namespace)  # noqa: S102 - sandboxed
        except CellTimeout:
            outcome.update(status="timeout", error={"type": "Timeout", "bases": [],
                                                    "message": f"ran longer than {timeout:g} s",
                                                    "where": None})
        except BaseException as exc:  # noqa: BLE001 - student code may raise anything
            outcome.update(status="raised", error=describe_exception(exc))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous if callable(previous) else signal.SIG_DFL)
        outcome["seconds"] = round(time.monotonic() - started, 4)
        return outcome

    def defined_names(self) -> list[str]:
        return sorted(k for k in self.namespace if not k.startswith("_"))[:500]

    # -- requests ---------------------------------------------------------------------------
    def handle(self, request: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        op = self.ops.get(request.get("op", ""))
        if op is None:
            return {"ok": False, "error": {"type": "ProtocolError", "bases": [],
                                           "message": "unknown op", "where": None}}, []
        try:
            value, out_blobs = op(request, blobs)
        except BaseException as exc:  # noqa: BLE001
            return {"ok": False, "error": describe_exception(exc)}, []
        return {"ok": True, "value": value}, out_blobs

    def _lookup(self, req: dict[str, Any], blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        name = req["name"]
        if name not in self.namespace:
            raise NameError(f"submission does not define `{name}`")
        return self._answer(self.namespace[name], keep=True)

    def _call(self, req: dict[str, Any], blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        target = self._resolve(RefToken(req["target"], "", ""))
        args = self._decode(req.get("args", []), blobs)
        kwargs = self._decode(req.get("kwargs", {"$dict": []}), blobs)
        return self._answer(target(*args, **kwargs), keep=bool(req.get("keep")))

    def _getattr(self, req: dict[str, Any], blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        target = self._resolve(RefToken(req["target"], "", ""))
        return self._answer(getattr(target, req["name"]), keep=bool(req.get("keep")))

    def _getitem(self, req: dict[str, Any], blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        target = self._resolve(RefToken(req["target"], "", ""))
        return self._answer(target[self._decode(req["index"], blobs)], keep=bool(req.get("keep")))

    def _fetch(self, req: dict[str, Any], blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        return self._answer(self._resolve(RefToken(req["target"], "", "")), keep=False)

    def _put(self, req: dict[str, Any], blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        return self._answer(self._decode(req["value"], blobs), keep=True)

    def _module(self, req: dict[str, Any]) -> torch.nn.Module:
        target = self._resolve(RefToken(req["target"], "", ""))
        if not isinstance(target, torch.nn.Module):
            raise TypeError(f"{type(target).__name__} is not a torch.nn.Module")
        return target

    def _load_params(self, req: dict[str, Any], blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        """Copy each incoming tensor into the parameter its dotted name reaches by attribute path
        (aliases, ModuleLists also bound by name, nested or shared submodules all work)."""
        module = self._module(req)
        incoming: dict[str, torch.Tensor] = self._decode(req["params"], blobs)
        targets = {name: resolve_parameter(module, name) for name in incoming}
        missing = sorted(name for name, target in targets.items() if target is None)
        if missing:
            raise AttributeError(f"the module has no parameter named {', '.join(missing)}")
        with torch.no_grad():
            for name, value in incoming.items():
                target = targets[name]
                assert target is not None
                if tuple(target.shape) != tuple(value.shape):
                    raise ValueError(f"parameter {name} has shape {tuple(target.shape)}, "
                                     f"expected {tuple(value.shape)}")
                target.copy_(value)
        return None, []

    def _params(self, req: dict[str, Any], blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        """Parameters (or their .grad) by name: the names asked for, each resolved by attribute
        path (None where the path reaches no parameter), or every named_parameters() entry."""
        module = self._module(req)
        names = req.get("names")
        if isinstance(names, list):
            found = {str(n): resolve_parameter(module, str(n)) for n in names[:1000]}
        else:
            found = dict(module.named_parameters())
        if req.get("grads"):
            values = {n: (p.grad if p is not None else None) for n, p in found.items()}
        else:
            values = {n: (p.detach() if p is not None else None) for n, p in found.items()}
        return self._answer(values, keep=False)

    def _backward(self, req: dict[str, Any], blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        target = self._resolve(RefToken(req["target"], "", ""))
        grad = self._decode(req.get("grad"), blobs)
        if not isinstance(target, torch.Tensor):
            raise TypeError(f"backward needs a tensor, got {type(target).__name__}")
        backward_from(target, grad)
        return None, []

    def _grad(self, req: dict[str, Any], blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        target = self._resolve(RefToken(req["target"], "", ""))
        return self._answer(target.grad, keep=False)

    def _seed(self, req: dict[str, Any], blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        torch.manual_seed(int(req["seed"]))
        return None, []

    def _exec(self, req: dict[str, Any], blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        """Run one trusted public-check cell (seqlab check) in the student's namespace."""
        return self._answer(self.run_cell(int(req["index"]), req["code"], float(req["timeout"])), keep=False)


def discard_python_output() -> None:
    """Point sys.stdout/stderr at a sink: the grader never reads what a submission prints,
    so 10 MB of prints (or fake "passed" lines) cost nothing and prove nothing."""

    class _Sink:
        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            return None

        def isatty(self) -> bool:
            return False

    sys.stdout = _Sink()  # type: ignore[assignment]
    sys.stderr = _Sink()  # type: ignore[assignment]
