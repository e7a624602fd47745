"""Framing and value encoding between the trusted grader and a sandboxed submission.

Why not pickle: anything the submission's process sends is untrusted, and unpickling runs code.
Only plain data crosses: JSON for structure, raw little-endian bytes for tensors (rebuilt on the
trusted side with `torch.frombuffer` after checking dtype and size), and opaque references to
objects that stay inside the sandbox. A tensor subclass or a patched `torch` in the submission
therefore cannot change what the grader compares: it only ever receives bytes.

Frame: u32 json_len, u32 blob_count, json bytes, then per blob u64 length + bytes.

Receiving takes one absolute deadline (a `time.monotonic()` value) for the whole frame: a
child that trickles one byte every few seconds cannot stretch a call past it. Every frame the
trusted side receives is then checked against the protocol's schema (`check_event`,
`check_reply`) before any field of it is used.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_FRAME_BYTES",
    "TENSOR_DTYPES",
    "ProtocolError",
    "RefToken",
    "check_error",
    "check_event",
    "check_reply",
    "recv_message",
    "send_message",
]

MAX_FRAME_BYTES = 256 * 1024 * 1024
MAX_JSON_BYTES = 8 * 1024 * 1024
MAX_BLOBS = 10_000

# dtype name -> bytes per element; only these cross the wire.
TENSOR_DTYPES: dict[str, int] = {
    "float32": 4, "float64": 8, "float16": 2, "int64": 8, "int32": 4, "int16": 2,
    "int8": 1, "uint8": 1, "bool": 1,
}


class ProtocolError(Exception):
    """The other side sent something that is not a valid message (or nothing at all)."""


@dataclass(frozen=True)
class RefToken:
    """An object that lives in the sandbox: only its id, type name and a short repr cross."""

    ref_id: int
    type_name: str
    summary: str


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the frame did not arrive before its deadline")
            sock.settimeout(left)
        chunk = sock.recv(min(n - len(chunks), 1 << 20))
        if not chunk:
            raise EOFError("connection closed")
        chunks += chunk
    return bytes(chunks)


def send_message(sock: socket.socket, obj: Any, blobs: list[bytes] | None = None) -> None:
    """Send one JSON-able object plus raw byte blobs as a single frame."""
    blobs = blobs or []
    payload = json.dumps(obj, allow_nan=True, separators=(",", ":")).encode()
    parts = [struct.pack("<II", len(payload), len(blobs)), payload]
    for blob in blobs:
        parts.append(struct.pack("<Q", len(blob)))
        parts.append(blob)
    sock.sendall(b"".join(parts))


def recv_message(sock: socket.socket, deadline: float | None = None) -> tuple[Any, list[bytes]]:
    """Receive one frame; refuses oversized or malformed frames instead of trusting them.

    With a `deadline` (monotonic seconds) the whole frame must arrive by then, or TimeoutError.
    """
    json_len, blob_count = struct.unpack("<II", _recv_exact(sock, 8, deadline))
    if json_len > MAX_JSON_BYTES or blob_count > MAX_BLOBS:
        raise ProtocolError("message header exceeds the size limits")
    try:
        obj = json.loads(_recv_exact(sock, json_len, deadline))
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"unreadable message: {type(exc).__name__}") from None
    blobs: list[bytes] = []
    total = json_len
    for _ in range(blob_count):
        (size,) = struct.unpack("<Q", _recv_exact(sock, 8, deadline))
        total += size
        if total > MAX_FRAME_BYTES:
            raise ProtocolError("message exceeds the size limit")
        blobs.append(_recv_exact(sock, size, deadline))
    return obj, blobs


# -- the schema of what the child may send -------------------------------------------------------
_LEVEL = re.compile(r"[a-z0-9+._-]{1,80}")
_WHERE = re.compile(r"cell \d{1,7}, line \d{1,7}")
_CELL_STATUSES = ("ok", "raised", "timeout")


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise ProtocolError(f"invalid message from the submission: {what}")


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_fact(value: Any) -> bool:
    return type(value) in (bool, int, float) or value is None or (type(value) is str and len(value) <= 2000)


def _fields(obj: Any, required: set[str], optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    _require(type(obj) is dict, "not an object")
    keys = set(obj)
    _require(required <= keys <= required | optional, "missing or unexpected fields")
    return obj


def check_error(error: Any) -> dict[str, Any]:
    """An exception description: type name, builtin bases, message, and `cell N, line M` or None."""
    _fields(error, {"type", "bases", "message", "where"})
    _require(type(error["type"]) is str and type(error["message"]) is str, "error text")
    _require(type(error["bases"]) is list and len(error["bases"]) <= 64
             and all(type(b) is str for b in error["bases"]), "error bases")
    _require(error["where"] is None or (type(error["where"]) is str
                                       and _WHERE.fullmatch(error["where"]) is not None), "error location")
    return error


def check_event(obj: Any, expected: tuple[str, ...]) -> dict[str, Any]:
    """A loading event (`hello`, `cell_start`, `cell_done`, `loaded`) of one of the expected kinds."""
    _require(type(obj) is dict and obj.get("event") in expected, f"expected {'/'.join(expected)}")
    kind = obj["event"]
    if kind == "hello":  # sent before any student code runs; extra fields are short facts
        _fields(obj, {"event", "isolation"}, frozenset(k for k in obj if _is_fact(obj[k]))
                if len(obj) <= 16 else frozenset())
        _require(type(obj["isolation"]) is str and _LEVEL.fullmatch(obj["isolation"]) is not None, "isolation")
    elif kind == "cell_start":
        _fields(obj, {"event", "index"})
        _require(_is_int(obj["index"]), "cell index")
    elif kind == "cell_done":
        _fields(obj, {"event", "index", "status", "error", "seconds"})
        _require(_is_int(obj["index"]) and obj["status"] in _CELL_STATUSES, "cell status")
        _require(type(obj["seconds"]) in (int, float), "cell seconds")
        _require((obj["error"] is None) == (obj["status"] == "ok"), "cell error")
        if obj["error"] is not None:
            check_error(obj["error"])
    else:
        _fields(obj, {"event", "names"})
        _require(type(obj["names"]) is list and len(obj["names"]) <= 500
                 and all(type(n) is str for n in obj["names"]), "names")
    return obj


def check_reply(obj: Any) -> dict[str, Any]:
    """A reply to a request: `{"ok": true, "value": ...}` or `{"ok": false, "error": {...}}`
    (the value itself is checked by the codec when it is decoded)."""
    _require(type(obj) is dict and type(obj.get("ok")) is bool, "not a reply")
    if obj["ok"]:
        _fields(obj, {"ok", "value"})
    else:
        _fields(obj, {"ok", "error"})
        check_error(obj["error"])
    return obj
