"""Plain data across the grading boundary: what a student's answer may send to the judge.

Only JSON values cross: numbers, strings, booleans, null, lists and string-keyed
objects. Tuples, non-finite floats, tensors and descriptions of objects that are
not data (a function, a model) are tagged objects with one "$" key:

    {"$tuple": [2, 8, 28, 28]}
    {"$float": "nan"}
    {"$tensor": {"dtype": "float32", "shape": [2, 3], "data": "<base64 of the raw bytes>"}}
    {"$object": {"type": "Conv2d", "module": true, "callable": true}}
    {"$layer": {"type": "Conv2d", "args": [1, 8, 3], "kwargs": {"padding": 1}}}   (judge -> student only)
    {"$ref": "m1"}                                                           (judge -> student only)

`decode` rebuilds fresh objects of exact built-in types (a bool is a bool, an int
an int, never a subclass) and fresh CPU tensors from the raw bytes; nothing is
unpickled and no code named by the data is run. Anything malformed raises
WireError. `encode` runs next to the student's objects and never fails: what it
cannot send becomes an "$object" description.
"""

import base64
import json
import math

import torch

# Exact dtypes that may cross, by name; anything else is refused.
DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
    torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128)}
MAX_DEPTH = 32
MAX_ITEMS = 200_000         # list items and object keys in one message
MAX_TENSOR_BYTES = 64 << 20  # one tensor
MAX_MESSAGE_BYTES = 96 << 20  # one JSON message, as text


class WireError(ValueError):
    """The data is not plain data in this format (or over a limit)."""


def dumps(value) -> str:
    """encode(value) as compact JSON text (one line)."""
    return json.dumps(encode(value), separators=(",", ":"), allow_nan=False)


def loads(text):
    """decode(json text), refusing text over MAX_MESSAGE_BYTES."""
    if len(text) > MAX_MESSAGE_BYTES:
        raise WireError(f"a message of {len(text)} bytes is over the limit of {MAX_MESSAGE_BYTES}")
    try:
        return decode(json.loads(text, parse_constant=_refuse_constant))
    except (ValueError, RecursionError) as problem:
        if isinstance(problem, WireError):
            raise
        raise WireError(f"not JSON: {str(problem)[:200]}") from None


def _refuse_constant(name):
    raise WireError(f"bare {name} is not JSON")


# --- student side ---------------------------------------------------------------------------


def encode(value, _depth: int = 0):
    """A JSON-ready form of value (see the module docstring); objects that are not data are described."""
    if _depth > MAX_DEPTH:
        return describe(value)
    if value is None or isinstance(value, (bool, str)):
        return bool(value) if isinstance(value, bool) else (None if value is None else str.__str__(value))
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        number = float.__float__(value)
        return number if math.isfinite(number) else {"$float": repr(number)}
    if isinstance(value, torch.Tensor):
        return _encode_tensor(value)
    if _is_numpy(value):
        return encode(torch.as_tensor(value) if hasattr(value, "shape") and value.shape else value.item(), _depth)
    if isinstance(value, tuple):  # torch.Size is a tuple
        return {"$tuple": [encode(v, _depth + 1) for v in tuple.__iter__(value)]}
    if isinstance(value, list):
        return [encode(v, _depth + 1) for v in list.__iter__(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in dict.keys(value)):
        return {"$dict": {str.__str__(k): encode(v, _depth + 1) for k, v in dict.items(value)}}
    return describe(value)


def _encode_tensor(tensor: torch.Tensor) -> dict:
    tensor = tensor.detach()
    if tensor.is_sparse or tensor.layout != torch.strided:
        tensor = tensor.to_dense()
    name = str(tensor.dtype).removeprefix("torch.")
    if name not in DTYPES:
        tensor, name = tensor.to(torch.float64), "float64"
    tensor = tensor.to("cpu").contiguous()
    raw = tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
    return {"$tensor": {"dtype": name, "shape": list(tensor.shape), "data": base64.b64encode(raw).decode()}}


def describe(value) -> dict:
    """What a value that is not data is: its type's name, and whether it is a module, a module class, callable."""
    module = isinstance(value, torch.nn.Module)
    module_class = isinstance(value, type) and issubclass(value, torch.nn.Module)
    own_forward = module_class and value.forward is not torch.nn.Module.forward
    return {"$object": {"type": type(value).__name__ if not isinstance(value, type) else "type",
                        "name": str(getattr(value, "__name__", ""))[:80] if isinstance(value, type) else "",
                        "module": module, "module_class": module_class, "has_forward": own_forward,
                        "callable": callable(value)}}


def _is_numpy(value) -> bool:
    return type(value).__module__ == "numpy" and hasattr(value, "dtype")


# --- judge side -----------------------------------------------------------------------------


class Described:
    """An object that could not cross, as described by the student side ($object)."""

    __slots__ = ("type", "name", "module", "module_class", "has_forward", "callable")

    def __init__(self, fields: dict):
        for slot in self.__slots__:
            value = fields.get(slot)
            setattr(self, slot, value if type(value) in (str, bool) else ("" if slot in ("type", "name") else False))

    def __repr__(self) -> str:
        return f"<{self.type}>"


def decode(data, _depth: int = 0, _budget=None):
    """Fresh Python objects of exact types from JSON-parsed data; WireError when malformed."""
    budget = _budget if _budget is not None else [MAX_ITEMS]
    if _depth > MAX_DEPTH + 2:
        raise WireError("nested too deeply")
    kind = type(data)
    if data is None or kind in (bool, int, str):
        return kind(data) if data is not None else None
    if kind is float:
        return float(data)
    if kind is list:
        _spend(budget, len(data))
        return [decode(v, _depth + 1, budget) for v in data]
    if kind is not dict or len(data) != 1:
        raise WireError(f"unexpected {kind.__name__} (a tagged object has exactly one '$' key)")
    (tag, body), = data.items()
    if tag == "$tuple" and type(body) is list:
        _spend(budget, len(body))
        return tuple(decode(v, _depth + 1, budget) for v in body)
    if tag == "$dict" and type(body) is dict:
        _spend(budget, len(body))
        return {str(k): decode(v, _depth + 1, budget) for k, v in body.items()}
    if tag == "$float" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "$tensor" and type(body) is dict:
        return decode_tensor(body)
    if tag == "$object" and type(body) is dict:
        return Described(body)
    raise WireError(f"unknown tag {str(tag)[:40]!r}")


def _spend(budget, count: int) -> None:
    budget[0] -= count
    if budget[0] < 0:
        raise WireError(f"more than {MAX_ITEMS} items")


def decode_tensor(body: dict) -> torch.Tensor:
    dtype, shape, data = body.get("dtype"), body.get("shape"), body.get("data")
    if dtype not in DTYPES or type(shape) is not list or type(data) is not str:
        raise WireError("a tensor needs a known dtype, a shape and base64 data")
    if len(shape) > 8 or not all(type(n) is int and 0 <= n for n in shape):
        raise WireError(f"bad tensor shape {shape[:9]}")
    if len(data) > MAX_TENSOR_BYTES * 4 // 3 + 4:
        raise WireError("tensor over the size limit")
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        raise WireError("tensor data is not base64") from None
    dt = DTYPES[dtype]
    count = math.prod(shape)
    if count * torch.empty((), dtype=dt).element_size() != len(raw):
        raise WireError(f"tensor data has {len(raw)} bytes, which does not fit shape {shape} of {dtype}")
    if not raw:
        return torch.zeros(shape, dtype=dt)
    return torch.frombuffer(bytearray(raw), dtype=dt).reshape(shape).clone()
