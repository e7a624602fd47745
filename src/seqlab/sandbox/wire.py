"""Framing and value encoding between the trusted grader and a sandboxed submission.

Why not pickle: anything the submission's process sends is untrusted, and unpickling runs code.
Only plain data crosses: JSON for structure, raw little-endian bytes for tensors (rebuilt on the
trusted side with `torch.frombuffer` after checking dtype and size), and opaque references to
objects that stay inside the sandbox. A tensor subclass or a patched `torch` in the submission
therefore cannot change what the grader compares: it only ever receives bytes.

Frame: u32 json_len, u32 blob_count, json bytes, then per blob u64 length + bytes.
"""

from __future__ import annotations

import json
import socket
import struct
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_FRAME_BYTES",
    "TENSOR_DTYPES",
    "ProtocolError",
    "RefToken",
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


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
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


def recv_message(sock: socket.socket) -> tuple[Any, list[bytes]]:
    """Receive one frame; refuses oversized or malformed frames instead of trusting them."""
    json_len, blob_count = struct.unpack("<II", _recv_exact(sock, 8))
    if json_len > MAX_JSON_BYTES or blob_count > MAX_BLOBS:
        raise ProtocolError("message header exceeds the size limits")
    try:
        obj = json.loads(_recv_exact(sock, json_len))
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"unreadable message: {type(exc).__name__}") from None
    blobs: list[bytes] = []
    total = json_len
    for _ in range(blob_count):
        (size,) = struct.unpack("<Q", _recv_exact(sock, 8))
        total += size
        if total > MAX_FRAME_BYTES:
            raise ProtocolError("message exceeds the size limit")
        blobs.append(_recv_exact(sock, size))
    return obj, blobs
