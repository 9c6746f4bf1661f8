"""Properties of the numerical core (harness/numerics.py).

The "student" here is a plain NumPy function computing in float32 or
float64; `counted` wraps its stacked forward to count the requests that
would cross the process boundary.
"""

import numpy as np
import pytest

from harness import numerics as nx

F32, F64 = np.float32, np.float64


def counted(f):
    """f_stack that records the size of every request."""

    def f_stack(xs):
        f_stack.calls.append(len(xs))
        return f(xs)

    f_stack.calls = []
    return f_stack


def tanh_layer(rng, shape, n_out=30, dtype=F32):
    """y = tanh(x @ W) computed in `dtype`: (forward over a stack, exact VJP in
    `dtype`, the same VJP in float64 as the reference), input x."""
    x = rng.normal(size=shape)
    w = rng.normal(size=(shape[1], n_out)) / np.sqrt(shape[1])

    def forward(xs, dt=dtype):
        return np.tanh(xs.astype(dt) @ w.astype(dt))

    def vjp(x, v, dt=dtype):
        y = np.tanh(x.astype(dt) @ w.astype(dt))
        return ((1 - y * y) * v.astype(dt)) @ w.astype(dt).T

    v = rng.normal(size=(shape[0], n_out))
    return forward, vjp, x, v


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_vjp(x, v, dt):
    s = softmax(x.astype(dt))
    return s * (v.astype(dt) - np.sum(v.astype(dt) * s, axis=-1, keepdims=True))


def check(forward, x, v, g, g_ref, **kw):
    return nx.check_vjp(forward, x, v, g, g_ref, rng=np.random.default_rng(7), **kw)


# ---------------------------------------------------------------- steps and FD


def test_step_size_by_dtype_and_magnitude():
    x = np.ones(10)
    assert 5e-6 < nx.step_size(F64, x, richardson=False) < 7e-6  # cbrt(eps)
    assert 1e-3 <= nx.step_size(F32, x, richardson=False) <= 5e-3
    assert nx.step_size(F32, x) > nx.step_size(F32, x, richardson=False)  # Richardson: larger step
    assert nx.step_size(F64, 100 * x) == pytest.approx(100 * nx.step_size(F64, x))
    assert nx.step_size(F64, np.zeros(3)) == nx.step_size(F64, x)  # never below the unit scale


@pytest.mark.parametrize("richardson", [False, True])
def test_fd_on_float64_code_reaches_1e_7(richardson):
    forward, vjp, x, v = tanh_layer(np.random.default_rng(0), (20, 10), dtype=F64)
    u = np.random.default_rng(1).normal(size=(5,) + x.shape)
    f = counted(forward)
    est = nx.directional_derivatives(f, x, u, nx.step_size(F64, x, richardson), richardson)
    exact = u.reshape(5, -1) @ vjp(x, v).ravel()
    assert nx.rel_error(est.value.reshape(5, -1) @ v.ravel(), exact) <= 1e-7
    assert f.calls == [(4 if richardson else 2) * 5]  # one request for all points


@pytest.mark.parametrize("dtype, same_step, factor", [(F64, True, 1e3), (F64, False, 10), (F32, False, 3)])
def test_richardson_beats_plain_central_differences(dtype, same_step, factor):
    """At one step, Richardson removes the h^2 error; at each one's own best
    step it still wins, in float32 because it can afford a larger step."""
    forward, vjp, x, v = tanh_layer(np.random.default_rng(2), (30, 10), dtype=dtype)
    u = np.random.default_rng(3).normal(size=(4,) + x.shape)
    exact = u.reshape(4, -1) @ vjp(x, v, F64).ravel()

    def error(richardson):
        h = 1e-3 if same_step else nx.step_size(dtype, x, richardson)
        est = nx.directional_derivatives(forward, x, u, h, richardson)
        return nx.rel_error(est.value.reshape(4, -1) @ v.ravel(), exact)

    assert error(True) < error(False) / factor


# ---------------------------------------------------------------- VJP check

SHAPES = [(1, 4), (10, 5), (100, 50)]


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("shape", SHAPES)
def test_correct_code_passes(shape, dtype):
    forward, vjp, x, v = tanh_layer(np.random.default_rng(4), shape, dtype=dtype)
    result = check(forward, x, v, vjp(x, v), vjp(x, v, F64))
    assert result.passed, result
    assert result.culprit is None and result.own_forward_agrees and result.reference.passed


def test_correct_weight_gradient_passes_in_float32():
    rng = np.random.default_rng(5)
    x, w, v = rng.normal(size=(100, 50)), rng.normal(size=(50, 30)) / 7, rng.normal(size=(100, 30))

    def forward(ws):  # the same layer, as a function of its weights
        return np.tanh(x.astype(F32) @ ws.astype(F32))

    def grad(dt):
        y = np.tanh(x.astype(dt) @ w.astype(dt))
        return x.astype(dt).T @ ((1 - y * y) * v.astype(dt))

    assert check(forward, w, v, grad(F32), grad(F64)).passed
    assert not check(forward, w, v, 1.01 * grad(F32), None).passed


@pytest.mark.parametrize("shape", [(1, 10), (64, 10), (100, 50)])
def test_softmax_float32_passes_and_1_percent_fails(shape):
    rng = np.random.default_rng(6)
    x, v = 2 * rng.normal(size=shape), rng.normal(size=shape)

    def forward(xs):
        return softmax(xs.astype(F32))

    g, g_ref = softmax_vjp(x, v, F32), softmax_vjp(x, v, F64)
    assert check(forward, x, v, g, g_ref).passed
    assert not check(forward, x, v, 1.01 * g, g_ref).passed
    assert not check(forward, x, v, 1.01 * g, None).passed


def losses(rng, shape, dt):
    """Scalar losses computed in `dt` (mean squared error, clipped categorical
    cross-entropy) at probabilities p: (name, f_stack, gradient, p)."""
    p, y = nx.probabilities(rng, shape, floor=1e-3), nx.one_hot(rng, *shape)

    def mse(ps):
        return np.mean((ps.astype(dt) - y.astype(dt)) ** 2, axis=(-2, -1))

    def cce(ps):
        clipped = np.clip(ps.astype(dt), 1e-8, 1 - 1e-8)
        return -np.sum(y.astype(dt) * np.log(clipped), axis=(-2, -1)) / shape[0]

    return [
        ("mse", mse, lambda d: 2 * (p.astype(d) - y.astype(d)) / p.size, p),
        ("cce", cce, lambda d: -y.astype(d) / p.astype(d) / shape[0], p),
    ]


@pytest.mark.parametrize("shape", [(4, 10), (32, 10), (100, 50)])
def test_correct_float32_losses_pass_and_1_percent_fails(shape):
    """Scalar outputs summed in float32 carry round-off that a fixed relative
    tolerance misreads; the measured FD noise absorbs it."""
    v = np.array(1.0)
    for name, forward, grad, p in losses(np.random.default_rng(30), shape, F32):
        max_step = 0.1 * p  # never reach log's pole: move each p by < 10 %
        assert check(forward, p, v, grad(F32), grad(F64), max_step=max_step).passed, name
        assert not check(forward, p, v, 1.01 * grad(F32), None, max_step=max_step).passed, name


def test_max_step_keeps_finite_differences_inside_the_domain():
    """With p down to 1e-3, the default float32 step (0.04) crosses log's
    pole: the check must fail loudly, and pass once steps are bounded."""
    _, cce, grad, p = losses(np.random.default_rng(31), (32, 10), F32)[1]
    unbounded = check(cce, p, np.array(1.0), grad(F32), grad(F64))
    assert not unbounded.passed and unbounded.culprit == "forward"
    assert check(cce, p, np.array(1.0), grad(F32), grad(F64), max_step=0.1 * p).passed


def test_correct_float32_code_passes_across_seeds():
    """A false failure costs a student marks: no seed may produce one."""
    for seed in range(25):
        rng = np.random.default_rng(100 + seed)
        forward, vjp, x, v = tanh_layer(rng, (32, 10))
        assert nx.check_vjp(forward, x, v, vjp(x, v), vjp(x, v, F64), rng=rng).passed, seed
        z, w = 2 * rng.normal(size=(16, 10)), rng.normal(size=(16, 10))
        f = lambda zs: softmax(zs.astype(F32))  # noqa: E731
        assert nx.check_vjp(f, z, w, softmax_vjp(z, w, F32), softmax_vjp(z, w, F64), rng=rng).passed, seed
        for name, loss, grad, p in losses(rng, (8, 10), F32):
            result = nx.check_vjp(loss, p, np.array(1.0), grad(F32), grad(F64), rng=rng, max_step=0.1 * p)
            assert result.passed, (seed, name)


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("shape", SHAPES[1:])
def test_one_percent_scale_error_fails(shape, dtype):
    forward, vjp, x, v = tanh_layer(np.random.default_rng(8), shape, dtype=dtype)
    for g_ref in (vjp(x, v, F64), None):
        result = check(forward, x, v, 1.01 * vjp(x, v), g_ref)
        assert not result.passed and result.culprit == "backward"
        assert not result.directions[0].passed  # u = g_student alone sees it


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("mistake", ["+10%", "+0.5"])
def test_single_wrong_entry_fails_in_a_large_array(mistake, dtype):
    forward, vjp, x, v = tanh_layer(np.random.default_rng(9), (100, 50), dtype=dtype)  # 5000 entries
    g = vjp(x, v).copy()
    index = (37, 11)
    g[index] = g[index] * 1.1 if mistake == "+10%" else g[index] + 0.5
    result = check(forward, x, v, g, vjp(x, v, F64))
    assert not result.passed and result.culprit == "backward"
    difference = next(d for d in result.directions if d.name == "student - reference")
    assert not difference.passed and difference.reference_agrees  # forward is fine
    assert [m.index for m in result.reference.worst[:1]] == [index]


def test_forward_bug_and_backward_bug_are_told_apart():
    forward, vjp, x, v = tanh_layer(np.random.default_rng(10), (20, 10), dtype=F32)
    g_ref = vjp(x, v, F64)

    def wrong_forward(xs):
        return forward(1.02 * xs)

    # forward wrong, backward the true derivative: witness (a) disagrees
    a = check(wrong_forward, x, v, vjp(x, v), g_ref)
    assert (a.passed, a.own_forward_agrees, a.reference.passed, a.culprit) == (False, False, True, "forward")
    # forward wrong, backward faithful to that wrong forward: witness (b) disagrees
    b = check(wrong_forward, x, v, 1.02 * vjp(1.02 * x, v), g_ref)
    assert (b.passed, b.own_forward_agrees, b.reference.passed, b.culprit) == (False, True, False, "forward")
    # forward right, backward wrong: both witnesses disagree, FD matches the reference
    c = check(forward, x, v, 1.02 * vjp(x, v), g_ref)
    assert (c.passed, c.own_forward_agrees, c.reference.passed, c.culprit) == (
        False,
        False,
        False,
        "backward",
    )
    assert all(d.reference_agrees for d in c.directions)


def test_vjp_check_makes_one_request():
    forward, vjp, x, v = tanh_layer(np.random.default_rng(11), (10, 5))
    f = counted(forward)
    g = vjp(x, v)
    g[0, 0] += 0.1  # so that u = g_student - g_ref is a direction of its own
    result = check(f, x, v, g, vjp(x, v, F64), n_random=3)
    assert len(result.directions) == 6
    assert f.calls == [24] and result.calls == 1 and result.evaluations == 24


def test_broken_gradients_fail_without_evaluating():
    forward, vjp, x, v = tanh_layer(np.random.default_rng(12), (10, 5))
    f = counted(forward)
    nan = vjp(x, v).copy()
    nan[1, 1] = np.nan
    for g in (nan, vjp(x, v).T, "oops"):
        result = check(f, x, v, g, None)
        assert not result.passed and result.message and result.culprit == "backward"
    assert f.calls == []


def test_noisy_forward_is_never_a_silent_pass():
    forward, vjp, x, v = tanh_layer(np.random.default_rng(13), (20, 10), dtype=F64)
    noise = np.random.default_rng(14)

    def dropout_without_seed(xs):
        return forward(xs) * (noise.random((len(xs),) + v.shape) > 0.1)

    for g in (vjp(x, v), np.zeros_like(x)):  # zeros: no u = g_student direction to watch
        result = check(dropout_without_seed, x, v, g, None)
        assert not result.passed and "noisy" in result.message


# ---------------------------------------------------------------- localisation


def test_localise_finds_the_wrong_entry_among_suspects():
    forward, vjp, x, v = tanh_layer(np.random.default_rng(15), (100, 50))
    g, g_ref = vjp(x, v).copy(), vjp(x, v, F64)
    g[12, 34] *= 1.1
    candidates = nx.suspects(g, g_ref, k=8)
    assert candidates[0] == (12, 34) and len(candidates) == 8
    f = counted(forward)
    entries = nx.localise(f, x, v, g, candidates)
    assert [e.index for e in entries if e.wrong] == [(12, 34)]
    assert f.calls == [4 * 8]
    bad = entries[0]
    assert bad.fd == pytest.approx(g_ref[12, 34], rel=1e-3) and bad.student == pytest.approx(g[12, 34])


def test_localise_checks_every_entry_of_a_small_array():
    forward, vjp, x, v = tanh_layer(np.random.default_rng(16), (6, 5), dtype=F64)
    g = vjp(x, v).copy()
    g[4, 1] -= 0.5
    candidates = nx.suspects(g)  # no reference: all 30 entries
    assert len(candidates) == 30
    assert [e.index for e in nx.localise(forward, x, v, g, candidates) if e.wrong] == [(4, 1)]


@pytest.mark.parametrize("shape", [(8, 8), (100, 50)])
def test_localise_flags_nothing_in_correct_float32_code(shape):
    """Per-entry FD of a float32 scalar loss is noisy; the noise pooled over
    all candidates keeps right entries from being called wrong."""
    v = np.array(1.0)
    for name, forward, grad, p in losses(np.random.default_rng(32), shape, F32):
        g = grad(F32)
        candidates = nx.suspects(g, grad(F64), k=32)
        entries = nx.localise(forward, p, v, g, candidates, max_step=0.1 * p)
        assert not [e.index for e in entries if e.wrong], name


# ---------------------------------------------------------------- comparison


def test_compare_passes_float32_rounding():
    forward, vjp, x, v = tanh_layer(np.random.default_rng(17), (100, 50))
    assert nx.compare(forward(x[None])[0], forward(x[None], F64)[0]).passed
    assert nx.compare(vjp(x, v), vjp(x, v, F64)).passed
    assert nx.compare(np.array([1.0, np.nan, np.inf]), np.array([1.0, np.nan, np.inf])).passed


def test_compare_fails_on_errors_and_reports_where():
    rng = np.random.default_rng(18)
    e = rng.normal(size=(40, 30))
    one = e.copy()
    one[5, 7] *= 1.1
    nan = e.copy()
    nan[2, 3] = np.nan
    for actual in (1.01 * e.astype(F32), one, one.astype(F32), nan):
        assert not nx.compare(actual, e).passed
    result = nx.compare(one, e)
    assert result.worst[0].index == (5, 7) and result.worst[0].expected == e[5, 7]
    assert result.max_rel == pytest.approx(0.1)
    assert "shape" in nx.compare(e.T, e).message
    assert "numeric" in nx.compare("abc", e).message and "numeric" in nx.compare(None, e).message
    assert not nx.compare(np.zeros(3), np.array([0.0, np.nan, 0.0])).passed


def test_rel_error():
    assert nx.rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert nx.rel_error([1.0, -1.0], [1.0, 1.0]) == pytest.approx(1.0)


# ---------------------------------------------------------------- sampling


def test_samplers_respect_margins_gaps_and_floors():
    rng = np.random.default_rng(19)
    x = nx.away_from(rng, (50, 40), points=(0.0, 1.0), margin=0.2, scale=2.0)
    assert np.abs(x).min() >= 0.2 and np.abs(x - 1).min() >= 0.2 and x.std() > 1
    d = np.sort(nx.distinct(rng, (8, 3, 6, 6), min_gap=0.05).ravel())
    assert d.size == 8 * 3 * 36 and np.diff(d).min() >= 0.05 - 1e-12
    p = nx.probabilities(rng, (64, 10), floor=1e-3)
    assert np.allclose(p.sum(axis=1), 1) and p.min() >= 1e-3
    y = nx.one_hot(rng, 100, 7)
    assert y.shape == (100, 7) and (y.sum(axis=1) == 1).all() and set(np.unique(y)) == {0.0, 1.0}
    with pytest.raises(ValueError):
        nx.probabilities(rng, (2, 10), floor=0.2)


# ---------------------------------------------------------------- diagnosis


def hint(actual, expected, **kw):
    hints = nx.diagnose(actual, expected, **kw)
    assert len(hints) >= 1, "no hint fired"
    return " | ".join(hints)


def test_diagnose_is_silent_on_correct_results():
    forward, vjp, x, v = tanh_layer(np.random.default_rng(20), (32, 50))
    e = vjp(x, v, F64)
    candidates = {"used the diagonal only": 2 * e}
    assert nx.diagnose(vjp(x, v), e, batch_size=32, candidates=candidates) == []
    assert nx.diagnose(e, e, batch_size=32) == []
    relu = np.maximum(e, 0)
    assert nx.diagnose(relu.astype(F32), relu) == []


def test_diagnose_names_each_mistake():
    rng = np.random.default_rng(21)
    B = 16
    e = rng.normal(size=(B, 8))
    w = rng.normal(size=(5, 3))
    assert "sign" in hint(-e, e)
    assert "transposed" in hint(w.T, w)
    square = rng.normal(size=(6, 6))
    assert "transposed" in hint(square.T, square)
    assert "batch size" in hint(B * e, e, batch_size=B)
    assert "1/batch size" in hint(e / B, e, batch_size=B)
    assert "factor of 2" in hint(2 * e, e, square=True) and "factor of 0.5" in hint(e / 2, e, square=True)
    # A 2 is blamed on a square's derivative only where the forward squares: else it is a constant.
    assert "square" not in hint(2 * e, e) and "constant factor ~ 2 " in hint(2 * e, e)
    assert "1.37" in hint(1.37 * e, e)
    assert "offset" in hint(e + 0.3, e)
    assert "all zeros" in hint(np.zeros_like(e), e)
    assert "NaN" in hint(np.where(e > 2, np.nan, e), e)
    per_sample = rng.normal(size=(B, 5, 3))
    assert "sum over the batch" in hint(per_sample, per_sample.sum(0), batch_size=B)
    bias = rng.normal(size=(B, 3))
    assert "sum over the batch" in hint(bias, bias.sum(0, keepdims=True))
    assert "shape" in hint(e.ravel(), e)
    relu_in = rng.normal(size=(B, 8))
    good = e * (relu_in > 0)
    assert "mask" in hint(e * (relu_in > 0.5), good)  # zero where it should not be
    assert "mask" in hint(e * (relu_in < 0), good)  # the inverted mask
    assert "0.3 x expected" in hint(np.where(relu_in > 0, e, 0.3 * e), e)  # wrong leaky slope
    one = e.copy()
    one[3, 4] += 1.0
    assert "(3, 4)" in hint(one, e)
    diagonal_only = rng.normal(size=(B, 8))
    got = hint(diagonal_only, e, candidates={"used the diagonal of the softmax Jacobian only": diagonal_only})
    assert "diagonal" in got
    assert nx.diagnose("oops", e) == ["not a numeric array: got str"]


# ---------------------------------------------------------------- precision of every array


def test_precision_reads_dtypes_values_and_half_precision():
    rng = np.random.default_rng(40)
    x = rng.normal(size=(6, 5))
    assert nx.precision(x) is F64 and nx.precision(F64, x) is F64
    assert nx.precision(x, x.astype(F32)) is F32 and nx.precision(np.dtype("float32")) is F32
    # float32 arithmetic handed back as float64 shows in the values
    assert nx.precision(x.astype(F32).astype(F64)) is F32
    assert nx.precision(float(np.float32(0.1234567))) is F32
    # zeros, integers, one-hot rows, small dyadics: no evidence of float32
    assert nx.precision(np.zeros(4), nx.one_hot(rng, 5, 3), np.arange(5.0), np.array([0.5, -0.25])) is F64
    # half precision is named, and never crashes a tolerance lookup
    half = x.astype(np.float16)
    assert nx.half_precision(half) and nx.half_precision(np.float16) and not nx.half_precision(x, x.astype(F32))
    assert nx.precision(half) is F32  # the loosest tier SPEC knows, for any comparison still made


def test_float32_grid_makes_every_finite_difference_point_exact():
    rng = np.random.default_rng(41)
    x = nx.on_grid(rng.normal(scale=2.0, size=(7, 4)))
    assert np.array_equal(x.astype(F32), x)
    assert np.abs(x - nx.on_grid(x)).max() == 0.0  # idempotent
    seen = []

    def f_stack(xs):
        seen.append(xs)
        return np.tanh(xs).sum(axis=-1)

    v = rng.normal(size=7)
    g = (1 - np.tanh(x) ** 2) * v[:, None]
    max_step = 0.3 * np.abs(x)  # shrunk steps must be exact too
    assert nx.check_vjp(f_stack, x, v, g, g, rng=rng, dtype=F32, max_step=max_step).passed
    nx.localise(f_stack, x, v, g, nx.suspects(g), dtype=F32, max_step=max_step)
    for points in seen:
        assert np.array_equal(points.astype(F32).astype(F64), points)


def test_float32_storage_does_not_corrupt_the_witness():
    """Parameters stored in float32, results computed in float64 (SPEC 4): with
    exact steps the finite differences of a linear map are exact, whatever
    storage rounds; with steps off the float32 grid they carry its rounding."""
    rng = np.random.default_rng(42)
    x, v = rng.normal(size=(20, 10)), rng.normal(size=(20, 30))

    def forward(ws):  # y = x @ w, w read from float32 storage
        return x @ ws.astype(F32).astype(F64)

    w = nx.on_grid(rng.normal(size=(10, 30)) / 3)
    g = x.T @ v
    exact = nx.check_vjp(forward, w, v, g, g, rng=np.random.default_rng(1), dtype=F32)
    assert exact.passed and exact.worst_rel < 1e-9
    off_grid = w + 2.0**-30  # float64 values storage must round
    rounded = nx.check_vjp(forward, off_grid, v, g, g, rng=np.random.default_rng(1), dtype=F32)
    assert rounded.worst_rel > 100 * exact.worst_rel


@pytest.mark.parametrize("shape", SHAPES[1:])
def test_exact_float32_steps_still_catch_1_percent_and_one_entry(shape):
    rng = np.random.default_rng(43)
    forward, vjp, x, v = tanh_layer(rng, shape, dtype=F32)
    x = nx.on_grid(x)
    g, g_ref = vjp(x, v), vjp(x, v, F64)
    assert check(forward, x, v, g, g_ref, dtype=F32).passed
    assert not check(forward, x, v, 1.01 * g, g_ref, dtype=F32).passed
    assert not check(forward, x, v, 1.01 * g, None, dtype=F32).passed
    one = g.copy()
    one[shape[0] // 2, 1] += 0.5
    result = check(forward, x, v, one, g_ref, dtype=F32)
    assert not result.passed and result.culprit == "backward"


def test_cotangent_follows_the_shape_the_forward_returns():
    """A loss returning (1,) instead of a scalar: finite differences still
    judge its gradient (the shape is the forward check's business)."""
    rng = np.random.default_rng(44)
    p = nx.on_grid(rng.normal(size=(4, 3)))

    def loss(ps):  # (K, 1): one (1,) loss per point
        return np.mean(ps**2, axis=(-2, -1))[:, None]

    v, g = np.float64(1.0), 2 * p / p.size
    assert check(loss, p, v, g, g).passed
    assert not check(loss, p, v, 1.01 * g, None).passed
    with pytest.raises(ValueError, match="cotangent"):
        check(lambda ps: ps, p, v, g, None)  # a (4, 3) output for a scalar cotangent


def test_rounding_floor_separates_float32_cancellation_from_a_missing_clip():
    """-log(1 - 1e-8) is 1e-8 in float64 and 0 in float32 (1 - 1e-8 rounds to
    1): float32 code passes, float64 code without the clip does not."""
    expected = np.array(-np.log(1 - 1e-8))
    assert nx.compare(np.float32(0.0), expected, F32, floor=nx.rounding_floor(F32, 1.0)).passed
    assert not nx.compare(np.float64(0.0), expected, F64, floor=nx.rounding_floor(F64, 1.0)).passed
    assert nx.compare(np.float64(-np.log(np.float64(1 - 1e-8))), expected, F64, floor=nx.rounding_floor(F64, 1.0)).passed
