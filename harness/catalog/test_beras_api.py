"""Checks of beras beyond the generic layer checks: the optimizers, the gradient
tape, the given core, Dense's contract, the model, the encoder and the metric.

Every check builds one scenario as a function `build(batch, ...)` of sandbox
ops, plays the SAME scenario on the student's engine and on the reference's
(`play`, one request each), and compares what came back. Nothing expected is
computed here: the reference's values are the expected ones (the in-place
checks only compare the student's arrays with the inputs they were given). A
failing op of the student's names the method that raised (with its message
and traceback), and every failure carries a snippet that replays the scenario
in plain Python.

Classes that build on others (the tape on the layers, the model on the
layers, loss, metric, tape and optimizer) are also compared with a witness:
the same computation done by hand, in the same request, with the student's
own pieces. Matching the reference, or matching the witness when one of the
pieces is off (its own checks then fail), passes; so a bug costs points in
the checks of the class that has it, not in every class built on it.

Scenarios that enter a GradientTape clear `beras.core.Diffable.gradient_tape`
first, and again afterwards when the request broke off (a failed op skips the
rest of the request, `__exit__` included), so one broken tape cannot make
later checks fail with "Cannot nest gradient tapes".
"""


import numpy as np

from harness import numerics
from harness.checks import HIDDEN, CheckFailure, check, expect_close, fail, floating_dtype
from harness.gradcheck import PARAMETER_SCALE, side_by_side
from harness.ops import failure_summary, first_failure, snippet_of
from harness.sandbox import ErrorInfo, Pending
from harness.timing import training_calls


def __tracebackhide__(excinfo):
    """pytest: leave this module's frames out of a CheckFailure's traceback (the diagnosis says it
    all; formatting them parses this long module again for every frame: ~0.1 s per failed check).
    Any other exception, a bug of a check, keeps its full traceback."""
    return excinfo is not None and excinfo.errisinstance(CheckFailure)


OPTIONAL = "_optional_from"  # key of a scenario's result: the index from which ops may raise

# ============================================================== playing a scenario


class ReferenceBroken(RuntimeError):
    """The reference engine failed on a scenario: a bug of the check, not of the submission."""


class TypeOf:
    """In a scenario's result: the remote type of a value (e.g. "beras.core.Tensor"), not the value."""

    def __init__(self, pending, *path):
        self.pending = pending
        self.path = path


class Played:
    """What one engine returned for a scenario."""

    def __init__(self, batch, values):
        self.batch = batch
        self.values = values

    def __getitem__(self, key):
        return self.values[key]

    def snippet(self, notes=()):
        return snippet_of(self.batch, notes=notes)


def optional_from_here(batch, comment=""):
    """Mark the ops recorded from now on as optional: they may raise without failing the check
    (witnesses, and ops expected to raise); their values are the ErrorInfo when they did."""
    if comment:
        comment_ops(batch, comment)
    return len(batch._ops)


def comment_ops(batch, comment):
    """A comment in the snippet before the next op."""
    notes = getattr(batch, "comments", {})
    notes[len(batch._ops)] = comment
    batch.comments = notes


def reset_tape(batch):
    """Ops that clear `beras.core.Diffable.gradient_tape` (a tape left open by an earlier request)."""
    core = batch.call("importlib.import_module", "beras.core").quiet()
    batch.setattr(core, "Diffable.gradient_tape", None).quiet()
    hidden = getattr(batch, "hidden_ops", set())
    hidden.update({len(batch._ops) - 2, len(batch._ops) - 1})
    batch.hidden_ops = hidden
    return core


def play(engine, build, *args, student, case="", tape=False, **kwargs):
    """Run `build(batch, *args)` as one request on `engine`; its values by key.

    A failed op of the student's becomes a CheckFailure naming the method;
    of the reference's, a ReferenceBroken. Ops from the index under OPTIONAL
    on give their ErrorInfo instead of raising. With `tape`, the tape is
    cleared afterwards if any op failed (`__exit__` may not have run).
    """
    with engine.batch() as batch:
        wanted = build(batch, *args, **kwargs)
    optional = wanted.pop(OPTIONAL, len(batch._ops))
    error = first_failure(batch, optional)
    if tape and not all(result.ok for result in batch.results):
        with engine.batch() as cleanup:
            reset_tape(cleanup)
    if error is not None:
        index, label, info = error
        if not student:
            raise ReferenceBroken(f"the reference failed on {label}: {info} ({case})")
        summary = failure_summary(label, info)
        fail(summary, method=label, case=case, traceback=info.traceback or "", snippet=snippet_of(batch, upto=index))
    return Played(batch, _values(wanted))


def play_both(student, reference, build, *args, **kwargs):
    """`play` on both engines at once: (the student's, the reference's)."""

    def on(engine):
        return play(engine, build, *args, student=engine is student, **kwargs)

    return side_by_side(on, student, reference)


def failed(value):
    """Whether an optional op's value is the error it raised (or a skip)."""
    return isinstance(value, ErrorInfo)


def _values(node):
    if isinstance(node, TypeOf):
        return node.pending.result.type_of(*node.path)
    if isinstance(node, Pending):
        result = node.result
        return result.value if result.ok else result.error
    if isinstance(node, dict):
        return {key: _values(value) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(_values(value) for value in node)
    return node


# ------------------------------------------------------------ naming ops


# ------------------------------------------------------------ snippets


# ------------------------------------------------------------ small helpers


def _params(rng, shapes):
    return [rng.normal(scale=PARAMETER_SCALE, size=shape) for shape in shapes]


def _dense(batch, n_in, n_out, weights=None, **kwargs):
    """A Dense layer (seeded init), its `weights` list (a Pending) and, if given, the weights set."""
    layer = batch.new("beras.layers.Dense", n_in, n_out, **kwargs).seed(0)
    refs = batch.getattr(layer, "weights").quiet()
    for i, value in enumerate(weights or ()):
        batch.assign(refs[i], value)
    return layer, refs


def _copy(batch, array_ref):
    """The current content of a remote array (a copy)."""
    return batch.call("numpy.array", array_ref)


def _same_arrays(got, want):
    a, b = numerics.as_numeric(got), numerics.as_numeric(want)
    return a is not None and b is not None and a.shape == b.shape and np.array_equal(a, b)


def close(actual, expected, dtype=None, rtol=None):
    """Whether `actual` matches `expected` (tolerances by dtype; `rtol` may loosen them)."""
    if any(v is None or failed(v) for v in (actual, expected)):
        return False
    return numerics.compare(actual, expected, dtype=dtype, rtol=_rtol(dtype, rtol)).passed


def _rtol(dtype, rtol):
    return None if rtol is None else max(rtol, numerics.RTOL[numerics.precision(dtype or np.float64)])


def close_or_fail(actual, expected, what, dtype=None, hints=(), rtol=None, **details):
    """expect_close, with hints of our own added to the recognised mistakes."""
    comparison = numerics.compare(actual, expected, dtype=dtype, rtol=_rtol(dtype, rtol))
    if comparison.passed:
        return
    worst = [(m.index, m.actual, m.expected) for m in comparison.worst]
    found = numerics.diagnose(actual, expected)
    fail(f"{what}: {comparison.message}", worst=worst, hints=found + [h for h in hints if h], **details)


def _is_float(value):
    return isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool))


def _check_float_dict(value, keys, method, what, snippet, case="", per_epoch=None):
    """`value` must be a dict with `keys`, each a float (or, with per_epoch=n, a list of n floats)."""
    if not isinstance(value, dict) or set(value) != set(keys):
        got = f"a dict with keys {sorted(value)}" if isinstance(value, dict) else type(value).__name__
        fail(f"{what} must return a dict with keys {sorted(keys)}, got {got}", method=method, case=case, snippet=snippet)
    for key in keys:
        entry = value[key]
        if per_epoch is None:
            if not _is_float(entry):
                kind = f"an array of shape {np.shape(entry)}" if isinstance(entry, np.ndarray) else type(entry).__name__
                fail(f'{what}["{key}"] must be a Python float (use float(...)), got {kind}', method=method, case=case, snippet=snippet)
            continue
        if not isinstance(entry, list) or len(entry) != per_epoch:
            got = f"a list of {len(entry)}" if isinstance(entry, list) else type(entry).__name__
            fail(f'{what}["{key}"] must be a list of {per_epoch} floats (one per epoch), got {got}', method=method, case=case, snippet=snippet)
        bad = [i for i, v in enumerate(entry) if not _is_float(v)]
        if bad:
            fail(f'{what}["{key}"][{bad[0]}] must be a Python float, got {type(entry[bad[0]]).__name__}', method=method, case=case, snippet=snippet)
        if not np.all(np.isfinite(entry)):
            fail(f'{what}["{key}"] has NaN or inf: {entry}', method=method, case=case, snippet=snippet)


# ============================================================== optimizers

OPTIMIZER_SHAPES = ((3, 4), (1, 4), (5,))
GRADIENT_SCALES = (1.0, 0.25, 2.0, 0.1, 1.0)  # big and small steps: running averages and amsgrad's max matter
# Steps are compared relative to their own size. Where epsilon is added (sqrt(v) + eps, or Keras's
# eps * sqrt(1 - beta_2^t)) changes a step by ~eps / |g|, 1e-5 at the default epsilons: tolerated
# here; the hidden checks use large epsilons, where the documented placement matters.
OPTIMIZER_RTOL = 1e-4


def optimizer_build(batch, cls, kwargs, params, steps, spare=None):
    """Variables for `params`, one `apply_gradients` per step, the parameters read after each."""
    optimizer = batch.new(f"beras.optimizers.{cls}", **kwargs)
    variables = [batch.call("beras.core.Variable", p).quiet() for p in params]
    kept = batch.call("beras.core.Variable", spare).quiet() if spare is not None else None
    out = {"after": [], "grads": []}
    for grads in steps:
        given = [batch.call("numpy.array", g).quiet() for g in grads]
        optimizer.apply_gradients(variables, given).quiet()
        out["after"].append([_copy(batch, v) for v in variables])
        if spare is not None:  # the in-place check: the gradients must be left alone too
            out["grads"].append([_copy(batch, g) for g in given])
    if kept is not None:
        out["spare"] = _copy(batch, kept)
    return out


def optimizer_case(rng, n_steps):
    params = _params(rng, OPTIMIZER_SHAPES)
    steps = [
        [scale * numerics.away_from(rng, shape, points=(0.0,), margin=0.1) for shape in OPTIMIZER_SHAPES]
        for scale in GRADIENT_SCALES[:n_steps]
    ]
    return params, steps


def _describe_optimizer(cls, kwargs):
    return f"{cls}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def _check_in_place(cls, kwargs, student, rng):
    params, steps = optimizer_case(rng, 1)
    spare = rng.normal(size=(2, 3))
    case = f"{_describe_optimizer(cls, kwargs)}, one step on parameters of shapes {list(OPTIMIZER_SHAPES)}"
    method = f"{cls}.apply_gradients"
    got = play(student, optimizer_build, cls, kwargs, params, steps, spare, student=True, case=case)
    snippet = got.snippet(notes=["the Variables must hold new values after apply_gradients (updated in place)"])
    after = got["after"][0]
    unchanged = [i for i, (p, a) in enumerate(zip(params, after)) if _same_arrays(a, p)]
    if len(unchanged) == len(params):
        fail(
            f"{method} left every parameter array it was given unchanged: it must update them in place",
            method=method, case=case, snippet=snippet,
            hints=["`p = p - lr * g` (or `params[i] = ...`) makes a new array: write into the old one, `p -= lr * g`"],
        )
    if unchanged:
        fail(f"{method} did not change parameter(s) {unchanged} in place (the others changed)", method=method, case=case, snippet=snippet)
    for i, (g, given) in enumerate(zip(got["grads"][0], steps[0])):
        if not _same_arrays(g, given):
            fail(f"{method} changed gradient {i}, which it must only read", method=method, case=case, snippet=snippet)
    if not _same_arrays(got["spare"], spare):
        fail(f"{method} changed a Variable that was not passed to it", method=method, case=case, snippet=snippet)


def _check_trajectory(cls, kwargs, student, reference, rng, n_steps=5):
    params, steps = optimizer_case(rng, n_steps)
    label = _describe_optimizer(cls, kwargs)
    case = f"{label}, {n_steps} steps on parameters of shapes {list(OPTIMIZER_SHAPES)}, a new gradient each step"
    method = f"{cls}.apply_gradients"
    got, want = play_both(student, reference, optimizer_build, cls, kwargs, params, steps, case=case)
    snippet = got.snippet(notes=[f"after step t, v<...> copies hold each parameter; compare with a correct {cls}"])
    if all(_same_arrays(a, p) for step in got["after"] for a, p in zip(step, params)):
        fail(
            f"{method} never changed the parameters in {n_steps} steps (are they updated in place?)",
            method=method, case=case, snippet=snippet,
        )
    dtype = floating_dtype(*got["after"][-1])
    first_step_right = False
    for t in range(n_steps):
        for i, p in enumerate(params):
            # Each step's own move, from where each engine was: a sum of steps can cancel out.
            a, w = got["after"][t][i], want["after"][t][i]
            a0, w0 = (p, p) if t == 0 else (got["after"][t - 1][i], want["after"][t - 1][i])
            shapes_ok = all(numerics.as_numeric(v) is not None and np.shape(v) == p.shape for v in (a, a0))
            moved = np.asarray(a, dtype=np.float64) - np.asarray(a0, dtype=np.float64) if shapes_ok else a
            expected = np.asarray(w) - np.asarray(w0)
            if close(moved, expected, dtype, rtol=OPTIMIZER_RTOL):
                continue
            hint = ""
            if first_step_right:
                hint = ("the first step is right, a later one is not: the state kept between steps "
                        "(running averages, step count) is updated or used wrongly")
            close_or_fail(
                moved, expected,
                f"{method}: step {t + 1} of {n_steps} did not move parameter {i} (shape {p.shape}) as expected",
                dtype=dtype, hints=[hint], rtol=OPTIMIZER_RTOL, method=method, case=case, snippet=snippet,
            )
        first_step_right = first_step_right or t == 0


@check("beras.optimizers.BasicOptimizer", "apply_gradients updates the given arrays in place, and only those", points=1)
def test_basic_optimizer_in_place(student, reference, rng):
    _check_in_place("BasicOptimizer", {"learning_rate": 0.1}, student, rng)


@check("beras.optimizers.BasicOptimizer", "parameters over 5 steps match the reference", points=2)
def test_basic_optimizer_trajectory(student, reference, rng):
    _check_trajectory("BasicOptimizer", {"learning_rate": 0.1}, student, reference, rng)


@check("beras.optimizers.RMSProp", "apply_gradients updates the given arrays in place, and only those", points=1)
def test_rmsprop_in_place(student, reference, rng):
    _check_in_place("RMSProp", {"learning_rate": 0.01}, student, rng)


@check("beras.optimizers.RMSProp", "parameters over 5 steps match the reference (running average of g²)", points=2)
def test_rmsprop_trajectory(student, reference, rng):
    _check_trajectory("RMSProp", {"learning_rate": 0.01}, student, reference, rng)


@check("beras.optimizers.RMSProp", "parameters over 5 steps match the reference with beta=0.6, epsilon=0.01", points=2, visibility=HIDDEN)
def test_rmsprop_trajectory_hyperparameters(student, reference, rng):
    _check_trajectory("RMSProp", {"learning_rate": 0.02, "beta": 0.6, "epsilon": 0.01}, student, reference, rng)


@check("beras.optimizers.Adam", "apply_gradients updates the given arrays in place, and only those", points=1)
def test_adam_in_place(student, reference, rng):
    _check_in_place("Adam", {"learning_rate": 0.01}, student, rng)


@check("beras.optimizers.Adam", "parameters over 5 steps match the reference (bias-corrected moments)", points=2)
def test_adam_trajectory(student, reference, rng):
    _check_trajectory("Adam", {"learning_rate": 0.01}, student, reference, rng)


@check(
    "beras.optimizers.Adam",
    "parameters over 5 steps match the reference with amsgrad=True, beta_1=0.8, beta_2=0.95, epsilon=1e-3",
    points=2, visibility=HIDDEN,
)
def test_adam_trajectory_amsgrad(student, reference, rng):
    kwargs = {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-3, "amsgrad": True}
    _check_trajectory("Adam", kwargs, student, reference, rng)


# ============================================================== gradient tape
# A tape's gradients depend on the layers it composes. Each scenario also
# composes the student's own layers by hand (their compose_* methods, the
# sums of a fan-out): the "witness". A tape that matches the reference, or
# that matches this witness when the layers themselves are off (their own
# checks then fail), is right; otherwise the tape is at fault.


def _vjp(batch, layer, upstream):
    """layer.compose_input_gradients([upstream])[0]."""
    return batch.method(layer, "compose_input_gradients", [upstream]).pick(0)


def _wvjp(batch, layer, upstream, index):
    """layer.compose_weight_gradients([upstream])[index]."""
    return batch.method(layer, "compose_weight_gradients", [upstream]).pick(index)


def tape_build(batch, graph, weights, x, y):
    """Layers of `graph`, the forward under a tape (entered and exited as ops), tape.gradient, and
    the same gradients composed by hand from the layers' compose_* (optional: the witness)."""
    reset_tape(batch)
    xv = batch.call("beras.core.Tensor", x).quiet()
    yv = batch.call("beras.core.Tensor", y).quiet()
    tape = batch.new("beras.gradient_tape.GradientTape")
    if graph == "chain":
        d1, w1 = _dense(batch, x.shape[1], weights[0].shape[1], weights[:2])
        act = batch.new("beras.activations.LeakyReLU", 0.2)
        d2, w2 = _dense(batch, weights[2].shape[0], weights[2].shape[1], weights[2:])
        softmax = batch.new("beras.activations.Softmax")
        loss_fn = batch.new("beras.losses.CategoricalCrossentropy")
        batch.method(tape, "__enter__").quiet()
        h = batch.call(d1, xv).quiet()
        z = batch.call(d2, batch.call(act, h).quiet()).quiet()
        loss = batch.call(loss_fn, batch.call(softmax, z).quiet(), yv)
        sources = [xv, w1[0], w1[1], w2[0], w2[1]]
    elif graph == "fan-out":
        d1, w1 = _dense(batch, x.shape[1], weights[0].shape[1], weights[:2])
        d2, w2 = _dense(batch, x.shape[1], weights[2].shape[1], weights[2:])
        act = batch.new("beras.activations.Tanh")
        loss_fn = batch.new("beras.losses.MeanSquaredError")
        batch.method(tape, "__enter__").quiet()
        a = batch.call(act, batch.call(d1, xv).quiet()).quiet()
        c = batch.call(d2, xv).quiet()
        loss = batch.call(loss_fn, a, c)
        sources = [xv, w1[0], w1[1], w2[0], w2[1]]
    elif graph == "weight as input":
        d1, w1 = _dense(batch, x.shape[1], weights[0].shape[1], weights[:2])
        d2, w2 = _dense(batch, weights[2].shape[0], weights[2].shape[1], weights[2:])
        loss_fn = batch.new("beras.losses.MeanSquaredError")
        batch.method(tape, "__enter__").quiet()
        h = batch.call(d1, xv).quiet()
        z = batch.call(d2, w1[0]).quiet()
        loss = batch.call(loss_fn, h, z)
        sources = [xv, w1[0], w1[1], w2[0], w2[1]]
    elif graph == "disconnected":
        d1, w1 = _dense(batch, x.shape[1], weights[0].shape[1], weights[:2])
        unused, w2 = _dense(batch, x.shape[1], weights[0].shape[1], weights[2:])
        other = batch.call("beras.core.Tensor", x).quiet()
        loss_fn = batch.new("beras.losses.MeanSquaredError")
        batch.method(tape, "__enter__").quiet()
        loss = batch.call(loss_fn, batch.call(d1, xv).quiet(), yv)
        sources = [w1[0], w1[1], w2[0], w2[1], other, xv, yv]
    else:
        raise ValueError(graph)
    batch.method(tape, "__exit__", None, None, None).quiet()
    out = {"loss": loss, "grads": batch.method(tape, "gradient", loss, sources)}
    out[OPTIONAL] = optional_from_here(batch, "the same gradients, composed by hand from the layers' compose_* methods:")
    top = batch.method(loss_fn, "compose_input_gradients", None).quiet()  # [dL/dy_pred, dL/dy_true]
    if graph == "chain":
        gz = _vjp(batch, softmax, top[0]).quiet()
        ga = _vjp(batch, d2, gz).quiet()
        gh = _vjp(batch, act, ga).quiet()
        witness = [_vjp(batch, d1, gh), _wvjp(batch, d1, gh, 0), _wvjp(batch, d1, gh, 1),
                   _wvjp(batch, d2, gz, 0), _wvjp(batch, d2, gz, 1)]
    elif graph == "fan-out":
        gh = _vjp(batch, act, top[0]).quiet()
        gx = batch.call("numpy.add", _vjp(batch, d1, gh).quiet(), _vjp(batch, d2, top[1]).quiet())
        witness = [gx, _wvjp(batch, d1, gh, 0), _wvjp(batch, d1, gh, 1),
                   _wvjp(batch, d2, top[1], 0), _wvjp(batch, d2, top[1], 1)]
    elif graph == "weight as input":
        gw1 = batch.call("numpy.add", _wvjp(batch, d1, top[0], 0).quiet(), _vjp(batch, d2, top[1]).quiet())
        witness = [_vjp(batch, d1, top[0]), gw1, _wvjp(batch, d1, top[0], 1),
                   _wvjp(batch, d2, top[1], 0), _wvjp(batch, d2, top[1], 1)]
    else:
        witness = [_wvjp(batch, d1, top[0], 0), _wvjp(batch, d1, top[0], 1), None, None, None,
                   _vjp(batch, d1, top[0]), batch.call("numpy.asarray", top[1])]
    out["witness"] = witness
    return out


GRAPHS = {
    "chain": "x (5, 4) -> Dense(4, 6) -> LeakyReLU(0.2) -> Dense(6, 3) -> Softmax -> CategoricalCrossentropy(., y)",
    "fan-out": "MeanSquaredError()(Tanh()(d1(x)), d2(x)): x (5, 3) feeds Dense d1 and Dense d2",
    "weight as input": "MeanSquaredError()(d1(x), d2(d1.w)): d1 = Dense(3, 4), d2 = Dense(4, 4), x (3, 3)",
    "disconnected": "MeanSquaredError()(d1(x), y) with another Dense and a Tensor that the loss does not use",
}

SOURCE_NAMES = {
    "chain": ["x", "first Dense w", "first Dense b", "second Dense w", "second Dense b"],
    "fan-out": ["x (used by both Dense layers)", "first Dense w", "first Dense b", "second Dense w", "second Dense b"],
    "weight as input": ["x", "first Dense w (also the second Dense's input)", "first Dense b", "second Dense w", "second Dense b"],
    "disconnected": ["used Dense w", "used Dense b", "unused Dense w", "unused Dense b", "a Tensor never used", "x", "y_true"],
}


def tape_case(rng, graph):
    if graph == "chain":
        x, y = rng.normal(size=(5, 4)), numerics.one_hot(rng, 5, 3)
        return _params(rng, [(4, 6), (1, 6), (6, 3), (1, 3)]), x, y
    if graph == "fan-out":
        return _params(rng, [(3, 4), (1, 4), (3, 4), (1, 4)]), rng.normal(size=(5, 3)), np.zeros((5, 4))
    if graph == "weight as input":  # batch 3 = d1's input size, so d1(x) and d2(d1.w) have the same shape
        return _params(rng, [(3, 4), (1, 4), (4, 4), (1, 4)]), rng.normal(size=(3, 3)), np.zeros((3, 4))
    return _params(rng, [(3, 2), (1, 2), (3, 2), (1, 2)]), rng.normal(size=(4, 3)), rng.normal(size=(4, 2))


def _judge_gradient(method, name, g, w, v, dtype, case, snippet, hint=""):
    """The tape's gradient g for one source: right if it matches the reference's w, or the
    student's own layers composed by hand v (the layers are then to blame, in their own checks)."""
    if w is None:
        if g is not None:
            fail(f"{method}: the gradient for {name} must be None (the loss does not depend on it), got "
                 f"{type(g).__name__}", method=method, case=case, snippet=snippet)
        return
    if g is None:
        fail(f"{method}: the gradient for {name} is None, but the loss depends on it", method=method, case=case,
             snippet=snippet, hints=[hint] if hint else [])
    if numerics.as_numeric(g) is None or np.shape(g) != np.shape(w):
        got_shape = np.shape(g) if numerics.as_numeric(g) is not None else type(g).__name__
        fail(f"{method}: the gradient for {name} has shape {got_shape}, expected {np.shape(w)} (the source's shape)",
             method=method, case=case, snippet=snippet)
    if close(g, w, dtype) or close(g, v, dtype):
        return
    hints = [hint]
    if v is not None and not failed(v) and close(v, w, dtype):
        hints.append("composing your own layers' compose_* by hand gives the expected value: the tape combines them wrongly")
    elif v is not None and not failed(v):
        hints.append("it also differs from your own layers' compose_* composed by hand")
    close_or_fail(g, w, f"{method}: the gradient for {name} differs from the reference", dtype=dtype, hints=hints,
                  method=method, case=case, snippet=snippet)


def _check_tape_gradients(graph, student, reference, rng, hint=""):
    weights, x, y = tape_case(rng, graph)
    case = GRAPHS[graph]
    got, want = play_both(student, reference, tape_build, graph, weights, x, y, case=case, tape=True)
    method = "GradientTape.gradient"
    snippet = got.snippet()
    grads, expected = got["grads"], want["grads"]
    if not isinstance(grads, (list, tuple)) or len(grads) != len(expected):
        count = f"{len(grads)} items" if isinstance(grads, (list, tuple)) else type(grads).__name__
        fail(f"{method} must return a list with one gradient per source ({len(expected)}), got {count}",
             method=method, case=case, snippet=snippet)
    dtype = floating_dtype(*[g for g in grads if numerics.as_numeric(g) is not None])
    for name, g, w, v in zip(SOURCE_NAMES[graph], grads, expected, got["witness"]):
        _judge_gradient(method, name, g, w, v, dtype, case, snippet, hint)


@check("beras.gradient_tape.GradientTape",
       "gradients through Dense, LeakyReLU, Dense, Softmax and CategoricalCrossentropy match the reference", points=2)
def test_tape_chain(student, reference, rng):
    _check_tape_gradients("chain", student, reference, rng)


@check("beras.gradient_tape.GradientTape", "an input used by two layers gets the sum of both gradients (fan-out)", points=2)
def test_tape_fan_out(student, reference, rng):
    _check_tape_gradients(
        "fan-out", student, reference, rng,
        hint="a tensor used by two layers must receive the SUM of their contributions, after both are known",
    )


@check("beras.gradient_tape.GradientTape", "a weight that is also another layer's input gets the sum of both gradients",
       points=2)
def test_tape_weight_as_input(student, reference, rng):
    _check_tape_gradients(
        "weight as input", student, reference, rng,
        hint="a tensor used by two layers must receive the SUM of their contributions, after both are known",
    )


@check("beras.gradient_tape.GradientTape", "a source the loss does not depend on gets None; gradients are shaped like their sources",
       points=1)
def test_tape_disconnected(student, reference, rng):
    _check_tape_gradients("disconnected", student, reference, rng)


def tape_lifecycle_build(batch, weights, x, y):
    """Enter sets Diffable.gradient_tape and returns the tape, exit clears it, gradient works after
    the block; then the witness; last, entering a second tape while one is active (expected to raise)."""
    core = reset_tape(batch)
    layer, refs = _dense(batch, x.shape[1], weights[0].shape[1], weights)
    loss_fn = batch.new("beras.losses.MeanSquaredError")
    xv = batch.call("beras.core.Tensor", x).quiet()
    tape = batch.new("beras.gradient_tape.GradientTape")
    entered = batch.method(tape, "__enter__").quiet()
    returns_self = batch.call("operator.is_", entered, tape)
    active = batch.call("operator.is_", batch.getattr(core, "Diffable.gradient_tape").quiet(), tape)
    loss = batch.call(loss_fn, batch.call(layer, xv).quiet(), y)
    batch.method(tape, "__exit__", None, None, None).quiet()
    cleared = batch.call("operator.is_", batch.getattr(core, "Diffable.gradient_tape").quiet(), None)
    grads = batch.method(tape, "gradient", loss, [refs[0], refs[1]])
    optional = optional_from_here(batch, "the same gradients, composed by hand from the layers' compose_* methods:")
    top = batch.method(loss_fn, "compose_input_gradients", None).quiet()
    witness = [_wvjp(batch, layer, top[0], 0), _wvjp(batch, layer, top[0], 1)]
    comment_ops(batch, "a tape inside another one:")
    outer = batch.new("beras.gradient_tape.GradientTape")
    batch.method(outer, "__enter__").quiet()
    inner = batch.new("beras.gradient_tape.GradientTape")
    nested = batch.method(inner, "__enter__").quiet()
    return {"returns_self": returns_self, "active": active, "cleared": cleared, "grads": grads,
            "witness": witness, "nested": nested, OPTIONAL: optional}


@check("beras.gradient_tape.GradientTape",
       "the with block sets and clears Diffable.gradient_tape, gradient works after it, nesting raises RuntimeError",
       points=1)
def test_tape_lifecycle(student, reference, rng):
    weights = _params(rng, [(3, 2), (1, 2)])
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    case = "with GradientTape() as tape: loss = MeanSquaredError()(Dense(3, 2)(x), y)"
    got, want = play_both(student, reference, tape_lifecycle_build, weights, x, y, case=case, tape=True)
    snippet = got.snippet()
    checks = [
        ("returns_self", "GradientTape.__enter__", "must return the tape itself (`with GradientTape() as tape`)"),
        ("active", "GradientTape.__enter__", "must set Diffable.gradient_tape to the tape"),
        ("cleared", "GradientTape.__exit__", "must set Diffable.gradient_tape back to None"),
    ]
    for key, method, summary in checks:
        if got[key] is not want[key]:
            fail(f"{method} {summary}", method=method, case=case, snippet=snippet)
    grads = got["grads"]
    if not isinstance(grads, (list, tuple)) or len(grads) != 2 or any(g is None for g in grads):
        fail("GradientTape.gradient, called after the with block, must still return the gradients",
             method="GradientTape.gradient", case=case, snippet=snippet)
    dtype = floating_dtype(*grads)
    for name, g, w, v in zip(["Dense w", "Dense b"], grads, want["grads"], got["witness"]):
        _judge_gradient("GradientTape.gradient (after the with block)", name, g, w, v, dtype, case, snippet)
    nested, expected = got["nested"], want["nested"]
    for value in got["witness"]:  # a witness that raised skipped the nesting test: report its error
        if failed(value) and value.kind != "skipped":
            fail(f"composing the layers by hand raised {value.type}: {value.message}", case=case, snippet=snippet,
                 traceback=value.traceback or "")
    if not failed(nested):
        fail(f"GradientTape.__enter__ must raise {expected.type} when a tape is already active (nesting); it returned",
             method="GradientTape.__enter__", case=case, snippet=snippet)
    if nested.type != expected.type:
        fail(f"GradientTape.__enter__ must raise {expected.type} when a tape is already active, raised {nested.type}: "
             f"{nested.message}", method="GradientTape.__enter__", case=case, snippet=snippet)


# ============================================================== core (given code)


def tensor_build(batch, x):
    _dense(batch, 3, 2)  # a Dense first: Tensors are what its weights are made of
    out = {}
    tensor = batch.call("beras.core.Tensor", x)
    out["tensor"] = tensor
    out["tensor_type"] = TypeOf(tensor)
    out["trainable"] = batch.getattr(tensor, "trainable")
    out["variable_type"] = TypeOf(batch.call("beras.core.Variable", x))
    batch.setattr(tensor, "trainable", False)
    everything = batch.call("builtins.slice", None).quiet()
    tail = batch.call("builtins.slice", 1, None).quiet()
    derived = {
        "t[1]": batch.method(tensor, "__getitem__", 1),
        "t[:, 1:]": batch.method(tensor, "__getitem__", (everything, tail)),
        "t.reshape(-1)": tensor.reshape(-1),
        "t.T": batch.getattr(tensor, "T"),
        "np.exp(t)": batch.call("numpy.exp", tensor),
        "t + 1": batch.call("numpy.add", tensor, 1.0),
    }
    out["derived"] = {
        name: {"value": p, "type": TypeOf(p), "trainable": batch.getattr(p, "trainable")} for name, p in derived.items()
    }
    return out


@check("beras.core.Tensor", "Tensor is an ndarray with .trainable (default True), kept through slicing, reshapes and ufuncs",
       points=1)
def test_tensor(student, reference, rng):
    x = rng.normal(size=(3, 4))
    case = "Tensor(x), then views and ufuncs of a Tensor whose trainable is False"
    got, want = play_both(student, reference, tensor_build, x, case=case)
    snippet = got.snippet()
    for key, what in [("tensor_type", "the type of Tensor(x)"), ("variable_type", "the type of Variable(x)")]:
        if got[key] != want[key]:
            fail(f"{what} is {got[key]}, expected {want[key]}", method="Tensor.__new__", case=case, snippet=snippet)
    for key, what in [("trainable", "Tensor(x).trainable")]:
        if got[key] is not want[key]:
            fail(f"{what} is {got[key]!r}, expected {want[key]!r} (a new Tensor is trainable)", method="Tensor.__new__",
                 case=case, snippet=snippet)
    if not _same_arrays(got["tensor"], want["tensor"]):
        fail("Tensor(x) does not hold the values of x", method="Tensor.__new__", case=case, snippet=snippet)
    for name, g in got["derived"].items():
        w = want["derived"][name]
        if g["type"] != w["type"] or not _same_arrays(g["value"], w["value"]):
            fail(f"{name} is a {g['type']} of shape {np.shape(g['value'])}, expected a {w['type']} of shape "
                 f"{np.shape(w['value'])}", method="Tensor.__array_finalize__", case=case, snippet=snippet)
        if g["trainable"] is not w["trainable"]:
            fail(f"{name}.trainable is {g['trainable']!r} for a Tensor t whose trainable is False, expected "
                 f"{w['trainable']!r} (__array_finalize__ copies it)", method="Tensor.__array_finalize__", case=case,
                 snippet=snippet)


def weighted_build(batch):
    layer, refs = _dense(batch, 3, 2)
    out = {"trainable_0": batch.getattr(layer, "trainable"),
           "n_trainable_0": batch.call("builtins.len", batch.getattr(layer, "trainable_variables").quiet())}
    batch.setattr(layer, "trainable", False)
    out["flags_1"] = [batch.getattr(refs[i], "trainable") for i in range(2)]
    out["trainable_1"] = batch.getattr(layer, "trainable")
    out["n_trainable_1"] = batch.call("builtins.len", batch.getattr(layer, "trainable_variables").quiet())
    out["n_frozen_1"] = batch.call("builtins.len", batch.getattr(layer, "non_trainable_variables").quiet())
    batch.setattr(refs[1], "trainable", True)
    variables = batch.getattr(layer, "trainable_variables").quiet()
    out["trainable_2"] = batch.getattr(layer, "trainable")
    out["n_trainable_2"] = batch.call("builtins.len", variables)
    out["is_b"] = batch.call("operator.is_", variables[0], refs[1])
    return out


@check("beras.core.Weighted", "trainable, its setter, trainable_variables and non_trainable_variables (on a Dense)", points=1)
def test_weighted(student, reference, rng):
    case = "layer = Dense(3, 2); layer.trainable = False; layer.weights[1].trainable = True"
    got, want = play_both(student, reference, weighted_build, case=case)
    snippet = got.snippet()
    labels = {
        "trainable_0": "a new Dense's trainable",
        "n_trainable_0": "len(trainable_variables) of a new Dense",
        "flags_1": "[w.trainable for w in weights] after layer.trainable = False",
        "trainable_1": "trainable after layer.trainable = False",
        "n_trainable_1": "len(trainable_variables) after layer.trainable = False",
        "n_frozen_1": "len(non_trainable_variables) after layer.trainable = False",
        "trainable_2": "trainable after weights[1].trainable = True",
        "n_trainable_2": "len(trainable_variables) after weights[1].trainable = True",
        "is_b": "trainable_variables[0] is weights[1] after weights[1].trainable = True",
    }
    for key, what in labels.items():
        if got[key] != want[key]:
            fail(f"{what} is {got[key]!r}, expected {want[key]!r}", method="Weighted.trainable", case=case, snippet=snippet)


def recording_build(batch, x, x2):
    """Diffable.gradient_tape set and cleared directly (not by GradientTape's __enter__/__exit__)."""
    core = reset_tape(batch)
    layer, _ = _dense(batch, x.shape[1], 4)
    act = batch.new("beras.activations.Tanh")
    xv = batch.call("beras.core.Tensor", x).quiet()
    tape = batch.new("beras.gradient_tape.GradientTape")
    batch.setattr(core, "Diffable.gradient_tape", tape)
    h = batch.call(layer, xv).quiet()
    a = batch.call(act, h).quiet()
    recorded = batch.getattr(tape, "previous_layers").quiet()

    def producer_is(tensor, obj):
        return batch.call("operator.is_", recorded.get(batch.call("builtins.id", tensor).quiet()).quiet(), obj)

    out = {
        "dense_recorded": producer_is(h, layer),
        "tanh_recorded": producer_is(a, act),
        "entries": batch.call("builtins.len", recorded),
        "dense_inputs": batch.call("operator.is_", batch.getattr(layer, "inputs").quiet()[0], xv),
        "dense_outputs": batch.call("operator.is_", batch.getattr(layer, "outputs").quiet()[0], h),
        "tanh_inputs": batch.call("operator.is_", batch.getattr(act, "inputs").quiet()[0], h),
    }
    batch.setattr(core, "Diffable.gradient_tape", None)
    h2 = batch.call(layer, x2).quiet()
    out["outside_not_recorded"] = producer_is(h2, None)
    out["entries_after"] = batch.call("builtins.len", recorded)
    out["last_inputs"] = batch.getattr(layer, "inputs")
    return out


@check("beras.core.Diffable", "calling a layer under a tape records previous_layers[id(output)] and keeps inputs and outputs",
       points=1)
def test_diffable_records(student, reference, rng):
    x, x2 = rng.normal(size=(4, 3)), rng.normal(size=(2, 3))
    case = ("Diffable.gradient_tape = GradientTape(); a = Tanh()(Dense(3, 4)(x)); Diffable.gradient_tape = None; "
            "then the Dense called on x2")
    got, want = play_both(student, reference, recording_build, x, x2, case=case, tape=True)
    snippet = got.snippet()
    labels = {
        "dense_recorded": "tape.previous_layers[id(dense_output)] is the Dense",
        "tanh_recorded": "tape.previous_layers[id(tanh_output)] is the Tanh",
        "entries": "len(tape.previous_layers) after two calls",
        "dense_inputs": "dense.inputs[0] is the x it was called with",
        "dense_outputs": "dense.outputs[0] is the tensor it returned",
        "tanh_inputs": "tanh.inputs[0] is the Dense's output",
        "outside_not_recorded": "a call outside the tape is not recorded",
        "entries_after": "len(tape.previous_layers) after a call outside the tape",
    }
    for key, what in labels.items():
        if got[key] != want[key]:
            fail(f"{what}: got {got[key]!r}, expected {want[key]!r}", method="Diffable.__call__", case=case, snippet=snippet)
    last, expected = got["last_inputs"], want["last_inputs"]
    if not isinstance(last, list) or len(last) != len(expected) or not _same_arrays(last[0], expected[0]):
        fail("after a second call, dense.inputs must be [x2] (a layer keeps its last call's inputs)",
             method="Diffable.__call__", case=case, snippet=snippet)


def composition_build(batch, x, upstream, cases):
    """A Dense whose get_*_gradients are replaced by given local gradients: what the core composes."""
    layer, _ = _dense(batch, x.shape[1], upstream.shape[1])
    batch.setattr(layer, "inputs", [x])
    out = []
    for kind, grads, J in cases:
        holder = batch.call("builtins.list", grads).quiet()
        batch.setattr(layer, f"get_{kind}_gradients", batch.getattr(holder, "copy").quiet())
        out.append(batch.method(layer, f"compose_{kind}_gradients", J))
    return {"results": out}


@check("beras.core.Diffable",
       "compose_input_gradients and compose_weight_gradients for shared (in, out) and batched (B, in, out) local gradients",
       points=1)
def test_diffable_composition(student, reference, rng):
    batch_size, n_in, n_out = 5, 3, 4
    x, u = rng.normal(size=(batch_size, n_in)), rng.normal(size=(batch_size, n_out))
    cases = [
        ("input", [rng.normal(size=(n_in, n_out))], [u]),
        ("input", [rng.normal(size=(batch_size, n_in, n_out))], [u]),
        ("input", [rng.normal(size=(n_in, n_out))], [None]),
        ("weight", [rng.normal(size=(batch_size, n_in, n_out)), rng.normal(size=(1, n_out))], [u]),
        ("weight", [rng.normal(size=(n_in, n_out)), rng.normal(size=(batch_size, 1, n_out))], [u]),
        ("weight", [rng.normal(size=(batch_size, n_in, 1)), np.ones((1, n_out))], [u]),
    ]
    labels = [
        "compose_input_gradients, shared (in, out) gradient",
        "compose_input_gradients, batched (B, in, out) gradient",
        "compose_input_gradients with J = [None] (returns the local gradients)",
        "compose_weight_gradients, batched w gradient (B, in, out), shared b gradient (1, out)",
        "compose_weight_gradients, shared w gradient (in, out), batched b gradient (B, 1, out)",
        "compose_weight_gradients, per-sample x[:, :, None] (B, in, 1) and ones (1, out)",
    ]
    case = f"Dense({n_in}, {n_out}) with inputs = [x] (batch {batch_size}) and get_*_gradients replaced by given arrays"
    got, want = play_both(student, reference, composition_build, x, u, cases, case=case)
    snippet = got.snippet()
    for label, (kind, _, _), g, w in zip(labels, cases, got["results"], want["results"]):
        method = f"Diffable.compose_{kind}_gradients"
        if not isinstance(g, (list, tuple)) or len(g) != len(w):
            fail(f"{label}: expected a list of {len(w)} arrays, got {type(g).__name__}", method=method, case=case,
                 snippet=snippet)
        for i, (gi, wi) in enumerate(zip(g, w)):
            expect_close(gi, wi, f"{label}: item {i}", method=method, case=case, snippet=snippet)


# ============================================================== Dense


def dense_weights_build(batch):
    layer, _ = _dense(batch, 5, 3)
    weights = batch.getattr(layer, "weights")
    return {
        "weights": weights,
        "types": [TypeOf(weights, i) for i in range(2)],
        "trainable": [batch.getattr(weights[i], "trainable") for i in range(2)],
    }


@check("beras.layers.Dense", "weights is [w (in, out), b (1, out)], both trainable Variables", points=1)
def test_dense_weights(student, reference, rng):
    case = "Dense(5, 3).weights"
    got, want = play_both(student, reference, dense_weights_build, case=case)
    snippet = got.snippet()
    weights = got["weights"]
    if not isinstance(weights, (list, tuple)) or len(weights) != 2:
        fail(f"Dense.weights must be a list [w, b], got {type(weights).__name__}"
             + (f" of {len(weights)} items" if isinstance(weights, (list, tuple)) else ""),
             method="Dense.weights", case=case, snippet=snippet)
    for i, name in enumerate(["w", "b"]):
        if np.shape(weights[i]) != np.shape(want["weights"][i]):
            fail(f"Dense(5, 3): {name} has shape {np.shape(weights[i])}, expected {np.shape(want['weights'][i])}",
                 method="Dense._initialize_weight", case=case, snippet=snippet)
        if got["types"][i] != want["types"][i]:
            fail(f"Dense(5, 3): {name} is a {got['types'][i]}, expected a {want['types'][i]} (a Variable)",
                 method="Dense._initialize_weight", case=case, snippet=snippet)
        if got["trainable"][i] is not want["trainable"][i]:
            fail(f"Dense(5, 3): {name}.trainable is {got['trainable'][i]!r}, expected {want['trainable'][i]!r}",
                 method="Dense._initialize_weight", case=case, snippet=snippet)


INITIALIZERS = ("zero", "normal", "xavier", "kaiming")


def initializer_build(batch, n_in, n_out):
    out = {}
    for k, name in enumerate(INITIALIZERS):
        layer = batch.new("beras.layers.Dense", n_in, n_out, initializer=name).seed(100 + k)
        refs = batch.getattr(layer, "weights").quiet()
        out[name] = {
            "w_shape": batch.call("numpy.shape", refs[0]),
            "b_shape": batch.call("numpy.shape", refs[1]),
            "w_std": batch.call("numpy.std", refs[0]),
            "w_mean": batch.call("numpy.mean", refs[0]),
            "w_nonzero": batch.call("numpy.count_nonzero", refs[0]),
            "b_nonzero": batch.call("numpy.count_nonzero", refs[1]),
        }
    out[OPTIONAL] = optional_from_here(batch, "must raise:")
    out["unknown"] = batch.new("beras.layers.Dense", n_in, n_out, initializer="no such initializer")
    return out


@check("beras.layers.Dense", "initializers zero, normal, xavier and kaiming: shapes and spread of w, b zero; unknown raises",
       points=1)
def test_dense_initializers(student, reference, rng):
    n_in, n_out = 200, 100
    case = f"Dense({n_in}, {n_out}, initializer=...) for {', '.join(INITIALIZERS)}, then 'no such initializer'"
    got, want = play_both(student, reference, initializer_build, n_in, n_out, case=case)
    snippet = got.snippet()
    method = "Dense._initialize_weight"
    for name in INITIALIZERS:
        g, w = got[name], want[name]
        for key, what in [("w_shape", "w"), ("b_shape", "b")]:
            if tuple(g[key]) != tuple(w[key]):
                fail(f"initializer {name!r}: {what} has shape {tuple(g[key])}, expected {tuple(w[key])}", method=method,
                     case=case, snippet=snippet)
        if g["b_nonzero"] != w["b_nonzero"]:
            fail(f"initializer {name!r}: b must be all zeros ({g['b_nonzero']} nonzero entries)", method=method,
                 case=case, snippet=snippet)
        if w["w_nonzero"] == 0:
            if g["w_nonzero"] != 0:
                fail(f"initializer {name!r}: w must be all zeros ({g['w_nonzero']} nonzero entries)", method=method,
                     case=case, snippet=snippet)
            continue
        std, expected = float(g["w_std"]), float(w["w_std"])
        if not abs(std - expected) <= 0.15 * expected:
            fail(f"initializer {name!r}: the entries of w have standard deviation {std:.4g}, expected {expected:.4g} "
                 f"(within 15 %) for Dense({n_in}, {n_out})", method=method, case=case, snippet=snippet)
        if not abs(float(g["w_mean"])) <= abs(float(w["w_mean"])) + 0.1 * expected:
            fail(f"initializer {name!r}: the entries of w have mean {float(g['w_mean']):.4g}, expected about 0",
                 method=method, case=case, snippet=snippet)
    error, expected = got["unknown"], want["unknown"]
    if not failed(error):
        fail(f"Dense(..., initializer='no such initializer') must raise ({expected.type}), it did not", method=method,
             case=case, snippet=snippet)
    if error.type == "NotImplementedError":
        fail(f"Dense(..., initializer='no such initializer') raised NotImplementedError: {error.message}", method=method,
             case=case, snippet=snippet)


# ============================================================== SequentialModel
# The model's results depend on its layers, loss, metric, tape and optimizer.
# Each scenario also builds a copy of the layers with the same weights and
# does by hand what the method should do with the student's own pieces (the
# witness): a model that matches the reference, or matches this witness when
# a piece is off (its own checks then fail), is right.

MODEL_LAYERS = (("layers.Dense", (4, 5)), ("activations.LeakyReLU", (0.2,)), ("layers.Dense", (5, 3)),
                ("activations.Softmax", ()))
MODEL_SHAPES = ((4, 5), (1, 5), (5, 3), (1, 3))
DENSE_LAYERS = (0, 2)  # which of MODEL_LAYERS have the weights, two each


def model_build(batch, layers, weights, optimizer, steps, frozen=(), witness=None, data=None, witness_batch=None):
    """A compiled SequentialModel with `weights` set; `steps` are (method, args, kwargs) run in turn,
    each followed by a copy of the weights. `frozen`: Dense layers (indices) whose weights get
    trainable = False. `witness` "forward" (predictions, loss and acc of `data` through a copy of
    the layers; with `witness_batch`, the mean over batches of that size) or "step" (one tape +
    optimizer step on the copy), optional."""
    reset_tape(batch)
    built = [_layer(batch, path, args) for path, args in layers]
    for i in frozen:
        own = batch.getattr(built[i], "weights").quiet()
        for k in range(2):
            batch.setattr(own[k], "trainable", False)
    model = batch.new("beras.model.SequentialModel", built)
    optimizer_cls, optimizer_args = optimizer
    model.compile(
        batch.new(f"beras.optimizers.{optimizer_cls}", *optimizer_args),
        batch.new("beras.losses.CategoricalCrossentropy"),
        batch.new("beras.metrics.CategoricalAccuracy"),
    ).quiet()
    refs = batch.getattr(model, "weights").quiet()
    for i, value in enumerate(weights):
        batch.assign(refs[i], value)
    out = {"before": batch.getattr(model, "weights"), "results": [], "after": []}
    for method, args, kwargs in steps:
        work = _calls_of_step(method, args, kwargs, len(layers))
        out["results"].append(batch.method(model, method, *args, **kwargs).seed(1).calls(work))
        out["after"].append(batch.getattr(model, "weights"))
    if witness is None:
        return out
    out[OPTIONAL] = optional_from_here(batch, "the same by hand, on a copy of the layers:")
    copies = [_layer(batch, path, args) for path, args in layers]
    copy_weights = []
    for n, i in enumerate(i for i, (path, _) in enumerate(layers) if path == "layers.Dense"):
        own = batch.getattr(copies[i], "weights").quiet()
        for k in range(2):
            batch.assign(own[k], weights[2 * n + k])
            copy_weights.append((i, own[k]))
    loss_fn = batch.new("beras.losses.CategoricalCrossentropy")
    x, y = data
    if witness == "forward":
        metric = batch.new("beras.metrics.CategoricalAccuracy")
        size = witness_batch or len(x)
        preds, losses, accs = [], [], []
        for start in range(0, len(x), size):
            h = x[start:start + size]
            for layer in copies:
                h = batch.call(layer, h).quiet()
            preds.append(batch.call("numpy.array", h).quiet())
            losses.append(batch.call("builtins.float", batch.call(loss_fn, h, y[start:start + size]).quiet()).quiet())
            accs.append(batch.call("builtins.float", batch.call(metric, h, y[start:start + size]).quiet()).quiet())
        out["witness"] = {"pred": batch.call("numpy.concatenate", preds),
                          "loss": batch.call("builtins.float", batch.call("numpy.mean", losses)),
                          "acc": batch.call("builtins.float", batch.call("numpy.mean", accs))}
        return out
    tape = batch.new("beras.gradient_tape.GradientTape")
    batch.method(tape, "__enter__").quiet()
    h = x
    for layer in copies:
        h = batch.call(layer, h).quiet()
    loss = batch.call(loss_fn, h, y)
    out["witness"] = {"loss": batch.call("builtins.float", loss)}
    batch.method(tape, "__exit__", None, None, None).quiet()
    sources = [ref for i, ref in copy_weights if i not in frozen]
    grads = batch.method(tape, "gradient", loss, sources).quiet()
    batch.method(batch.new(f"beras.optimizers.{optimizer_cls}", *optimizer_args), "apply_gradients", sources, grads).quiet()
    out["witness"]["after"] = [batch.call("numpy.array", ref) for _, ref in copy_weights]
    return out


def _calls_of_step(method, args, kwargs, layers):
    """About how many calls into student code a model method makes (its time limit grows with them):
    fit(x, y, epochs, batch_size) and evaluate(x, y, batch_size) a pass over x per epoch, others one batch."""
    names = ("x", "y", "epochs", "batch_size") if method == "fit" else ("x", "y", "batch_size")
    named = {**dict(zip(names, args)), **kwargs}
    samples = len(named["x"]) if hasattr(named.get("x"), "__len__") else 1
    if method not in ("fit", "evaluate"):
        return training_calls(1, 1, 1, layers)
    return training_calls(named.get("epochs", 1), samples, named.get("batch_size", samples), layers)


def _layer(batch, path, args):
    layer = batch.new(f"beras.{path}", *args)
    return layer.seed(0) if path == "layers.Dense" else layer


def model_data(rng, n):
    x = rng.normal(size=(n, 4))
    return x, numerics.one_hot(rng, n, 3)


def _matches(got, want, witness, dtype):
    """Close to the reference's value, or to the witness's (the student's own pieces by hand)."""
    return close(got, want, dtype) or close(got, witness, dtype)


def _witness_hint(got, want, witness, dtype):
    if witness is None or failed(witness):
        return ""
    if close(witness, want, dtype):
        return "your own layers, loss and metric, used by hand, give the expected value: the model uses them wrongly"
    return "it also differs from what your own layers, loss and metric give when used by hand"


MODEL_CASE = "SequentialModel([Dense(4, 5), LeakyReLU(0.2), Dense(5, 3), Softmax()]) compiled with {}, " \
             "CategoricalCrossentropy(), CategoricalAccuracy(); {}"


def _play_model(student, reference, weights, optimizer, steps, case, frozen=(), witness=None, data=None, witness_batch=None):
    args = (MODEL_LAYERS, weights, optimizer, steps, frozen, witness, data, witness_batch)
    got, want = play_both(student, reference, model_build, *args, case=case, tape=True)
    return got, want


@check("beras.model.SequentialModel", "call runs the layers in order (output matches the reference)", points=1)
def test_model_call(student, reference, rng):
    weights = _params(rng, MODEL_SHAPES)
    x, y = model_data(rng, 6)
    case = MODEL_CASE.format("BasicOptimizer(0.1)", "model.call(x), batch 6")
    got, want = _play_model(student, reference, weights, ("BasicOptimizer", (0.1,)), [("call", (x,), {})], case,
                            witness="forward", data=(x, y))
    dtype = floating_dtype(*got["before"])
    output, expected, witness = got["results"][0], want["results"][0], got["witness"]["pred"]
    if not _matches(output, expected, witness, dtype):
        close_or_fail(output, expected, "SequentialModel.call output", dtype=dtype, method="SequentialModel.call",
                      case=case, snippet=got.snippet(), hints=[_witness_hint(output, expected, witness, dtype)])


@check("beras.model.SequentialModel", "batch_step(training=False) returns float loss and acc equal to the reference's, "
       "changes no weight", points=1)
def test_model_batch_step_no_training(student, reference, rng):
    weights = _params(rng, MODEL_SHAPES)
    x, y = model_data(rng, 6)
    case = MODEL_CASE.format("BasicOptimizer(0.1)", "batch_step(x, y, training=False), batch 6")
    steps = [("batch_step", (x, y), {"training": False})]
    got, want = _play_model(student, reference, weights, ("BasicOptimizer", (0.1,)), steps, case, witness="forward",
                            data=(x, y))
    snippet = got.snippet()
    method = "SequentialModel.batch_step"
    result = got["results"][0]
    _check_float_dict(result, ("loss", "acc"), method, "batch_step(...)", snippet, case)
    for i, (a, b) in enumerate(zip(got["after"][0], got["before"])):
        if not _same_arrays(a, b):
            fail(f"batch_step(training=False) changed weight {i}: it must not train", method=method, case=case,
                 snippet=snippet)
    dtype = floating_dtype(*got["before"])
    for key in ("loss", "acc"):
        expected, witness = want["results"][0][key], got["witness"][key]
        if not _matches(result[key], expected, witness, dtype):
            close_or_fail(result[key], expected, f'batch_step(training=False)["{key}"]', dtype=dtype, method=method,
                          case=case, snippet=snippet, hints=[_witness_hint(result[key], expected, witness, dtype)])


def _check_training(student, reference, rng, frozen=()):
    weights = _params(rng, MODEL_SHAPES)
    x, y = model_data(rng, 6)
    steps = [("batch_step", (x, y), {"training": True})]
    frozen_note = "; the first Dense's weights have trainable = False" if frozen else ""
    case = MODEL_CASE.format("BasicOptimizer(0.5)", "batch_step(x, y, training=True), batch 6" + frozen_note)
    got, want = _play_model(student, reference, weights, ("BasicOptimizer", (0.5,)), steps, case, frozen, witness="step",
                            data=(x, y))
    snippet = got.snippet(notes=["the model's weights after batch_step must be those of one step of the optimizer"])
    method = "SequentialModel.batch_step"
    dtype = floating_dtype(*got["before"])
    after, before, witness = got["after"][0], got["before"], got["witness"]
    if not isinstance(after, (list, tuple)) or len(after) != len(want["after"][0]):
        fail(f"model.weights must be a list of {len(want['after'][0])} arrays", method=method, case=case, snippet=snippet)
    result = got["results"][0]
    if isinstance(result, dict) and numerics.as_numeric(result.get("loss")) is not None:
        expected = want["results"][0]["loss"]
        if not _matches(result["loss"], expected, witness["loss"], dtype):
            close_or_fail(result["loss"], expected, 'batch_step(training=True)["loss"] (the loss before the step)',
                          dtype=dtype, method=method, case=case, snippet=snippet,
                          hints=[_witness_hint(result["loss"], expected, witness["loss"], dtype)])
    frozen_indices = [2 * DENSE_LAYERS.index(i) + k for i in frozen for k in range(2)]
    for i in frozen_indices:
        if not _same_arrays(after[i], before[i]):
            fail(f"batch_step(training=True) changed weight {i}, whose trainable is False", method=method, case=case,
                 snippet=snippet, hints=["only model.trainable_variables (and their gradients) go to the optimizer"])
    by_hand = witness["after"]
    if not failed(by_hand) and all(close(a, b, dtype) for a, b in zip(after, by_hand)):
        return  # the step that the student's own tape and optimizer take
    if all(_same_arrays(a, b) for a, b in zip(after, before)):
        fail("batch_step(training=True) changed no weight", method=method, case=case, snippet=snippet,
             hints=["it must compute the gradients of the loss with a GradientTape and apply them with the optimizer"])
    hints = ["exactly one optimizer step per batch_step, with the gradients of this batch's loss "
             "for model.trainable_variables"]
    for i, (g, w, g0, w0) in enumerate(zip(after, want["after"][0], before, want["before"])):
        if numerics.as_numeric(g) is None or np.shape(g) != np.shape(w):
            fail(f"after batch_step(training=True), weight {i} has shape {np.shape(g)}, expected {np.shape(w)}",
                 method=method, case=case, snippet=snippet)
        close_or_fail(np.asarray(g, dtype=np.float64) - np.asarray(g0, dtype=np.float64), np.asarray(w) - np.asarray(w0),
                      f"after batch_step(training=True), weight {i} (shape {np.shape(w)}) did not move as expected",
                      dtype=dtype, hints=hints, method=method, case=case, snippet=snippet)


@check("beras.model.SequentialModel", "batch_step(training=True) takes exactly one optimizer step, equal to the reference's",
       points=2)
def test_model_batch_step_training(student, reference, rng):
    _check_training(student, reference, rng)


@check("beras.model.SequentialModel", "batch_step(training=True) leaves weights with trainable = False unchanged",
       points=1, visibility=HIDDEN)
def test_model_frozen_layer(student, reference, rng):
    _check_training(student, reference, rng, frozen=(0,))


@check("beras.model.SequentialModel", "evaluate matches the reference and changes no weight", points=1)
def test_model_evaluate(student, reference, rng):
    weights = _params(rng, MODEL_SHAPES)
    x, y = model_data(rng, 12)
    case = MODEL_CASE.format("BasicOptimizer(0.5)", "evaluate(x, y, 4) on 12 samples")
    got, want = _play_model(student, reference, weights, ("BasicOptimizer", (0.5,)), [("evaluate", (x, y, 4), {})], case,
                            witness="forward", data=(x, y), witness_batch=4)
    snippet = got.snippet()
    method = "SequentialModel.evaluate"
    for i, (a, b) in enumerate(zip(got["after"][0], got["before"])):
        if not _same_arrays(a, b):
            fail(f"evaluate changed weight {i}: it must not train", method=method, case=case, snippet=snippet)
    result = got["results"][0]
    if not isinstance(result, dict) or set(result) != {"loss", "acc"}:
        fail(f'evaluate must return {{"loss": float, "acc": float}}, got {type(result).__name__}', method=method,
             case=case, snippet=snippet)
    dtype = floating_dtype(*got["before"])
    for key in ("loss", "acc"):
        expected, witness = want["results"][0][key], got["witness"][key]
        if not _matches(result[key], expected, witness, dtype):
            close_or_fail(result[key], expected, f'evaluate(...)["{key}"]', dtype=dtype, method=method, case=case,
                          snippet=snippet, hints=[_witness_hint(result[key], expected, witness, dtype)])


@check("beras.model.SequentialModel", 'fit returns {{"loss": [...], "acc": [...]}} with one float per epoch', points=1)
def test_model_fit_history(student, reference, rng):
    weights = _params(rng, MODEL_SHAPES)
    x, y = model_data(rng, 10)
    epochs = 3
    case = MODEL_CASE.format("BasicOptimizer(0.1)", f"fit(x, y, {epochs}, 4) on 10 samples (the last batch is smaller)")
    got = play(student, model_build, MODEL_LAYERS, weights, ("BasicOptimizer", (0.1,)), [("fit", (x, y, epochs, 4), {})],
               student=True, case=case, tape=True)
    _check_float_dict(got["results"][0], ("loss", "acc"), "SequentialModel.fit", "fit(...)", got.snippet(), case,
                      per_epoch=epochs)


TOY_LAYERS = (("layers.Dense", (2, 8)), ("activations.Tanh", ()), ("layers.Dense", (8, 3)), ("activations.Softmax", ()))
TOY_SHAPES = ((2, 8), (1, 8), (8, 3), (1, 3))


def toy_task(rng, per_class=16):
    """Three well separated clusters in the plane, shuffled."""
    centers = np.array([[2.5, 0.0], [-1.25, 2.2], [-1.25, -2.2]])
    labels = np.repeat(np.arange(3), per_class)
    x = centers[labels] + rng.normal(scale=0.5, size=(len(labels), 2))
    order = rng.permutation(len(labels))
    return x[order], np.eye(3)[labels[order]]


@check("beras.model.SequentialModel", "end to end: fit on three separable clusters halves the loss", points=2)
def test_model_trains(student, reference, rng):
    weights = _params(rng, TOY_SHAPES)
    x, y = toy_task(rng)
    epochs = 10
    steps = [("fit", (x, y, epochs, 8), {})]
    optimizer = ("BasicOptimizer", (0.5,))
    case = (f"SequentialModel([Dense(2, 8), Tanh(), Dense(8, 3), Softmax()]), BasicOptimizer(0.5), "
            f"fit(x, y, {epochs}, 8) on 48 points of 3 clusters")
    got, want = play_both(student, reference, model_build, TOY_LAYERS, weights, optimizer, steps, case=case, tape=True)
    snippet = got.snippet()
    method = "SequentialModel.fit"
    _check_float_dict(got["results"][0], ("loss", "acc"), method, "fit(...)", snippet, case, per_epoch=epochs)
    losses, expected = got["results"][0]["loss"], want["results"][0]["loss"]
    if not expected[-1] <= 0.5 * expected[0]:
        raise ReferenceBroken(f"the reference's loss did not halve on the toy task: {expected}")
    if not losses[-1] <= 0.5 * losses[0]:
        fail(f"the loss did not fall by half in {epochs} epochs: {losses[0]:.4g} -> {losses[-1]:.4g} "
             f"(the reference: {expected[0]:.4g} -> {expected[-1]:.4g})", method=method, case=case, snippet=snippet,
             hints=["losses per epoch: " + ", ".join(f"{v:.4g}" for v in losses)])


# ============================================================== OneHotEncoder


def onehot_build(batch, fit_labels, labels, one_hot, strings):
    if strings:
        fit_labels = batch.call("numpy.array", fit_labels).quiet()
        labels = batch.call("numpy.array", labels).quiet()
    encoder = batch.new("beras.onehot.OneHotEncoder")
    encoder.fit(fit_labels).quiet()
    encoded = batch.call(encoder, labels)
    decoded = encoder.inverse(one_hot)
    roundtrip = encoder.inverse(encoded)
    if strings:  # only numbers cross as arrays: get lists of str
        decoded = batch.call("builtins.list", decoded.quiet())
        roundtrip = batch.call("builtins.list", roundtrip.quiet())
    return {"encoded": encoded, "decoded": decoded, "roundtrip": roundtrip}


def _check_onehot(student, reference, rng, classes, strings):
    k = len(classes)
    fit_labels = rng.permutation(np.concatenate([classes, rng.choice(classes, size=6)]))
    labels = rng.choice(classes, size=7)
    one_hot = numerics.one_hot(rng, 5, k)
    if strings:
        fit_labels, labels = [str(v) for v in fit_labels], [str(v) for v in labels]
    case = f"fit({list(np.asarray(fit_labels).tolist())}), then encode {list(np.asarray(labels).tolist())} and decode one-hot rows"
    got, want = play_both(student, reference, onehot_build, fit_labels, labels, one_hot, strings, case=case)
    snippet = got.snippet()
    encoded = got["encoded"]
    if numerics.as_numeric(encoded) is None or np.shape(encoded) != np.shape(want["encoded"]):
        fail(f"OneHotEncoder.call: expected {np.shape(want['encoded'])} one-hot rows, got shape {np.shape(encoded)}",
             method="OneHotEncoder.call", case=case, snippet=snippet)
    if not _same_arrays(encoded, want["encoded"]):
        fail("OneHotEncoder.call: wrong one-hot rows (column i must stand for the i-th label of np.unique(fit labels))",
             method="OneHotEncoder.call", case=case, snippet=snippet,
             hints=["np.unique sorts the labels; the order in which they appear does not matter"])
    for key, what in [("decoded", "inverse(one-hot rows)"), ("roundtrip", "inverse(call(labels))")]:
        g, w = got[key], want[key]
        if strings:
            same = isinstance(g, list) and g == w
        else:
            same = _same_arrays(g, w)
            g, w = (np.asarray(v).tolist() if numerics.as_numeric(v) is not None else v for v in (g, w))
        if not same:
            fail(f"OneHotEncoder.inverse: {what} gave {g}, expected {w}", method="OneHotEncoder.inverse", case=case,
                 snippet=snippet)


@check("beras.onehot.OneHotEncoder", "fit and call give one-hot rows in np.unique order of integer labels; inverse maps back",
       points=1)
def test_onehot_integers(student, reference, rng):
    classes = rng.choice(np.arange(-20, 60), size=5, replace=False)
    _check_onehot(student, reference, rng, classes, strings=False)


@check("beras.onehot.OneHotEncoder", "string labels: one-hot rows in np.unique order, inverse maps back", points=1,
       visibility=HIDDEN)
def test_onehot_strings(student, reference, rng):
    classes = rng.choice(np.array(["owl", "cat", "ant", "dog", "bee", "yak", "emu"]), size=4, replace=False)
    _check_onehot(student, reference, rng, classes, strings=True)


# ============================================================== CategoricalAccuracy


def accuracy_build(batch, cases):
    metric = batch.new("beras.metrics.CategoricalAccuracy")
    return {"values": [batch.call(metric, probs, labels) for probs, labels in cases]}


@check("beras.metrics.CategoricalAccuracy", "matches the reference on random probabilities, batch sizes 8, 6, 5 and 1", points=1)
def test_categorical_accuracy(student, reference, rng):
    cases = []
    for n, k, agree in [(8, 4, 0.6), (5, 5, 0.4), (1, 3, 1.0), (1, 3, 0.0), (6, 2, 0.5)]:
        probs = numerics.probabilities(rng, (n, k), floor=0.01)
        labels = numerics.one_hot(rng, n, k)
        hit = rng.random(n) < agree
        labels[hit] = np.eye(k)[np.argmax(probs[hit], axis=1)]
        miss = ~hit & (np.argmax(labels, axis=1) == np.argmax(probs, axis=1))
        labels[miss] = np.roll(labels[miss], 1, axis=1)
        cases.append((probs, labels))
    case = "CategoricalAccuracy()(probs, labels) for shapes " + ", ".join(str(p.shape) for p, _ in cases)
    got, want = play_both(student, reference, accuracy_build, cases, case=case)
    snippet = got.snippet()
    for (probs, _), g, w in zip(cases, got["values"], want["values"]):
        close_or_fail(g, w, f"accuracy for probabilities of shape {probs.shape}", method="CategoricalAccuracy.call",
                      case=case, snippet=snippet, hints=["the argmax is over the class axis (the last one), per row"])
