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

What decoding may cost is bounded too, not only the bytes: all the replies
to one request are charged to one `ReplyBudget` (bytes, JSON text, the values
JSON can build, arrays, array elements), and JSON text is measured at C speed
(`check_json`: byte counts, no parsing) before `json.loads` ever sees it.
A reply over budget is refused with `ProtocolError`, like any other malformed
reply.
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
MAX_DEPTH = 64  # nesting of a decoded value (a tuple, list or dict is one level)
MAX_NDIM = 32
MAX_TEXT = 64 * 1024  # longest error message / traceback / type name we keep


class ProtocolError(Exception):
    """The worker sent something that is not a well-formed reply."""


# ------------------------------------------------------------------ budgets
#
# Limits.message_bytes bounds a reply's bytes, not what decoding them builds:
# 48 MiB of "[[],[],...]" is 16 million lists, gigabytes and tens of seconds
# in json.loads and decode_value. These limits bound that, per request (all
# its replies together: a request cannot multiply them by sending many
# frames). They are far above what honest replies need: a few small dicts,
# lists of a few hundred items, error texts of some KiB, arrays in the blob.
# The worker keeps to the array count and to the bytes (worker.MAX_ARRAYS,
# worker.REPLY_RESERVE), as to the dtypes and shapes load_arrays accepts, so
# that an honest op over them fails as a "result" error; a reply over the
# others is refused as a protocol error.

#: JSON values (arrays, objects, keys, strings, numbers...) that the replies
#: to one request may build, counted before parsing (an upper bound, see
#: check_json). 200,000 values cost the judge about 0.3 s and 30 MB to decode.
MAX_OBJECTS = 200_000
#: JSON text of one request's replies (bodies and tables of contents), bytes.
MAX_JSON_BYTES = 8 * 2**20
#: Added to the bounds above, and to Limits.message_bytes, for each reply the
#: request expects: a reply's own fields (id, index, ok, elapsed, stdout,
#: stderr; "Skipped" for the ops after a failure) cost about 30 values and 300 bytes.
FRAME_OBJECTS = 64
FRAME_BYTES = 4096
#: Nesting of JSON arrays and objects: a value level can take two
#: ({"$tuple": [...]}), the reply itself one, an array reference one more.
MAX_JSON_DEPTH = 2 * MAX_DEPTH + 4
#: Arrays in the replies to one request (each costs a table-of-contents entry
#: and an ndarray of its own, whatever its size).
MAX_ARRAYS = 10_000


class ReplyBudget:
    """What the replies to one request may still cost the judge to read and decode.

    Allowances (`left`, `limits`): "bytes" (whole frames, headers included),
    "json_bytes" (JSON text), "objects" (JSON values, see check_json),
    "arrays" and "elements" (array elements; at least one byte each, so as
    many as the request's bytes). `spend` and `require` raise ProtocolError
    when an allowance would be overdrawn; the message says which and that the
    reply was too large.
    """

    def __init__(self, message_bytes: int = 256 * 2**20, replies: int = 1):
        """`message_bytes`: Limits.message_bytes; `replies`: how many reply frames the request expects."""
        replies = max(1, int(replies))
        self.limits = {
            "bytes": message_bytes + replies * FRAME_BYTES,
            "json_bytes": MAX_JSON_BYTES + replies * FRAME_BYTES,
            "objects": MAX_OBJECTS + replies * FRAME_OBJECTS,
            "arrays": MAX_ARRAYS,
            "elements": message_bytes,
        }
        self.left = dict(self.limits)

    def require(self, what: str, amount: int) -> None:
        """Refuse now if `amount` of `what` would overdraw the allowance (nothing is spent)."""
        if amount > self.left[what]:
            raise ProtocolError(self._refusal(what))

    def spend(self, what: str, amount: int) -> None:
        """Take `amount` of `what` from the allowance, or raise ProtocolError."""
        self.require(what, amount)
        self.left[what] -= amount

    def _refusal(self, what: str) -> str:
        limit = self.limits[what]
        return {
            "bytes": f"the worker's replies to this request are too large: more than {limit} bytes together",
            "json_bytes": f"the worker's reply is too large: more than {limit} bytes of JSON in this request's replies",
            "objects": f"the worker's reply is too large: its JSON could build more than {limit} values "
            "in this request's replies",
            "arrays": f"the worker's reply is too large: more than {limit} arrays in this request's replies",
            "elements": f"the worker's reply is too large: more than {limit} array elements in this request's replies",
        }[what]


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
    """(json_len, blob_len) of a frame header (HEADER.size bytes), in bytes.

    Raises ProtocolError for a header of the wrong size or magic, and for a
    frame announced larger than `max_bytes` (before any of it is read).
    """
    if len(header) != HEADER.size:
        raise ProtocolError(f"a frame header is {HEADER.size} bytes, not {len(header)}")
    magic, json_len, blob_len = HEADER.unpack(header)
    if magic != MAGIC:
        raise ProtocolError(f"bad frame header {bytes(header[:8])!r}")
    if json_len + blob_len > max_bytes:
        raise ProtocolError(
            f"the worker announced a {json_len + blob_len}-byte message; the limit is {max_bytes} bytes"
        )
    return json_len, blob_len


# Everything but the bytes that shape JSON: what json_depth keeps of a text.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_OPENING, _CLOSING, _QUOTE = np.frombuffer(b"[{", np.uint8), np.frombuffer(b"]}", np.uint8), ord('"')


def check_json(text: bytes, budget: ReplyBudget) -> None:
    """Refuse JSON text that parsing could make expensive, before it is parsed.

    Byte counts at C speed, no parsing: charges `len(text)` to the budget's
    "json_bytes" and an upper bound of the values json.loads can build to its
    "objects": every value but the first follows a "[", "{", "," or ":" and
    each "[" or "{" is a container of its own, so at most
    1 + 2 * brackets + commas + colons (those inside strings are counted too:
    the bound stays an upper one). Also refuses text that is not ASCII (the
    worker's json.dumps escapes every other character, and ASCII text decodes
    to one byte per character) and nesting deeper than MAX_JSON_DEPTH.

    Raises ProtocolError; spends from `budget` what the text may cost.
    """
    budget.spend("json_bytes", len(text))
    if not text.isascii():
        raise ProtocolError("reply is not ASCII JSON (the worker escapes every other character)")
    brackets = text.count(b"[") + text.count(b"{")
    values = 1 + 2 * brackets + text.count(b",") + text.count(b":")
    budget.spend("objects", values)
    if brackets > MAX_JSON_DEPTH:  # else it cannot nest deeper than that
        depth = json_depth(text, max_strings=values)
        if depth > MAX_JSON_DEPTH:
            raise ProtocolError(
                f"the worker's reply is nested too deeply: {depth} levels of JSON; the limit is {MAX_JSON_DEPTH}"
            )


def json_depth(text: bytes, max_strings: int) -> int:
    """The deepest nesting of JSON arrays and objects in `text` (brackets inside strings do not count).

    Exact for valid JSON and, for invalid JSON, up to its first error (as far
    as json.loads gets). Costs a few copies of `text` at C speed and numpy
    arrays of the size of its brackets and quotes. Raises ProtocolError for
    text that cannot be JSON: more than `max_strings` strings, unbalanced
    quotes or brackets.
    """
    # Escaped backslashes first, then escaped quotes: every quote left opens or closes a string.
    plain = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    if plain.count(b'"') > 2 * max_strings:
        raise ProtocolError("reply is not valid JSON: more strings than values")
    marks = np.frombuffer(plain.translate(None, _NOT_STRUCTURE), np.uint8)
    quotes = marks == _QUOTE
    outside = (np.cumsum(quotes, dtype=np.int32) & 1) == 0  # after an even number of quotes
    steps = np.isin(marks, _OPENING).astype(np.int32) - np.isin(marks, _CLOSING)
    levels = np.cumsum(steps * outside, dtype=np.int32)
    if quotes.sum() % 2 or (levels.size and (levels[-1] != 0 or levels.min() < 0)):
        raise ProtocolError("reply is not valid JSON: unbalanced quotes or brackets")
    return int(levels.max(initial=0))


def load_json(text: bytes, budget: ReplyBudget | None = None) -> Any:
    """JSON text from the worker -> Python data, once check_json has let it through.

    `budget`: the request's (a fresh one, for a single reply, if None).
    Raises ProtocolError for text over budget and for text that is not JSON.
    """
    if not isinstance(text, (bytes, bytearray)):
        text = bytes(text)
    check_json(text, budget if budget is not None else ReplyBudget())
    try:
        return json.loads(text.decode("ascii"))
    except (ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError, too many digits
        raise ProtocolError(f"reply is not valid JSON: {str(exc)[:200]}") from None


def load_arrays(blob: bytes, budget: ReplyBudget | None = None) -> dict[str, np.ndarray]:
    """The arrays of a blob from the worker (bytes or a memoryview): key -> native-order, writable copy.

    Numeric dtypes only, never pickle. `budget`: the request's (a fresh one,
    for a single reply, if None): the table of contents is JSON, and the
    arrays and their elements are counted. Raises ProtocolError.
    """
    if not len(blob):
        return {}
    budget = budget if budget is not None else ReplyBudget()
    if len(blob) < TOC.size:
        raise ProtocolError("reply arrays are truncated")
    (head_len,) = TOC.unpack_from(blob)
    offset = TOC.size + head_len
    if offset > len(blob):
        raise ProtocolError("reply arrays announce more than they hold")
    budget.require("json_bytes", head_len)  # before the copy below
    toc = load_json(bytes(blob[TOC.size : offset]), budget)
    if not isinstance(toc, list):
        raise ProtocolError("reply arrays have a malformed table of contents")
    budget.spend("arrays", len(toc))
    max_dim = budget.limits["elements"]
    arrays = {}
    for entry in toc:
        key, dtype, shape = _toc_entry(entry, max_dim)
        count = math.prod(shape)
        budget.spend("elements", count)
        nbytes = dtype.itemsize * count
        if offset + nbytes > len(blob):
            raise ProtocolError(f"reply array {key[:40]!r} claims more data than the reply holds")
        array = np.frombuffer(blob, dtype, count, offset).reshape(shape)
        arrays[key] = array.astype(dtype.newbyteorder("="), copy=True)  # native, writable, owned
        offset += nbytes
    if offset != len(blob):
        raise ProtocolError(f"reply arrays hold {len(blob) - offset} bytes nobody claims")
    return arrays


def _toc_entry(entry: Any, max_dim: int) -> tuple[str, np.dtype, tuple]:
    """(key, dtype, shape) of a table-of-contents entry; every dimension at most `max_dim`."""
    if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str) and isinstance(entry[2], list)):
        raise ProtocolError(f"malformed array entry {str(entry)[:80]!r}")
    key, dtype, shape = entry
    if not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES:
        raise ProtocolError(
            f"reply array {key[:40]!r} has dtype {str(dtype)[:40]!r}: only plain numeric arrays may cross "
            "(object, text and structured arrays are refused)"
        )
    # A dimension past max_dim cannot be honest (even with a zero elsewhere) and numpy refuses some.
    if len(shape) > MAX_NDIM or not all(type(n) is int and 0 <= n <= max_dim for n in shape):
        raise ProtocolError(f"reply array {key[:40]!r} has shape {str(shape)[:80]}")
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
