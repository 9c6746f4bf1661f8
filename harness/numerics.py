"""The numerical core of the gradient checker: pure functions, NumPy only.

The student's code runs in another process, so each evaluation of their
forward pass is a round trip. Functions here take `f_stack(xs)`, which maps K
stacked inputs `(K, *x.shape)` to K stacked outputs `(K, *y.shape)` in ONE
request; nothing here calls it point by point.

Conventions: inputs we build are float64, on the grid of `on_grid` so that
every perturbed point is exactly a float32; `dtype` means the precision the
student *computes* in (float32 or float64: the lowest of every array their
code stores, returns or computes with, see `precision`), which sets steps
and tolerances.
Directions are scaled to max-norm 1, so no entry moves by more than the step
h (about 0.04 for float32, 7e-4 for float64, times max(1, rms x)): sample
inputs further than that from kinks and ties, or pass `max_step`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np

from . import vocabulary as kinds

# Tolerances by the precision the student computes in. RTOL is relative to the
# values compared; ATOL is relative to the array's scale (its largest |entry|),
# so one rule serves gradients of size 1e-6 and 1e6. Correct float32 code
# agrees with a float64 reference to ~1e-6 of scale; a 1 % error must fail.
RTOL = {np.float32: 1e-3, np.float64: 1e-6}
ATOL = {np.float32: 1e-4, np.float64: 1e-8}
NOISE_SIGMAS = 3.0  # finite-difference noise allowance, in estimated sigmas
ROUNDING_ULPS = 16  # see rounding_floor


def precision(*arrays) -> type:
    """The tier of tolerances and steps for code whose arrays (or dtypes) are
    given: np.float32 if any is a float of 32 bits or less, or a float64 array
    whose values all fit float32 (computed in float32, then cast up), else
    np.float64. Integers and bools lose nothing. Half precision is outside
    SPEC: `half_precision` names it, this reads it as float32."""
    for a in arrays:
        if computed_in(a) is not np.float64:
            return np.float32
    return np.float64


def computed_in(a) -> type:
    """np.float16, np.float32 or np.float64: the precision an array (or dtype)
    was computed in. For a dtype, its own; for a float64 array, float32 when
    every finite entry is exactly a float32 and one at least is not a float16
    (so zeros, integers and one-hot rows still read as float64)."""
    if isinstance(a, (type, np.dtype, str)):
        d, values = np.dtype(a), None
    else:
        values = np.asarray(a)
        d = values.dtype
    if d.kind != "f":
        return np.float64
    if d.itemsize <= 2:
        return np.float16
    if d.itemsize <= 4:
        return np.float32
    if values is None or values.size == 0 or d.itemsize > 8:
        return np.float64
    finite = values[np.isfinite(values)]
    with np.errstate(over="ignore"):
        fits32 = np.array_equal(finite.astype(np.float32), finite)
        fits16 = np.array_equal(finite.astype(np.float16), finite)
    return np.float32 if fits32 and not fits16 else np.float64


def half_precision(*arrays) -> bool:
    """Whether any of the arrays (or dtypes) is a float of 16 bits or less."""
    return any(computed_in(a) is np.float16 for a in arrays)


def rel_error(a, b) -> float:
    """max |a - b| relative to the largest |a| + |b|, CS231n style (as in
    tests/fd.py): ~1e-7 or less is right, above 1e-2 is wrong."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(1e-8, float(np.max(np.abs(a) + np.abs(b), initial=0.0)))
    return float(np.max(np.abs(a - b), initial=0.0)) / scale


def as_numeric(value) -> np.ndarray | None:
    """`value` as a float64 array, or None when it is not numeric (str, None,
    ragged lists, objects, complex)."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        return None
    return arr.astype(np.float64) if arr.dtype.kind in "biuf" else None


def _index(flat_or_tuple, shape=None) -> tuple:
    """A plain tuple of ints, for reports (from a flat index when shape given)."""
    idx = np.unravel_index(flat_or_tuple, shape) if shape is not None else flat_or_tuple
    return tuple(int(i) for i in idx)


# ---------------------------------------------------------- finite differences


def step_size(dtype, x, richardson: bool = True) -> float:
    """Central-difference step for code computing in `dtype`, around `x`.

    Plain central differences trade truncation O(h^2) against round-off eps/h:
    best h ~ eps^(1/3) (6e-6 for float64, 5e-3 for float32). Richardson
    cancels the h^2 term, leaving O(h^4) against eps/h: h ~ eps^(1/5) (7e-4,
    4e-2), a larger step, which is what rescues float32. Times max(1, rms x),
    so the step stays far above the rounding of x itself.
    """
    eps = np.finfo(precision(dtype)).eps
    x = np.asarray(x, dtype=np.float64)
    magnitude = max(1.0, float(np.sqrt(np.mean(x * x)))) if x.size else 1.0
    return float(eps ** (1 / 5 if richardson else 1 / 3) * magnitude)


class Estimate(NamedTuple):
    """FD estimates of J u_k, shape (K, *y.shape), and their spread D(h) -
    D(h/2): signed, so it can be projected like `value`; its size bounds the
    truncation left and reflects round-off noise (None without Richardson)."""

    value: np.ndarray
    spread: np.ndarray | None


def directional_derivatives(f_stack, x, directions, h, richardson=True) -> Estimate:
    """Central-difference estimates of J u for each u in `directions`
    (K, *x.shape), all perturbed points in ONE f_stack call: 2K points, or 4K
    for Richardson's (4 D(h/2) - D(h)) / 3."""
    x = np.asarray(x, dtype=np.float64)
    u = np.asarray(directions, dtype=np.float64)
    steps = (h, h / 2) if richardson else (h,)
    points = np.concatenate([x + sign * s * u for s in steps for sign in (1, -1)])
    y = np.asarray(f_stack(points))
    if y.ndim == 0 or y.shape[0] != len(points):
        raise ValueError(f"f_stack returned shape {y.shape} for {len(points)} points")
    y = y.astype(np.float64).reshape((len(steps), 2, len(u)) + y.shape[1:])
    d = [(y[i, 0] - y[i, 1]) / (2 * s) for i, s in enumerate(steps)]
    if not richardson:
        return Estimate(d[0], None)
    return Estimate((4 * d[1] - d[0]) / 3, d[0] - d[1])


# Steps that storage cannot round. Writing x + h u into float32 storage (or
# casting it to float32 to compute) rounds it, and the rounding, divided by
# the step, corrupts the quotient. With x on a grid of spacing q (a power of
# two) and every displacement a multiple of q, all perturbed points are
# exactly representable in float32: any cast is lossless, the displacement is
# the one we divide by. `on_grid` puts sampled values on such a grid.

MANTISSA_BITS = {np.float32: 24, np.float64: 53}


def grid(x, reach=0.0, dtype=np.float32) -> float:
    """The spacing q, a power of two, such that every multiple of q up to
    max|x| + reach in magnitude is exactly representable in `dtype`."""
    top = (float(np.max(np.abs(np.asarray(x, dtype=np.float64)), initial=0.0)) + reach) * (1 + 2.0**-20)
    exponent = max(math.frexp(top)[1], np.finfo(dtype).minexp + MANTISSA_BITS[dtype])  # top < 2**exponent
    return 2.0 ** (exponent - MANTISSA_BITS[dtype])


def on_grid(x, reach=None) -> np.ndarray:
    """`x` rounded (by at most 2**-24 of max|x|) to a grid on which central
    differences with any float32 step up to `reach` (default: twice
    `step_size(float32, x)`) perturb it exactly in float32."""
    x = np.asarray(x, dtype=np.float64)
    q = grid(x, 2 * step_size(np.float32, x) if reach is None else reach)
    return np.round(x / q) * q


def exact_steps(x, u, h, dtype):
    """(u', h'): directions and step such that x +- h' u' and x +- h'/2 u' are
    exactly representable in `dtype` (h' a power of two near h, h' u' on the
    grid of x), or (u, h) unchanged when `dtype` is float64 or x is not on
    its grid (then the points are what they are)."""
    if precision(dtype) is np.float64:
        return u, h
    h2 = 2.0 ** round(math.log2(h))
    q = grid(x, h2)
    if not np.array_equal(np.round(x / q) * q, x):
        return u, h
    return np.round(u * (h2 / (2 * q))) * (2 * q / h2), h2


def _projected(f_stack, x, v, u, h, max_step, dtype=np.float64):
    """v . (J u_k) and its spread for each direction, after shrinking the
    entries of u that may not move by h (|h u_i| <= max_step_i) and making
    every step exact in `dtype`; returns the directions used. The cotangent
    v is applied to the output as the forward returns it (a (1,) loss for a
    scalar one): only its number of entries must agree."""
    shrink = np.ones(x.shape) if max_step is None else np.minimum(1.0, np.broadcast_to(max_step, x.shape) / h)
    u, h = exact_steps(x, u * shrink, h, dtype)
    est = directional_derivatives(f_stack, x, u, h)
    out_shape = est.value.shape[1:]
    if out_shape != v.shape:
        if int(np.prod(out_shape)) != v.size:
            raise ValueError(f"forward output shape {out_shape} differs from the cotangent's {v.shape}")
        v = v.reshape(out_shape)
    return est.value.reshape(len(u), -1) @ v.ravel(), est.spread.reshape(len(u), -1) @ v.ravel(), u


# ---------------------------------------------------------- array comparison


@dataclasses.dataclass
class Mismatch:
    index: tuple
    actual: float
    expected: float
    error: float  # |actual - expected|; inf when only one side is NaN/inf


@dataclasses.dataclass
class Comparison:
    passed: bool
    max_abs: float
    max_rel: float  # largest error relative to its expected entry (tiny ones floored)
    worst: list[Mismatch]  # the top_k largest errors relative to their allowance, failing entries first
    message: str = ""
    error_map: list | None = None  # where it failed, for reports (see `error_map`); None when it passed
    shape: tuple = ()  # of the arrays compared, when both had it


# An error map is small enough to travel with every failure (between grading
# processes, and into results.json when its extra_data carries diagnoses):
# at most 200 cells of two decimals each is at most ~1.2 KB of JSON.
ERROR_MAP_SIDE = 32  # cells per side at most
ERROR_MAP_CELLS = 200  # cells in all at most
ERROR_MAP_LEAST = 0.01  # the value of an entry that fails by a hair: never shown as right


def as_2d_shape(shape) -> tuple[int, int]:
    """How an array of `shape` is laid out in an error map: a scalar is 1x1,
    a vector one row, a matrix itself, a higher array one row per index of
    its first axis (a sample, for a batch) with the other axes flattened, row-major."""
    shape = tuple(int(n) for n in shape)
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return 1, shape[0]
    return shape[0], int(np.prod(shape[1:]))


def map_cells(rows, cols) -> tuple[int, int]:
    """The error map's size for an array laid out as `rows` x `cols`: the
    array itself when it fits, else at most ERROR_MAP_SIDE per side and
    ERROR_MAP_CELLS in all: a short side is kept whole (one row per sample
    of a small batch) and the long one cut, else the map is square."""
    r, c = min(rows, ERROR_MAP_SIDE), min(cols, ERROR_MAP_SIDE)
    if r * c <= ERROR_MAP_CELLS:
        return r, c
    short = min(r, c)
    if short * short <= ERROR_MAP_CELLS:
        return (r, ERROR_MAP_CELLS // r) if r <= c else (ERROR_MAP_CELLS // c, c)
    side = math.isqrt(ERROR_MAP_CELLS)
    return side, side


def map_blocks(count, cells) -> list[tuple[int, int]]:
    """The [start, stop) ranges of `count` entries that `cells` cells cover,
    as even as integers allow (as np.array_split): cell i covers
    [i * count // cells, (i + 1) * count // cells)."""
    return [(i * count // cells, (i + 1) * count // cells) for i in range(cells)]


def error_map(actual, expected, bad) -> list[list[float]]:
    """Where `actual` is wrong, for a heatmap: a 2-D list of values in [0, 1].

    Each entry's error is 0 where it is within tolerance (`bad` False), else
    its relative difference |a - e| / (|a| + |e|), at least ERROR_MAP_LEAST:
    1 for a flipped sign, a wrong zero or a NaN/inf; (B - 1) / (B + 1) for a
    factor B. The array is laid out in 2-D (`as_2d_shape`) and cut into
    blocks (`map_cells`, `map_blocks`); a cell holds its block's largest
    error, so one wrong entry among thousands still shows. Rounded to two
    decimals to stay small.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    rows, cols = as_2d_shape(a.shape)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        relative = np.abs(a - e) / (np.abs(a) + np.abs(e))
    relative = np.where(np.isfinite(relative), relative, 1.0)  # NaN/inf on one side only
    values = np.where(np.asarray(bad, dtype=bool), np.clip(relative, ERROR_MAP_LEAST, 1.0), 0.0).reshape(rows, cols)
    map_rows, map_cols = map_cells(rows, cols)
    cells = [
        [float(values[r0:r1, c0:c1].max(initial=0.0)) for c0, c1 in map_blocks(cols, map_cols)]
        for r0, r1 in map_blocks(rows, map_rows)
    ]
    # 0 and 1 as ints: "0" is a third of "0.0" in JSON, and most cells are one or the other.
    return [[int(v) if v in (0.0, 1.0) else max(round(v, 2), ERROR_MAP_LEAST) for v in row] for row in cells]


def _tolerance(expected, dtype, rtol=None, atol=None):
    """Per-entry allowance rtol*|e| + atol*scale (scale = largest finite |e|,
    at least eps, so an all-zero expectation still tolerates rounding)."""
    tier = precision(dtype)
    rtol = RTOL[tier] if rtol is None else rtol
    atol = ATOL[tier] if atol is None else atol
    scale = max(float(np.abs(expected[np.isfinite(expected)]).max(initial=0.0)), float(np.finfo(tier).eps))
    return rtol * np.abs(np.nan_to_num(expected, posinf=0, neginf=0)) + atol * scale, atol * scale


def rounding_floor(dtype, magnitude) -> float:
    """An absolute allowance for results far smaller than the values they are
    computed from (cancellation: log(1 - 1e-8) from probabilities of size 1):
    ROUNDING_ULPS rounding errors of the precision at that magnitude."""
    return ROUNDING_ULPS * float(np.finfo(precision(dtype)).eps) * magnitude


def compare(actual, expected, dtype=None, *, top_k=5, rtol=None, atol=None, floor=0.0) -> Comparison:
    """Judge `actual` (student) against `expected` (reference) entry by entry.

    Passes when every |a - e| <= rtol*|e| + atol*max|e| + floor, tolerances by
    the precision the student computes in (default: actual's dtype; `floor`,
    absolute, see `rounding_floor`). NaN and inf must match exactly: a NaN
    where a finite value is expected always fails.
    """
    a, e = as_numeric(actual), np.asarray(expected, dtype=np.float64)
    fail = Comparison(False, np.inf, np.inf, [])
    if a is None:
        return dataclasses.replace(fail, message=f"not a numeric array: got {type(actual).__name__}")
    if a.shape != e.shape:
        return dataclasses.replace(fail, message=f"shape {a.shape}, expected {e.shape}")
    floor_abs = float(floor)
    tol, floor = _tolerance(e, np.asarray(actual).dtype if dtype is None else dtype, rtol, atol)
    tol, floor = tol + floor_abs, floor + floor_abs
    same_special = (np.isnan(a) & np.isnan(e)) | (np.isinf(a) & (a == e))
    with np.errstate(invalid="ignore"):
        err = np.where(np.isfinite(a) & np.isfinite(e), np.abs(a - e), np.where(same_special, 0.0, np.inf))
    bad = err > tol
    # The largest errors relative to each entry's own allowance, so the entries that
    # fail come first: an absolute ranking lists big entries within tolerance
    # before a small one that fails (mixed precision).
    with np.errstate(invalid="ignore", divide="ignore"):
        excess = np.where(err > 0, err / np.maximum(tol, 1e-300), 0.0)
    order = np.argsort(-excess, axis=None, kind="stable")[:top_k]
    worst = [
        Mismatch(i, float(a[i]), float(e[i]), float(err[i]))
        for i in (_index(f, a.shape) for f in order)
        if err[i] > 0
    ]
    max_rel = float((err / np.maximum(np.abs(np.nan_to_num(e)), max(floor, 1e-300))).max(initial=0.0))
    message, where = "", None
    if bad.any():
        kind = "" if np.isfinite(a[bad]).all() else "NaN/inf; "
        message = (
            f"{int(bad.sum())} of {a.size} entries differ ({kind}first at {_index(np.argwhere(bad)[0])})"
        )
        where = error_map(a, e, bad)
    return Comparison(not bad.any(), float(err.max(initial=0.0)), max_rel, worst, message, where, a.shape)


# ---------------------------------------------------------- the VJP check


@dataclasses.dataclass
class Direction:
    name: str  # "student gradient", "reference gradient", "student - reference", "random 1"...
    fd: float  # v . (J u) by finite differences of the student's own forward
    student: float  # g_student . u
    reference: float | None  # g_ref . u
    allowance: float  # the largest |fd - student| accepted
    rel: float  # |fd - student| / max(|fd|, |student|, FD noise)
    passed: bool  # the student's backward agrees with their forward along u
    reference_agrees: bool | None  # g_ref agrees with the student's forward along u


@dataclasses.dataclass
class VJPCheck:
    passed: bool
    worst_rel: float
    directions: list[Direction]
    evaluations: int  # points evaluated
    calls: int  # f_stack requests
    own_forward_agrees: bool  # witness (a): g_student matches FD of the student's forward
    reference: Comparison | None  # witness (b): g_student against g_ref
    culprit: str | None  # None, "backward", "forward" or "forward and backward"
    message: str = ""


def _directions(g, g_ref, rng, n_random):
    """Informative directions first, then random Gaussian ones.

    Along a random u a relative error shows at 1/sqrt(n) of its natural scale,
    lost in FD noise for big arrays. u = g_student sees a scale error in full;
    u = g_student - g_ref turns the whole discrepancy into its own signal
    (|d|^2 against g_ref . d), so one wrong entry among thousands shows.
    """
    named = [("student gradient", g)]
    if g_ref is not None:
        named += [("reference gradient", g_ref), ("student - reference", g - g_ref)]
    named += [(f"random {i + 1}", rng.standard_normal(g.shape)) for i in range(n_random)]
    named = [(name, u / np.abs(u).max()) for name, u in named if np.abs(u).max() > 0]
    if not named:
        raise ValueError("no direction to check along: pass n_random >= 1")
    return [name for name, _ in named], np.stack([u for _, u in named])


def _culprit(own_ok, ref_ok, forward_like_ref):
    """Whom to blame, from witness (a) own forward, witness (b) the reference,
    and whether the student's forward has the reference's derivative."""
    if own_ok and ref_ok is not False:
        return None
    if ref_ok is None:
        return "backward"  # disagrees with its own forward; nothing more to tell
    if own_ok or ref_ok:  # faithful to a wrong forward, or right but the forward is not
        return "forward"
    return "backward" if forward_like_ref else "forward and backward"


def _gradient_problem(g, x_shape):
    if g is None:
        return "gradient is not a numeric array"
    if g.shape != x_shape:
        return f"gradient has shape {g.shape}, the input has {x_shape}"
    if not np.isfinite(g).all():
        return f"gradient has {int((~np.isfinite(g)).sum())} NaN/inf entries"
    return None


def check_vjp(
    f_stack, x, v, g_student, g_ref=None, *, rng, n_random=3, dtype=None, h=None, max_step=None
) -> VJPCheck:
    """Check the student's input gradient g_student = J^T v at x.

    Along each direction u, v . (J u) by Richardson differences of the
    student's own forward must equal g_student . u; the 4 points per direction
    go in ONE f_stack call. A direction passes when |fd - student| <= rtol *
    max(|fd|, |student|) + |its spread| + 3 sigma, sigma the RMS spread of the
    random directions: the FD noise that any unit-max direction carries.
    `dtype`: what the student computes in (default g_student's); `max_step`
    (scalar or per entry): how far an entry may move (kinks, log's domain).
    """
    x, v = np.asarray(x, dtype=np.float64), np.asarray(v, dtype=np.float64)
    tier = precision(np.asarray(g_student).dtype if dtype is None else dtype)
    g = as_numeric(g_student)
    ref = None if g_ref is None else compare(g_student, g_ref, tier)
    problem = _gradient_problem(g, x.shape)
    if problem:
        return VJPCheck(False, np.inf, [], 0, 0, False, ref, "backward", problem)
    g_r = None if g_ref is None else np.asarray(g_ref, dtype=np.float64)
    names, u = _directions(g, g_r, rng, n_random)
    fd, spread, u = _projected(f_stack, x, v, u, step_size(tier, x) if h is None else h, max_step, tier)
    student = u.reshape(len(u), -1) @ g.ravel()
    randoms = [i for i, name in enumerate(names) if name.startswith("random")]
    noise = np.abs(spread) + NOISE_SIGMAS * np.sqrt(np.mean(spread[randoms] ** 2) if randoms else 0.0)
    scale = np.maximum(np.abs(fd), np.abs(student))
    allowance = RTOL[tier] * scale + noise
    passed = np.abs(fd - student) <= allowance
    rel = np.abs(fd - student) / np.maximum(np.maximum(scale, noise), 1e-300)
    refs, ref_agrees = [None] * len(u), [None] * len(u)
    if g_r is not None:
        reference = u.reshape(len(u), -1) @ g_r.ravel()
        refs = reference.tolist()
        ref_agrees = (
            np.abs(fd - reference) <= RTOL[tier] * np.maximum(np.abs(fd), np.abs(reference)) + noise
        ).tolist()
    rows = zip(fd.tolist(), student.tolist(), refs, allowance.tolist(), rel.tolist(), passed.tolist())
    directions = [Direction(name, *row, agree) for name, row, agree in zip(names, rows, ref_agrees)]
    strongest = int(np.argmax(np.abs(fd))) if np.isfinite(fd).all() else None
    message = ""
    if strongest is None:
        message = "the forward returned NaN/inf near x"
    elif not noise[strongest] <= 0.1 * abs(fd[strongest]):
        message = "finite differences too noisy: a non-deterministic forward, or a kink near x?"
    own_ok = not message and bool(passed.all())
    ref_ok = None if ref is None else ref.passed
    culprit = "forward" if message else _culprit(own_ok, ref_ok, all(ref_agrees))
    worst = float(rel.max())
    return VJPCheck(culprit is None, worst, directions, 4 * len(u), 1, own_ok, ref, culprit, message)


# ---------------------------------------------------------- localisation


@dataclasses.dataclass
class Entry:
    index: tuple
    student: float  # (g_student)_i
    fd: float  # (J^T v)_i by finite differences of the student's forward
    wrong: bool


def suspects(g_student, g_ref=None, k=8, small=64) -> list[tuple]:
    """Entries worth an FD check of their own: all of a small array, else the
    k with the largest |g_student - g_ref| (|g_student| with no reference)."""
    g = np.asarray(g_student, dtype=np.float64)
    if g.size <= small:
        return [_index(i) for i in np.ndindex(*g.shape)]
    score = np.abs(g if g_ref is None else g - np.asarray(g_ref, dtype=np.float64))
    return [_index(f, g.shape) for f in np.argsort(-score, axis=None, kind="stable")[:k]]


def localise(f_stack, x, v, g_student, candidates, h=None, dtype=None, max_step=None) -> list[Entry]:
    """(J^T v)_i = v . (J e_i) for each candidate index i, by Richardson
    differences along basis directions, all 4 * len(candidates) points in ONE
    f_stack call. An entry is wrong when it misses the FD value by more than
    rtol * |value| + atol * max|g_student| + |its spread| + 3 sigma, sigma the
    RMS spread over all candidates (the FD noise, as in check_vjp)."""
    if not candidates:
        return []
    x, v = np.asarray(x, dtype=np.float64), np.asarray(v, dtype=np.float64)
    g = np.asarray(g_student, dtype=np.float64)
    tier = precision(np.asarray(g_student).dtype if dtype is None else dtype)
    basis = np.zeros((len(candidates),) + x.shape)
    for row, idx in enumerate(candidates):
        basis[(row,) + tuple(idx)] = 1.0
    h = step_size(tier, x) if h is None else h
    fd, spread, basis = _projected(f_stack, x, v, basis, h, max_step, tier)
    # An entry whose step max_step shrank by w has its FD value, and noise, scaled by 1/w.
    weight = np.maximum(basis.reshape(len(basis), -1).max(axis=1), 1e-300)
    noise = (np.abs(spread) + NOISE_SIGMAS * np.sqrt(np.mean(spread**2))) / weight
    floor = ATOL[tier] * float(np.abs(g).max(initial=0.0))
    student, fd = np.array([g[tuple(i)] for i in candidates]), fd / weight
    wrong = ~(np.abs(student - fd) <= RTOL[tier] * np.maximum(np.abs(student), np.abs(fd)) + floor + noise)
    return [
        Entry(_index(i), *row)
        for i, row in zip(candidates, zip(student.tolist(), fd.tolist(), wrong.tolist()))
    ]


# ---------------------------------------------------------- input sampling
# Finite differences are wrong across a kink (ReLU at 0), a tie (max pooling)
# or a clip: keep every entry further than the FD step from them.


def away_from(rng, shape, points=(0.0,), margin=0.1, scale=1.0) -> np.ndarray:
    """Gaussian(0, scale) samples, redrawn until none lies within `margin`
    of any of `points` (the kinks)."""
    x = rng.normal(0.0, scale, size=shape)
    for _ in range(1000):
        near = np.zeros(x.shape, dtype=bool)
        for p in points:
            near |= np.abs(x - p) < margin
        if not near.any():
            return x
        x[near] = rng.normal(0.0, scale, size=int(near.sum()))
    raise ValueError(f"cannot keep Gaussian({scale}) samples {margin} away from {points}")


def distinct(rng, shape, min_gap=0.1, scale=1.0) -> np.ndarray:
    """Gaussian samples pairwise at least `min_gap` apart (no near-ties for a
    max): sort, widen every gap to min_gap, put back in place."""
    flat = rng.normal(0.0, scale, size=int(np.prod(shape)))
    order = np.argsort(flat)
    values = flat[order][0] + np.concatenate([[0.0], np.cumsum(np.maximum(np.diff(flat[order]), min_gap))])
    out = np.empty_like(flat)
    out[order] = values - values.mean() + flat.mean()
    return out.reshape(shape)


def probabilities(rng, shape, floor=1e-3) -> np.ndarray:
    """Rows (last axis) summing to 1 with every entry >= floor, far from the
    1e-8 clip of cross-entropy: floor + (1 - n*floor) * Dirichlet(1, ..., 1).
    Check them with max_step below the floor (e.g. 0.1 * p, per entry)."""
    n = shape[-1]
    if n * floor >= 1:
        raise ValueError(f"{n} classes cannot all have probability >= {floor}")
    e = rng.exponential(size=shape)
    return floor + (1.0 - n * floor) * e / e.sum(axis=-1, keepdims=True)


def one_hot(rng, n, k) -> np.ndarray:
    """n float64 one-hot rows over k classes, drawn uniformly."""
    out = np.zeros((n, k))
    out[np.arange(n), rng.integers(0, k, size=n)] = 1.0
    return out


# ---------------------------------------------------------- diagnosis
# Each recognised mistake is a `Finding`: the hint a student reads and, when the
# evidence names one, its kind in SPEC 5's vocabulary (`harness.vocabulary`), for
# results.json. A kind is named only where the evidence supports it: `scale` when
# actual ~ c * expected over ALL entries, `mask` when every wrong entry is a wrong
# zero, `entries` when most entries are right, ...


class Finding(NamedTuple):
    text: str  # the hint, for the student
    mistake: str = ""  # its kind (harness.vocabulary.MISTAKES), "" when the hint names none


def _close(a, b) -> np.ndarray:
    """Entrywise 'same value' for diagnosis, at float32 tolerances."""
    return np.abs(a - b) <= _tolerance(b, np.float32)[0]


def _same(a, b) -> bool:
    return a.shape == b.shape and bool(_close(a, b).all())


def _factor(c, batch_size, square) -> str:
    """What a constant factor c between actual and expected may be. A factor is
    named only when it is that number (to 0.1 %, far tighter than the 1 % of a
    float32 mistake); 2 is blamed on a square's derivative only where the
    forward squares something (`square`)."""

    def near(t):
        return t is not None and abs(c - t) <= 1e-3 * abs(t)

    if batch_size and batch_size > 1 and near(batch_size):
        return f"a factor of the batch size ({batch_size}): the 1/B of a mean is missing"
    if batch_size and batch_size > 1 and near(1 / batch_size):
        return f"a factor of 1/batch size (1/{batch_size}): divided by B, where a sum was expected"
    if square and (near(2) or near(0.5)):
        return f"a factor of {round(c, 1)}: a 2 (derivative of a square?) missing or doubled"
    return f"a constant factor ~ {c:.4g} (actual ~ {c:.4g} x expected in every entry)"


def _shape_findings(a, e, batch_size) -> list[Finding]:
    if a.ndim >= 2 and a.shape == e.shape[::-1] and _same(a.T, e):
        return [Finding(f"transposed: shape {a.shape} holds expected^T (expected {e.shape})", kinds.TRANSPOSE)]
    summed = None
    if a.ndim == e.ndim + 1 and a.shape[1:] == e.shape:
        summed = a.sum(axis=0)
    elif a.ndim == e.ndim and e.shape[:1] == (1,) and a.shape[1:] == e.shape[1:]:
        summed = a.sum(axis=0, keepdims=True)
    if summed is not None and batch_size in (None, a.shape[0]) and _same(summed, e):
        return [Finding(f"missing the sum over the batch: shape {a.shape} holds per-sample terms of the answer",
                        kinds.BATCH_REDUCTION)]
    if a.size == e.size and _same(a.reshape(e.shape), e):
        return [Finding(f"right values, wrong shape {a.shape} (expected {e.shape}): a reshape or keepdims?", kinds.SHAPE)]
    return [Finding(f"shape {a.shape}, expected {e.shape}", kinds.SHAPE)]


def _mask_finding(a, e, ok) -> list[Finding]:
    """Mismatches that are all 'zero where expected is not' or 'nonzero where
    expected is zero' point at a wrong mask (a ReLU condition, a max position)."""
    tol = _tolerance(e, np.float32)[1]
    a_zero, e_zero = np.abs(a) <= tol, np.abs(e) <= tol
    zeroed, leaked = ~ok & a_zero & ~e_zero, ~ok & ~a_zero & e_zero
    if (zeroed | leaked).sum() != (~ok).sum():
        return []
    parts = [
        f"{what} at {int(m.sum())} entries (first at {_index(np.argwhere(m)[0])})"
        for what, m in [("zero where expected is not", zeroed), ("nonzero where expected is 0", leaked)]
        if m.any()
    ]
    return [Finding("wrong mask: " + "; ".join(parts), kinds.MASK)]


def _region_finding(a, e, ok, regions) -> list[Finding]:
    """Every wrong entry inside one of `regions` ({description: boolean mask shaped
    like the arrays}, e.g. "where pooling windows overlap"), which does not cover
    the whole array: the mistake lies in how those entries are computed."""
    bad = ~ok
    for description, region in (regions or {}).items():
        region = np.asarray(region, dtype=bool)
        if region.shape != a.shape or region.all() or (bad & ~region).any():
            continue
        return [Finding(f"wrong only at entries {description}: {int(bad.sum())} of the {int(region.sum())} such "
                        f"entries differ, and every other entry is right", kinds.ENTRIES)]
    return []


def _subset_finding(a, e, ok) -> list[Finding]:
    """Right on most entries: name the rest, and a common factor on them."""
    bad = ~ok
    if ok.mean() < 0.5:
        return []
    eb = e[bad]
    c = float(np.sum(a[bad] * eb) / np.sum(eb * eb)) if eb.any() else 0.0
    right = f"right on {int(ok.sum())} of {a.size} entries"
    if bad.sum() > 1 and eb.any() and _same(a[bad], c * eb):
        return [Finding(f"{right}; on the other {int(bad.sum())}, actual ~ {c:.4g} x expected (a wrong branch/slope?)",
                        kinds.ENTRIES)]
    i = _index(np.argwhere(bad)[0])
    got, want = distinct_texts(a[i], e[i])
    return [Finding(f"{right}; {int(bad.sum())} differ, first at {i}: {got} vs {want}", kinds.ENTRIES)]


def _value_findings(a, e, batch_size, square, regions) -> list[Finding]:
    if _same(a, np.zeros_like(e)):
        return [Finding("all zeros: the gradient is never computed or never written back?")]
    if _same(a, -e):
        return [Finding("sign flipped: actual ~ -expected", kinds.SIGN)]
    ee = float(np.sum(e * e))
    c = float(np.sum(a * e)) / ee if ee > 0 else 0.0
    # One number is some multiple of any other: a factor shows over two entries at least.
    if ee > 0 and np.count_nonzero(e) > 1 and _same(a, c * e):
        return [Finding("off by " + _factor(c, batch_size, square), kinds.SCALE)]
    offset = float(np.mean(a - e))
    if _same(a, e + offset):
        return [Finding(f"off by a constant offset ~ {offset:.4g}")]
    if a.ndim == 2 and a.shape[0] == a.shape[1] and _same(a, e.T):
        return [Finding("transposed: actual ~ expected^T", kinds.TRANSPOSE)]
    ok = _close(a, e)
    return _mask_finding(a, e, ok) or _region_finding(a, e, ok, regions) or _subset_finding(a, e, ok)


def recognise(actual, expected, batch_size=None, candidates=None, *, square=False, regions=None) -> list[Finding]:
    """The mistakes `actual` shows against `expected`, as `Finding`s: [] when none
    is recognised, and always [] when `actual` is right.

    `candidates` maps a description to the array a known mistake would produce
    ({"used only the diagonal of the softmax Jacobian": arr}), or to (arr, kind)
    with its SPEC kind; the description is returned when actual matches.
    `square`: the forward squares something, so a factor 2 may be its
    derivative. `regions`: {description: mask} of entries that a mistake may
    confine itself to ("where pooling windows overlap")."""
    a, e = as_numeric(actual), np.asarray(expected, dtype=np.float64)
    if a is None:
        return [Finding(f"not a numeric array: got {type(actual).__name__}")]
    if compare(a, e, np.float32).passed:
        return []
    bad = ~np.isfinite(a)
    if bad.any():
        first = _index(np.argwhere(bad)[0])
        return [Finding(f"{int(bad.sum())} NaN/inf entries (first at {first}): an exp overflow, log(0) or 0/0?",
                        kinds.STABILITY)]
    # Products and means of values near the float range overflow: a hint is then not found,
    # and no RuntimeWarning (an error under -W error) may escape the diagnosis.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        found = []
        for description, candidate in (candidates or {}).items():
            array, kind = candidate if isinstance(candidate, tuple) else (candidate, "")
            if _same(a, np.asarray(array, dtype=np.float64)):
                found.append(Finding(description, kind))
        if a.shape != e.shape:
            return found + _shape_findings(a, e, batch_size)
        return found + _value_findings(a, e, batch_size, square, regions)


def diagnose(actual, expected, batch_size=None, candidates=None, *, square=False, regions=None) -> list[str]:
    """Short hints naming a recognisable mistake (the texts of `recognise`)."""
    return [f.text for f in recognise(actual, expected, batch_size, candidates, square=square, regions=regions)]


def mistake_of(findings) -> str:
    """The SPEC kind of the first finding that names one, or ""."""
    return next((f.mistake for f in findings if f.mistake), "")


def distinct_texts(got, expected, least=6) -> tuple[str, str]:
    """The two numbers printed with `least` significant digits, or more (up to
    17, the float64 round trip) until the texts differ where the values do."""
    got, expected = float(got), float(expected)
    for digits in range(least, 18):
        a, b = f"{got:.{digits}g}", f"{expected:.{digits}g}"
        if a != b or got == expected:
            return a, b
    return a, b
