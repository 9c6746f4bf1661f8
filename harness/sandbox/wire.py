"""The judge's side of the wire format (the worker's side is in worker.py).

A frame is ``b"SBX1" | json_len: u64 LE | npz_len: u64 LE | json | npz``.
Everything here treats the worker's bytes as hostile: sizes are checked
before anything is read, the npz is parsed by hand (stored members only,
dtype whitelist, exact byte counts, never pickle), and decoded values are
only plain Python data, numpy arrays and `Ref` handles.
"""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

MAGIC = b"SBX1"
HEADER = struct.Struct("<4sQQ")
NUMERIC_KINDS = frozenset("biuf")  # bool, int, uint, float
MAX_DEPTH = 64
MAX_ARRAYS = 100_000
MAX_NDIM = 32
MAX_TEXT = 64 * 1024  # longest error message / traceback / type name we keep


class ProtocolError(Exception):
    """The worker sent something that is not a well-formed reply."""


# ------------------------------------------------------------------ frames


def pack_frame(message: Any, arrays: dict[str, np.ndarray] | None = None) -> bytes:
    body = json.dumps(message, separators=(",", ":"), allow_nan=True).encode()
    blob = b""
    if arrays:
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        blob = buffer.getvalue()
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
    """The arrays of an npz from the worker: numeric dtypes only, never pickle."""
    if not blob:
        return {}
    try:
        archive = zipfile.ZipFile(io.BytesIO(blob))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ProtocolError(f"reply arrays are not a valid npz: {exc}") from None
    if len(members) > MAX_ARRAYS:
        raise ProtocolError(f"reply holds {len(members)} arrays")
    arrays = {}
    for member in members:
        name = member.filename
        if member.compress_type != zipfile.ZIP_STORED:
            raise ProtocolError(f"reply array {name!r} is compressed")
        if not name.endswith(".npy") or "/" in name:
            raise ProtocolError(f"unexpected member {name!r} in the reply npz")
        if member.file_size > len(blob):
            raise ProtocolError(f"reply array {name!r} is larger than its message")
        try:
            with archive.open(member) as stream:
                arrays[name[:-4]] = _read_npy(stream, member.file_size, name)
        except ProtocolError:
            raise
        except Exception as exc:  # zipfile/numpy header errors of every kind
            raise ProtocolError(f"reply array {name!r} is malformed: {exc}") from None
    return arrays


def _read_npy(stream, size: int, name: str) -> np.ndarray:
    version = npy_format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = npy_format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = npy_format.read_array_header_2_0(stream)
    else:
        raise ProtocolError(f"reply array {name!r} uses npy version {version}")
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.hasobject:
        raise ProtocolError(f"reply array {name!r} has dtype {dtype}, which is not allowed")
    if len(shape) > MAX_NDIM or any(not isinstance(n, int) or n < 0 for n in shape):
        raise ProtocolError(f"reply array {name!r} has shape {shape}")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > size:
        raise ProtocolError(f"reply array {name!r} claims more data than it holds")
    data = stream.read(nbytes + 1)
    if len(data) != nbytes:
        raise ProtocolError(f"reply array {name!r} holds {len(data)} bytes, expected {nbytes}")
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return array.astype(dtype.newbyteorder("="), copy=True)  # native, writable, owned


# ------------------------------------------------------------------ values


def clean_text(value: Any, limit: int = MAX_TEXT) -> str:
    """A str from the worker, made safe to print and to write as UTF-8."""
    if not isinstance(value, str):
        raise ProtocolError(f"expected a string, got {type(value).__name__}")
    return value[:limit].encode("utf-8", "replace").decode("utf-8")


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
