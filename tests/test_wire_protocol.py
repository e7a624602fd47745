"""The boundary: only plain data crosses, and malformed replies are refused, never trusted."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time

import pytest
import torch

from seqlab.sandbox.codec import decode_value, encode_value
from seqlab.sandbox.dispatcher import Dispatcher
from seqlab.sandbox.wire import (
    ProtocolError,
    RefToken,
    check_event,
    check_reply,
    recv_message,
    send_message,
)


def roundtrip(value):
    blobs: list[bytes] = []
    refs: dict[int, object] = {}

    def as_ref(obj):
        refs[len(refs) + 1] = obj
        return RefToken(len(refs), type(obj).__name__, "")

    encoded = encode_value(value, blobs, as_ref)
    return decode_value(json.loads(json.dumps(encoded)), blobs, lambda token: ("ref", token.type_name))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.bool, torch.float16])
def test_tensors_cross_as_plain_tensors_with_dtype_and_shape(dtype):
    tensor = (torch.randn(2, 0, 3) if dtype == torch.float16 else torch.randn(3, 4, 5)).to(dtype)
    back = roundtrip(tensor)
    assert type(back) is torch.Tensor and back.dtype == dtype and torch.equal(back, tensor)


def test_tensor_subclasses_arrive_as_plain_tensors():
    class Liar(torch.Tensor):
        def __eq__(self, other):
            return True

    back = roundtrip(torch.zeros(3).as_subclass(Liar))
    assert type(back) is torch.Tensor and not torch.equal(back, torch.ones(3))


def test_structures_are_kept_and_objects_become_references():
    import numpy as np

    back = roundtrip((1, [2.5, "s", None], {"k": True}, np.zeros(2), torch.nn.Linear(1, 1)))
    assert back[:3] == (1, [2.5, "s", None], {"k": True})
    assert back[3] == ("ref", "ndarray") and back[4] == ("ref", "Linear")


@pytest.mark.parametrize("encoded, blobs", [
    ({"$tensor": 0, "dtype": "float32", "shape": [3]}, [b"\x00" * 8]),      # size mismatch
    ({"$tensor": 0, "dtype": "object", "shape": [1]}, [b"\x00" * 8]),       # dtype not allowed
    ({"$tensor": 5, "dtype": "float32", "shape": [1]}, [b"\x00" * 4]),      # no such blob
    ({"$pickle": "gASV"}, []),                                              # unknown tag
    ({"$tensor": 0, "dtype": "float32", "shape": [-1]}, [b""]),             # negative size
])
def test_malformed_values_are_protocol_errors(encoded, blobs):
    with pytest.raises(ProtocolError):
        decode_value(encoded, blobs, lambda token: token)


def test_oversized_or_garbled_frames_are_refused():
    ours, theirs = socket.socketpair()
    theirs.sendall(struct.pack("<II", 1 << 30, 0))
    with pytest.raises(ProtocolError):
        recv_message(ours)
    theirs.sendall(struct.pack("<II", 3, 0) + b"{{{")
    with pytest.raises(ProtocolError):
        recv_message(ours)
    send_message(theirs, {"ok": True}, [b"abc"])
    assert recv_message(ours) == ({"ok": True}, [b"abc"])


def test_student_exceptions_report_builtin_bases_and_the_cell_line():
    dispatcher = Dispatcher()
    outcome = dispatcher.run_cell(3, "class Odd(ValueError):\n    pass\n\nraise Odd('bad k')", timeout=5)
    assert outcome["status"] == "raised"
    error = outcome["error"]
    assert error["type"] == "Odd" and "ValueError" in error["bases"] and error["message"] == "bad k"
    assert error["where"] == "cell 3, line 4"


def test_a_cell_past_its_time_limit_is_interrupted_and_earlier_names_survive():
    dispatcher = Dispatcher()
    outcome = dispatcher.run_cell(0, "ready = 1\nwhile True:\n    pass", timeout=0.2)
    assert outcome["status"] == "timeout" and "ready" in dispatcher.defined_names()


def test_system_exit_in_a_cell_is_just_a_failed_cell():
    outcome = Dispatcher().run_cell(0, "import sys\nsys.exit(3)", timeout=5)
    assert outcome["status"] == "raised" and outcome["error"]["type"] == "SystemExit"


def _trickle(sock: socket.socket, data: bytes, pause: float) -> threading.Thread:
    def run() -> None:
        for byte in data:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return
            time.sleep(pause)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_trickle_of_bytes_cannot_stretch_a_frame_past_its_deadline():
    payload = b'{"ok":true,"value":1}'
    frame = struct.pack("<II", len(payload), 0) + payload
    ours, theirs = socket.socketpair()
    _trickle(theirs, frame, 0.05)  # every byte well inside any per-recv timeout
    with pytest.raises(TimeoutError):
        recv_message(ours, deadline=time.monotonic() + 0.3)
    ours, theirs = socket.socketpair()
    _trickle(theirs, frame, 0.01).join()
    assert recv_message(ours, deadline=time.monotonic() + 30) == ({"ok": True, "value": 1}, [])


ERROR = {"type": "ValueError", "bases": ["ValueError"], "message": "m", "where": "cell 1, line 2"}


@pytest.mark.parametrize("frame, expected", [
    ([1, 2], ("cell_done",)),                                                          # a JSON list
    ({"event": "cell_done", "index": 0, "status": "raised", "error": "boom", "seconds": 0}, ("cell_done",)),
    ({"event": "cell_done", "index": 0, "status": "ok", "error": ERROR, "seconds": 0}, ("cell_done",)),
    ({"event": "cell_done", "index": "0", "status": "ok", "error": None, "seconds": 0}, ("cell_done",)),
    ({"event": "cell_done", "index": 0, "status": "won", "error": None, "seconds": 0}, ("cell_done",)),
    ({"event": "cell_done", "index": 0, "status": "raised", "seconds": 0,
      "error": {**ERROR, "where": "<script>"}}, ("cell_done",)),
    ({"event": "cell_done", "index": 0, "status": "raised", "seconds": 0,
      "error": {**ERROR, "bases": ["ValueError"] * 100}}, ("cell_done",)),
    ({"event": "loaded", "names": ["double"]}, ("cell_start",)),                      # out of order
    ({"event": "cell_start", "index": 0, "extra": 1}, ("cell_start",)),
    ({"event": "loaded", "names": [1]}, ("loaded",)),
    ({"event": "hello", "isolation": "\x1b[2Jstrong"}, ("hello",)),
])
def test_events_outside_the_protocol_are_refused(frame, expected):
    with pytest.raises(ProtocolError):
        check_event(frame, expected)


@pytest.mark.parametrize("reply", [
    [1], {"ok": 1, "value": 2}, {"ok": True}, {"ok": True, "value": 1, "error": ERROR},
    {"ok": False, "error": "boom"}, {"ok": False, "error": {**ERROR, "message": 5}},
])
def test_replies_outside_the_protocol_are_refused(reply):
    with pytest.raises(ProtocolError):
        check_reply(reply)


def test_what_the_real_dispatcher_sends_fits_the_schema():
    dispatcher = Dispatcher()
    for code in ("x = 1", "raise ValueError('bad')", "import sys\nsys.exit(2)", "def f(:"):
        check_event({"event": "cell_done", **dispatcher.run_cell(0, code, timeout=5)}, ("cell_done",))
    check_event({"event": "loaded", "names": dispatcher.defined_names()}, ("loaded",))
    for request in ({"op": "lookup", "name": "x"}, {"op": "lookup", "name": "nope"}, {"op": "frobnicate"}):
        check_reply(dispatcher.handle(request, [])[0])
