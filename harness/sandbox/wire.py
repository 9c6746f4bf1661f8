"""The judge's side of the wire format (the worker's side is in worker.py).

A frame is ``b"SBX2" | json_len: u64 LE | blob_len: u64 LE | json | blob``,
and a blob of arrays is ``toc_len: u32 LE | toc JSON | raw bytes``: the table
of contents lists ``[key, dtype string, shape]`` and the data follow in that
order, C-contiguous. (A simpler and much faster container than npz: a
request's replies carry many small arrays.) Everything here treats the
worker's bytes as hostile: sizes are checked before anything is read, dtypes
come from a whitelist of plain numeric type strings, byte counts must add up
exactly, nothing is ever unpickled, and decoded values are only plain Python
data, numpy arrays and `Ref` handles.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from ..text import printable

MAGIC = b"SBX2"
HEADER = struct.Struct("<4sQQ")
NUMERIC_KINDS = frozenset("biuf")  # bool, int, uint, float
MAX_DEPTH = 64
MAX_ARRAYS = 100_000
MAX_NDIM = 32
MAX_TEXT = 64 * 1024  # longest error message / traceback / type name we keep


class ProtocolError(Exception):
    """The worker sent something that is not a well-formed reply."""


# ------------------------------------------------------------------ frames


TOC = struct.Struct("<I")
# Plain numeric dtypes only (bool, integers, floats), either byte order.
ALLOWED_DTYPES = frozenset(
    order + code
    for code in ("i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8")
    for order in "<>|"
) | {"|b1"}


def pack_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    # worker.pack_arrays is this function's twin on purpose: the worker runs
    # with the standard library and numpy only and cannot import harness.
    parts, toc = [], []
    for key, array in arrays.items():
        array = np.asarray(array)  # tobytes() writes C order, whatever the layout
        toc.append([key, array.dtype.str, list(array.shape)])
        parts.append(array.tobytes())
    head = json.dumps(toc, separators=(",", ":")).encode()
    return TOC.pack(len(head)) + head + b"".join(parts)


def pack_frame(message: Any, arrays: dict[str, np.ndarray] | None = None) -> bytes:
    body = json.dumps(message, separators=(",", ":"), allow_nan=True).encode()
    blob = pack_arrays(arrays) if arrays else b""
    return HEADER.pack(MAGIC, len(body), len(blob)) + body + blob


def parse_header(header: bytes, max_bytes: int) -> tuple[int, int]:
    """(json_len, npz_len) of a frame header, refusing oversized frames."""
    magic, json_len, npz_len = HEADER.unpack(header)
    if magic != MAGIC:
        raise ProtocolError(f"bad frame header {header[:8]!r}")
    if json_len + npz_len > max_bytes:
        raise ProtocolError(
            f"the worker announced a {json_len + npz_len}-byte message; the limit is {max_bytes} bytes"
        )
    return json_len, npz_len


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"reply is not valid JSON: {exc}") from None


def load_arrays(blob: bytes) -> dict[str, np.ndarray]:
    """The arrays of a blob from the worker: numeric dtypes only, never pickle."""
    if not blob:
        return {}
    if len(blob) < TOC.size:
        raise ProtocolError("reply arrays are truncated")
    (head_len,) = TOC.unpack_from(blob)
    offset = TOC.size + head_len
    if offset > len(blob):
        raise ProtocolError("reply arrays announce more than they hold")
    toc = load_json(blob[TOC.size : offset])
    if not isinstance(toc, list) or len(toc) > MAX_ARRAYS:
        raise ProtocolError("reply arrays have a malformed table of contents")
    arrays = {}
    for entry in toc:
        key, dtype, shape = _toc_entry(entry)
        nbytes = dtype.itemsize * math.prod(shape)
        if offset + nbytes > len(blob):
            raise ProtocolError(f"reply array {key!r} claims more data than the reply holds")
        array = np.frombuffer(blob, dtype, math.prod(shape), offset).reshape(shape)
        arrays[key] = array.astype(dtype.newbyteorder("="), copy=True)  # native, writable, owned
        offset += nbytes
    if offset != len(blob):
        raise ProtocolError(f"reply arrays hold {len(blob) - offset} bytes nobody claims")
    return arrays


def _toc_entry(entry) -> tuple[str, np.dtype, tuple]:
    if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str) and isinstance(entry[2], list)):
        raise ProtocolError(f"malformed array entry {str(entry)[:80]!r}")
    key, dtype, shape = entry
    if dtype not in ALLOWED_DTYPES:
        raise ProtocolError(
            f"reply array {key!r} has dtype {str(dtype)[:40]!r}: only plain numeric arrays may cross "
            "(object, text and structured arrays are refused)"
        )
    if len(shape) > MAX_NDIM or not all(type(n) is int and n >= 0 for n in shape):
        raise ProtocolError(f"reply array {key!r} has shape {str(shape)[:80]}")
    return key, np.dtype(dtype), tuple(shape)


# ------------------------------------------------------------------ values


def clean_text(value: Any, limit: int = MAX_TEXT) -> str:
    """A str from the worker, at most `limit` characters of it, made safe to
    print and to write as UTF-8 or XML by the one sanitiser of student text
    (`harness.text.printable`: escape sequences removed, control characters
    and lone surrogates escaped visibly). ProtocolError if it is not a str."""
    if not isinstance(value, str):
        raise ProtocolError(f"expected a string, got {type(value).__name__}")
    return printable(value, limit)


def encode_value(value: Any, arrays: dict[str, np.ndarray], depth: int = 0) -> Any:
    """A judge-side value -> wire JSON (arrays are moved into `arrays`)."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply to send to the sandbox")
    wire = getattr(type(value), "_wire_node", None)
    if wire is not None:  # Ref, pending batch results, ...
        return wire(value)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, np.generic):
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.kind not in NUMERIC_KINDS or array.dtype.fields is not None:
            raise TypeError(f"cannot send an array of dtype {array.dtype} to the sandbox")
        key = f"a{len(arrays)}"
        arrays[key] = array
        node = {"$array": key}
        if isinstance(value, np.generic):
            node["scalar"] = True
        return node
    if isinstance(value, tuple):
        return {"$tuple": [encode_value(v, arrays, depth + 1) for v in value]}
    if isinstance(value, list):
        return [encode_value(v, arrays, depth + 1) for v in value]
    if isinstance(value, dict):
        if "$ref" in value and set(value) <= {"$ref", "path"}:
            return dict(value)  # a raw {"$ref": name-or-handle} written by hand
        if not all(isinstance(k, str) for k in value):
            raise TypeError("only dicts with str keys can be sent to the sandbox")
        items = {k: encode_value(v, arrays, depth + 1) for k, v in value.items()}
        if any(k.startswith("$") for k in items):
            return {"$dict": items}
        return items
    raise TypeError(f"cannot send a {type(value).__qualname__} to the sandbox")


def decode_value(
    node: Any,
    arrays: dict[str, np.ndarray],
    make_ref: Callable[[int, str], Any],
    depth: int = 0,
) -> Any:
    """Wire JSON from the worker -> Python values, numpy arrays and refs."""
    if depth > MAX_DEPTH:
        raise ProtocolError("reply value nested too deeply")
    if node is None or isinstance(node, (bool, int, float)):
        return node
    if isinstance(node, str):
        return clean_text(node, limit=len(node))
    if isinstance(node, list):
        return [decode_value(item, arrays, make_ref, depth + 1) for item in node]
    if not isinstance(node, dict):
        raise ProtocolError(f"unexpected {type(node).__name__} in a reply")
    if "$array" in node:
        key = node["$array"]
        if not isinstance(key, str) or key not in arrays:
            raise ProtocolError(f"reply refers to a missing array {key!r}")
        if "type" in node:
            clean_text(node["type"])
        return arrays[key]
    if "$tuple" in node:
        items = node["$tuple"]
        if not isinstance(items, list):
            raise ProtocolError("malformed $tuple in a reply")
        return tuple(decode_value(item, arrays, make_ref, depth + 1) for item in items)
    if "$ref" in node:
        handle = node["$ref"]
        if not isinstance(handle, int) or isinstance(handle, bool) or handle < 0:
            raise ProtocolError(f"malformed handle {handle!r} in a reply")
        return make_ref(handle, clean_text(node.get("type", "?"), limit=200))
    items = node.get("$dict", node)
    if not isinstance(items, dict):
        raise ProtocolError("malformed $dict in a reply")
    return {
        clean_text(key, limit=len(key)): decode_value(value, arrays, make_ref, depth + 1)
        for key, value in items.items()
    }


def type_at(node: Any, path: tuple) -> str | None:
    """The remote type name recorded at `path` inside a reply value, if any.

    Plain ndarrays and builtin values have no record: for them this returns
    "numpy.ndarray" or the builtin's type name.
    """
    for step in path:
        if isinstance(node, dict) and "$tuple" in node:
            node = node["$tuple"]
        elif isinstance(node, dict) and "$dict" in node:
            node = node["$dict"]
        node = node[step]
    if isinstance(node, dict):
        if "$array" in node:
            return node.get("type", "numpy.ndarray")
        if "$ref" in node:
            return node.get("type")
        if "$tuple" in node:
            return "tuple"
        return "dict"
    return type(node).__name__
