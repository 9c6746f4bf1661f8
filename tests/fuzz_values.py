"""Values of every kind a student function could return, built from a JSON spec.

This module is both a helper of tests/test_boundary_fuzz.py and, copied as
`fuzzsub/values.py`, the code of a fake submission: `build(spec)` runs in the
sandbox and returns the value; the test builds the same value judge-side to
know what should come back. Standard library and numpy only.

A spec is a JSON list whose first item names the kind:

    ["none"], ["bool", b], ["int", "digits"] (any size: digits are text),
    ["float", "nan" | "inf" | "-1e308" | ...], ["str", s],
    ["array", dtype, shape, fill, layout]     a numpy array (see `array`)
    ["scalar", dtype, fill]                   a numpy scalar (np.generic)
    ["list" | "tuple", [spec, ...]], ["dict", [[key, spec], ...]],
    ["intdict", [spec, ...]]                  a dict with int keys
    ["deep", levels, spec]                    spec inside `levels` lists
    ["subclass", name, array spec]            an ndarray subclass of SUBCLASSES
    ["object", name]                          an instance of OBJECTS[name]
    ["builtin", name, spec]                   a subclass of int/float/str/list/tuple/dict
                                              with overridden methods (BUILTINS)
"""

import numpy as np

STRUCT = [("a", "<f4"), ("b", "<i2")]


def build(spec):
    """The student function: the value that `spec` describes."""
    return make(spec)


def make(spec):
    kind, args = spec[0], spec[1:]
    if kind == "none":
        return None
    if kind == "bool":
        return bool(args[0])
    if kind == "int":
        return int(args[0])
    if kind == "float":
        return float(args[0])
    if kind == "str":
        return args[0]
    if kind == "array":
        return array(*args)
    if kind == "scalar":
        return array(args[0], [], args[1], "C")[()]
    if kind == "list":
        return [make(item) for item in args[0]]
    if kind == "tuple":
        return tuple(make(item) for item in args[0])
    if kind == "dict":
        return {key: make(item) for key, item in args[0]}
    if kind == "intdict":
        return {i: make(item) for i, item in enumerate(args[0])}
    if kind == "deep":
        value = make(args[1])
        for _ in range(args[0]):
            value = [value]
        return value
    if kind == "subclass":
        return array(*args[1]).view(SUBCLASSES[args[0]])
    if kind == "object":
        return OBJECTS[args[0]]()
    if kind == "builtin":
        cls = BUILTINS[args[0]]
        inner = make(args[1])
        return cls(inner)
    raise ValueError(f"unknown spec {spec!r}")


def array(dtype, shape, fill, layout):
    """An array of `dtype` ("<f8", "|O", "<M8[ns]", "struct", ...) and `shape`, filled with
    "zeros", "ones", "arange", "nan", "inf", "extremes" (NaN, ±inf and the dtype's extremes
    where it has them), laid out "C", "F", "strided" (a non-contiguous view), "readonly"
    or "broadcast" (a zero-stride view)."""
    dt = np.dtype(STRUCT if dtype == "struct" else dtype)
    shape = tuple(shape)
    size = int(np.prod(shape, dtype=object))
    base_shape = (2 * shape[0],) + shape[1:] if layout == "strided" and shape else shape
    values = np.zeros(base_shape, dt)
    if size and fill != "zeros" and dt.fields is None:
        flat = values.reshape(-1)
        if dt.kind in "biufc":
            if fill == "ones":
                flat[...] = 1
            elif fill == "arange":
                flat[...] = np.arange(flat.size) % 100
            elif dt.kind in "fc" and fill in ("nan", "inf", "extremes"):
                specials = {"nan": [np.nan], "inf": [np.inf, -np.inf]}.get(
                    fill, [np.nan, np.inf, -np.inf, np.finfo(dt).max, np.finfo(dt).tiny, -0.0])
                flat[...] = np.resize(np.array(specials, dtype=dt), flat.size)
            elif dt.kind in "iu" and fill == "extremes":
                flat[...] = np.resize(np.array([np.iinfo(dt).min, np.iinfo(dt).max], dtype=dt), flat.size)
        elif dt.kind == "O":
            flat[...] = [10**30 + i for i in range(flat.size)]
        elif dt.kind in "mM":
            flat[...] = np.arange(flat.size)
    if layout == "F":
        values = np.array(values, order="F")
    elif layout == "strided" and shape:
        values = values[::2]
    elif layout == "readonly":
        values.flags.writeable = False
    elif layout == "broadcast" and size:
        values = np.broadcast_to(values.reshape(-1)[:1].reshape((1,) * len(shape)), shape)
    return values


# ------------------------------------------------------------ ndarray subclasses


class Tensor(np.ndarray):
    """A plain subclass, as a student's Tensor."""


class GetitemRaises(np.ndarray):
    def __getitem__(self, key):
        raise RuntimeError("no indexing")


class DtypeLies(np.ndarray):
    @property
    def dtype(self):
        return np.dtype(object)


class ShapeLies(np.ndarray):
    @property
    def shape(self):
        return (10**9,)


class ArrayRaises(np.ndarray):
    def __array__(self, *args, **kwargs):
        raise RuntimeError("no __array__")

    def tobytes(self, *args, **kwargs):
        raise RuntimeError("no tobytes")

    def tolist(self):
        raise RuntimeError("no tolist")


class NbytesLies(np.ndarray):
    @property
    def nbytes(self):
        return -1


SUBCLASSES = {cls.__name__: cls for cls in (Tensor, GetitemRaises, DtypeLies, ShapeLies, ArrayRaises, NbytesLies)}


# ------------------------------------------------------------ other objects


class Thing:
    pass


class EqRaises:
    def __eq__(self, other):
        raise RuntimeError("no ==")

    __hash__ = None


class ReprRaises:
    def __repr__(self):
        raise SystemExit("no repr")

    __str__ = __repr__


class LooksLikeInt:
    """isinstance(x, int) is True (it reads __class__), but it is no int."""

    @property
    def __class__(self):
        return int


class LooksLikeArray:
    @property
    def __class__(self):
        return np.ndarray


class AnswersEverything:
    def __getattr__(self, name):
        return lambda *args, **kwargs: self


class HugeLen:
    def __len__(self):
        return 2**62

    def __iter__(self):
        while True:
            yield 1


OBJECTS = {cls.__name__: cls for cls in (Thing, EqRaises, ReprRaises, LooksLikeInt, LooksLikeArray,
                                         AnswersEverything, HugeLen)}


# ------------------------------------------------------------ builtin subclasses that lie


class LyingInt(int):
    def __int__(self):
        return 0

    def __index__(self):
        return 0

    def __repr__(self):
        raise RuntimeError("no repr")


class LyingFloat(float):
    def __float__(self):
        return 1.0

    def __repr__(self):
        raise RuntimeError("no repr")


class LyingStr(str):
    def __str__(self):
        raise RuntimeError("no str")


class LyingList(list):
    def __iter__(self):
        raise RuntimeError("no iteration")

    def __len__(self):
        return 0


class LyingTuple(tuple):
    def __iter__(self):
        raise RuntimeError("no iteration")


class LyingDict(dict):
    def keys(self):
        raise RuntimeError("no keys")

    def items(self):
        raise RuntimeError("no items")

    def __iter__(self):
        raise RuntimeError("no iteration")


BUILTINS = {
    "int": LyingInt,
    "float": LyingFloat,
    "str": LyingStr,
    "list": LyingList,
    "tuple": LyingTuple,
    "dict": LyingDict,
}
