"""Turn Python values into wire form and back, on both sides of the sandbox boundary.

Tensors become raw bytes with dtype and shape; tuples, lists and string-keyed dicts are kept;
anything else (a module, a numpy array, a function) stays where it is and crosses as a reference.
The decoder is strict: an unknown tag, dtype or a size that does not match is a ProtocolError.

torch is imported only when a tensor or dtype actually crosses: `seqlab check` exchanges plain
values only, and its trusted side then never pays the ~1.2 s import (the child has torch anyway).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .wire import TENSOR_DTYPES, ProtocolError, RefToken

__all__ = ["decode_value", "encode_value"]

if TYPE_CHECKING:
    import torch

_PLAIN = (type(None), bool, int, float, str)
_MAX_DEPTH = 32


def _torch() -> Any:
    import torch

    return torch


def _tensor_bytes(value: torch.Tensor) -> tuple[bytes, str, list[int], bool]:
    torch = _torch()
    plain = torch.Tensor.as_subclass(value, torch.Tensor).detach().cpu()
    dtype = str(plain.dtype).removeprefix("torch.")
    if dtype not in TENSOR_DTYPES:
        plain, dtype = plain.to(torch.float64), "float64"
    plain = plain.contiguous()
    return plain.numpy().tobytes(), dtype, list(plain.shape), bool(value.requires_grad)


def encode_value(value: Any, blobs: list[bytes], as_ref: Callable[[Any], RefToken], depth: int = 0) -> Any:
    """Encode `value`; objects that cannot cross are registered through `as_ref`."""
    if depth > _MAX_DEPTH:
        return _encode_ref(as_ref(value))
    if isinstance(value, _PLAIN):
        return value
    torch = sys.modules.get("torch")  # a tensor or dtype exists only once torch is imported
    if torch is not None and isinstance(value, torch.Tensor):
        data, dtype, shape, requires_grad = _tensor_bytes(value)
        blobs.append(data)
        return {"$tensor": len(blobs) - 1, "dtype": dtype, "shape": shape, "grad": requires_grad}
    if isinstance(value, RefToken):
        return _encode_ref(value)
    if torch is not None and isinstance(value, torch.dtype):
        return {"$dtype": str(value).removeprefix("torch.")}
    if type(value) is tuple:
        return {"$tuple": [encode_value(v, blobs, as_ref, depth + 1) for v in value]}
    if type(value) is list:
        return [encode_value(v, blobs, as_ref, depth + 1) for v in value]
    if type(value) is dict and all(type(k) is str for k in value):
        return {"$dict": [[k, encode_value(v, blobs, as_ref, depth + 1)] for k, v in value.items()]}
    return _encode_ref(as_ref(value))


def _encode_ref(token: RefToken) -> dict[str, Any]:
    return {"$ref": token.ref_id, "type": token.type_name, "summary": token.summary}


def _decode_tensor(obj: dict[str, Any], blobs: list[bytes]) -> torch.Tensor:
    dtype_name, shape, index = obj.get("dtype"), obj.get("shape"), obj.get("$tensor")
    if dtype_name not in TENSOR_DTYPES or not isinstance(shape, list) or not isinstance(index, int):
        raise ProtocolError("malformed tensor")
    if not all(isinstance(n, int) and n >= 0 for n in shape) or not 0 <= index < len(blobs):
        raise ProtocolError("malformed tensor shape")
    count = 1
    for n in shape:
        count *= n
    data = blobs[index]
    if count * TENSOR_DTYPES[dtype_name] != len(data):
        raise ProtocolError("tensor size does not match its shape")
    torch = _torch()
    dtype = getattr(torch, dtype_name)
    if count == 0:
        tensor = torch.empty(shape, dtype=dtype)
    else:
        tensor = torch.frombuffer(bytearray(data), dtype=dtype).reshape(shape)
    if obj.get("grad") is True and tensor.is_floating_point():
        tensor.requires_grad_(True)
    return tensor


def decode_value(obj: Any, blobs: list[bytes], resolve_ref: Callable[[RefToken], Any], depth: int = 0) -> Any:
    """Decode wire form; `resolve_ref` maps a reference to a local object (or a proxy)."""
    if depth > _MAX_DEPTH + 2:
        raise ProtocolError("value nested too deeply")
    if isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, list):
        return [decode_value(v, blobs, resolve_ref, depth + 1) for v in obj]
    if not isinstance(obj, dict):
        raise ProtocolError("unknown value")
    if "$tensor" in obj:
        return _decode_tensor(obj, blobs)
    if "$tuple" in obj and isinstance(obj["$tuple"], list):
        return tuple(decode_value(v, blobs, resolve_ref, depth + 1) for v in obj["$tuple"])
    if "$dict" in obj and isinstance(obj["$dict"], list):
        out: dict[str, Any] = {}
        for pair in obj["$dict"]:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                raise ProtocolError("malformed dict")
            out[pair[0]] = decode_value(pair[1], blobs, resolve_ref, depth + 1)
        return out
    if "$ref" in obj and isinstance(obj["$ref"], int):
        return resolve_ref(RefToken(obj["$ref"], str(obj.get("type", "?"))[:200], str(obj.get("summary", ""))[:200]))
    if "$dtype" in obj and obj["$dtype"] in TENSOR_DTYPES:
        return getattr(_torch(), obj["$dtype"])
    raise ProtocolError("unknown value tag")
