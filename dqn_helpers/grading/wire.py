"""Plain data between the untrusted worker and the trusted grader: JSON, arrays in base64.

The worker turns what a scenario's ``run`` returned into plain data (``encode``); the trusted
side parses it back (``decode``) without executing anything: no pickle, no ``eval``, only
``json.loads`` and ``np.frombuffer`` on a short list of dtypes. ``decode`` refuses anything
else, and data that is too big or too deep, with a ``ValueError``.

>>> import numpy as np
>>> decode(encode({"q": np.array([[1.5, 2.0]], dtype=np.float32), "n": 3, "ok": True}))
{'q': array([[1.5, 2. ]], dtype=float32), 'n': 3, 'ok': True}
>>> decode(encode(np.array(3.5))).shape  # a 0-d array stays 0-d
()
>>> decode({"$array": ["object", [1], ""]})
Traceback (most recent call last):
...
ValueError: an array of dtype 'object': only numbers and booleans are accepted
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64"}
MAX_DEPTH = 32
MAX_ITEMS = 2_000_000  # numbers in one decoded value, arrays included


def encode(value: Any) -> Any:
    """``value`` as JSON-ready plain data; tensors and arrays become ``{"$array": ...}``.

    Tuples become lists and NumPy scalars Python numbers. Anything else that is not None, a
    bool, int, float, str, list, tuple or dict with str keys raises ``TypeError``.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, np.bool_):
        return bool(value)
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.dtype.name not in DTYPES:
            raise TypeError(f"an array of dtype {value.dtype.name} cannot be sent")
        data = np.ascontiguousarray(value).reshape(value.shape)  # keeps 0-d arrays 0-d
        return {"$array": [data.dtype.name, list(data.shape),
                           base64.b64encode(data.tobytes()).decode("ascii")]}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("only dicts with str keys can be sent")
        return {k: encode(v) for k, v in value.items()}
    raise TypeError(f"a {type(value).__name__} cannot be sent: return numbers, strings, "
                    "lists, dicts and arrays")


def decode(data: Any, *, max_items: int = MAX_ITEMS) -> Any:
    """What ``encode`` made, back: exactly the types above, checked; else ``ValueError``."""
    budget = [max_items]

    def spend(n: int) -> None:
        budget[0] -= n
        if budget[0] < 0:
            raise ValueError(f"more than {max_items} numbers")

    def walk(x: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH}")
        spend(1)
        if x is None or type(x) in (bool, int, str):
            return x
        if type(x) is float:
            return x
        if type(x) is list:
            return [walk(v, depth + 1) for v in x]
        if type(x) is not dict:
            raise ValueError(f"a {type(x).__name__} is not plain data")
        if set(x) == {"$float"}:
            if x["$float"] not in ("nan", "inf", "-inf"):
                raise ValueError(f"not a float: {x['$float']!r}")
            return float(x["$float"])
        if set(x) == {"$array"}:
            return _array(x["$array"], spend)
        if not all(type(k) is str for k in x):
            raise ValueError("a dict key that is not a str")
        return {k: walk(v, depth + 1) for k, v in x.items()}

    return walk(data, 0)


def _array(spec: Any, spend) -> np.ndarray:
    if not (type(spec) is list and len(spec) == 3 and type(spec[0]) is str
            and type(spec[1]) is list and type(spec[2]) is str):
        raise ValueError("a malformed array")
    dtype, shape, text = spec
    if dtype not in DTYPES:
        raise ValueError(f"an array of dtype {dtype!r}: only numbers and booleans are accepted")
    if not all(type(n) is int and 0 <= n for n in shape) or len(shape) > 8:
        raise ValueError(f"an array of shape {shape!r}")
    count = math.prod(shape)
    spend(count)
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) != count * np.dtype(dtype).itemsize:
        raise ValueError(f"an array of shape {shape} and dtype {dtype} with {len(raw)} bytes")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
