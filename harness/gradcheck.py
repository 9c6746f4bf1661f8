"""The checks every differentiable class gets, as plain functions of one case.

Each function runs one `Case` of a spec on the student's engine and on the
reference's with the same parameters and inputs, and raises CheckFailure
(with a diagnosis) when the student's result is wrong. The pytest checks in
`harness/catalog/test_differentiable.py` loop these over a spec's cases.

The two witnesses for a gradient: finite differences of the student's OWN
forward (`numerics.check_vjp`, evaluated by `own_forward` in a sandbox of
their own, through the graded request, and reproducing the graded output at
the unperturbed point) and the reference's gradient. When only one
disagrees, the bug is in the forward; when both do, in the backward.

Precision: a check's tolerances and finite-difference steps follow the
lowest precision among every array the student's code stores (parameters,
read back after setting), returns (outputs, gradients) or computes with
(float64 values that are all float32 numbers); half precision is outside
SPEC and fails with a message that says so. Sampled values sit on a grid
where every finite-difference step is exact in float32 (`numerics.on_grid`).
"""

import concurrent.futures
import os

import numpy as np

from . import numerics, own_forward, reproducers
from . import vocabulary as kinds
from .checks import CheckFailure, Diagnosis, expect_close, fail
from .drivers import Run, raise_on_error
from .ops import LIMIT_KINDS
from .reproducers import Reproducer, assert_close_lines, tolerance

PARAMETER_SCALE = 0.5  # parameters drawn N(0, 0.5²): nothing saturates


_SHAPES = {}  # (engine, class, case) -> (parameter shapes, output shape)
_PROBES = {}  # (engine, spec) -> the precision its forward computes in, or None
_PAIR = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="reference")


def _new_pair():
    # A forked process (a second assignment graded at once: harness/grading.py)
    # inherits the pool but not its thread: a submit there would wait forever.
    global _PAIR
    _PAIR = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="reference")


os.register_at_fork(after_in_child=_new_pair)


def shapes(spec, case, reference):
    """Parameter shapes and output shape of `case`, asked of the reference once."""
    key = (id(reference), spec.target, case.label, repr(case.args), repr(case.kwargs))
    if key not in _SHAPES:
        _SHAPES[key] = spec.driver.shapes_of(reference, case, case.inputs(np.random.default_rng(0)))
    return _SHAPES[key]


def sample(spec, case, reference, rng):
    """Fresh parameters (shaped as the reference's) and inputs for `case`,
    all on the grid where float32 finite differences are exact."""
    params = [
        numerics.on_grid(rng.normal(scale=PARAMETER_SCALE, size=shape)) for shape in shapes(spec, case, reference)[0]
    ]
    return params, case.inputs(rng)


def upstream_for(spec, case, reference, rng):
    """The cotangent v fed to backward: random for layers, 1 for scalar losses."""
    output_shape = shapes(spec, case, reference)[1]
    if output_shape == ():
        return np.float64(1.0)
    return rng.normal(size=output_shape)


def side_by_side(function, student, reference, *args, **kwargs):
    """(function(student, ...), function(reference, ...)), run at once.

    The two engines are separate processes; the reference's call runs on a
    helper thread. An exception in either is raised here, the student's first.
    """
    pending = _PAIR.submit(function, reference, *args, **kwargs)
    try:
        got = function(student, *args, **kwargs)
    except BaseException:
        concurrent.futures.wait([pending])  # never leave the reference mid-request
        raise
    return got, pending.result()


def max_step_for(case, x):
    return case.max_step(x) if callable(case.max_step) else case.max_step


# ---------------------------------------------------------------- precision


def _numeric(value):
    """`value` as an array that keeps its dtype, or None when it is not numeric."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return None
    return array if array.dtype.kind in "biuf" else None


def _arrays_of(spec, run):
    """(what, method, array or dtype) for every array of a run of the student's code."""
    driver = spec.driver
    named = [("it stores its parameters in float16", f"{driver.class_name}.__init__", np.asarray(p).dtype)
             for p in run.stored if _numeric(p) is not None]
    named.append(("its forward returns float16", driver.forward_name, run.output))
    named += [("it returns a float16 input gradient", driver.input_gradient_name, g) for g in run.input_grads or ()]
    grads = run.param_grads if isinstance(run.param_grads, (list, tuple)) else ()
    named += [(f"it returns a float16 {driver.parameter_word} gradient", driver.parameter_gradient_name, g) for g in grads]
    return [(what, method, a if isinstance(a, np.dtype) else _numeric(a)) for what, method, a in named]


def tier_of(spec, case, run, student=None, reference=None, snippet=""):
    """The precision to judge `run` (the student's) in: the lowest of its
    arrays and, when the engines are given, of the class's forward on a probe.
    Any array in half precision fails the check with that reason."""
    arrays = [(what, method, a) for what, method, a in _arrays_of(spec, run) if a is not None]
    for what, method, array in arrays:
        if numerics.half_precision(array):
            fail(
                f"{method} computes in half precision (float16): SPEC asks for float32 or float64 "
                f"({what})",
                method=method,
                case=case.label,
                snippet=snippet,
            )
    probe = _probe_precision(spec, student, reference) if student is not None else None
    return numerics.precision(*[a for _, _, a in arrays], *([probe] if probe else []))


def _probe_precision(spec, student, reference):
    """The precision of the class's forward on its first ordinary case (once
    per class): a result exact to the last bit (0, 1e-8 from 1 - 1e-8) does
    not show that its code computes in float32; the class's other results do."""
    key = (id(student), str(spec))
    if key not in _PROBES:
        _PROBES[key] = None
        case = next((c for c in spec.cases if not c.extreme), None)
        if case is not None:
            try:
                params, inputs = sample(spec, case, reference, np.random.default_rng(0))
                run = spec.driver.run(student, case, params, inputs)
            except Exception:  # a forward that fails is judged by its own checks
                return None
            arrays = [a for _, _, a in _arrays_of(spec, run) if a is not None]
            if arrays and not any(numerics.half_precision(a) for a in arrays):
                _PROBES[key] = numerics.precision(*arrays)
    return _PROBES[key]


def _floor(case, tier):
    return numerics.rounding_floor(tier, case.magnitude) if case.magnitude else 0.0


# ---------------------------------------------------------------- the checks


def _witness_sample(spec, case, reference, rng, part):
    """Fresh parameters, inputs and upstream gradient for a backward check of
    `part`, and the reproducer script that replays them."""
    params, inputs = sample(spec, case, reference, rng)
    upstream = upstream_for(spec, case, reference, rng)
    return params, inputs, upstream, Script(spec, case, params, inputs, upstream, part)


def _witness_runs(spec, case, student, reference, params, inputs, upstream, part, on_crash=None, earlier=()):
    """Student's and reference's forward and the backward of `part` (with
    `earlier`: the forward first called on those inputs). When the student's
    code fails (a CheckFailure), `on_crash(the reference's Run)` is called
    before the failure goes on: a crash's reproducer re-raises the crash
    while the bug is there and, once fixed, asserts what the check would
    have compared (the reference's values, known by then)."""
    reference_run = {}

    def run(engine):
        value = spec.driver.run(engine, case, params, inputs, upstream, part, earlier=earlier)
        if engine is reference:
            reference_run["want"] = value
        return value

    try:
        return side_by_side(run, student, reference)
    except CheckFailure:
        if on_crash is not None and "want" in reference_run:
            on_crash(reference_run["want"])
        raise


# The tolerances of a crash's reproducer: the student's precision is unknown
# (their code did not return), and float32's tolerances and steps accept a fix
# in either precision (a float64 forward's central differences with float32's
# step are far within float32's tolerance away from kinks).
UNKNOWN_PRECISION = np.float32


def check_forward(spec, case, student, reference, rng):
    """The forward's output against the reference's, on an object whose forward
    was called before on other inputs: a forward that keeps something from an
    earlier call (its first output, a mask, a position) gives itself away. (The
    finite differences of `own_forward` call each object once, as the graded
    calls of the gradient checks do: they cannot see it.)"""
    driver = spec.driver
    params, inputs = sample(spec, case, reference, rng)
    earlier = [case.inputs(rng)]  # drawn after what every check of the case draws
    script = Script(spec, case, params, inputs)
    script.call_first_on(earlier[0])
    what = f"{driver.forward_name} output"

    def after_crash(want):
        script.expect("out", want.output, UNKNOWN_PRECISION, f"{what} differs from the reference's",
                      floor=_floor(case, UNKNOWN_PRECISION))

    with reproducers.replaying(script.build):
        got, want = _witness_runs(spec, case, student, reference, params, inputs, None, None, after_crash, earlier)
        snippet = driver.snippet(case, params, inputs, earlier=earlier)
        tier = tier_of(spec, case, got, student, reference, snippet)
        floor = _floor(case, tier)
        first = numerics.as_numeric(got.earlier[0])
        first_right = first is not None and first.shape == np.shape(want.earlier[0]) and numerics.compare(
            first, want.earlier[0], tier, floor=floor).passed
        hint = ("right on the object's first call (on other inputs), wrong on the second: does the forward keep "
                "something from an earlier call?") if first_right else ""
        script.expect("out", want.output, tier, f"{what} differs from the reference's", floor=floor)
        expect_close(got.output, want.output, what, tier, floor=floor, batch_size=_batch(inputs), hints=[hint],
                      case=case.label, snippet=snippet, method=driver.forward_name,
                      **({"mistake": kinds.STATE} if first_right else {}))
        if case.extreme and not np.all(np.isfinite(np.asarray(got.output, dtype=np.float64))):
            fail(f"{what} has NaN or inf for {case.label}", case=case.label, snippet=snippet, method=driver.forward_name,
                 mistake=kinds.STABILITY)


def _shape_hints(got, want):
    """The hints and mistake of a gradient of the wrong shape (transposed, not
    summed over the batch, ...: `numerics.recognise`), as fields of a Diagnosis."""
    array = numerics.as_numeric(got)
    if array is None or array.shape == np.shape(want):
        return {"hints": []}
    found = numerics.recognise(array, want)
    return {"hints": [f.text for f in found], "mistake": numerics.mistake_of(found) or kinds.SHAPE}


def _gradient_shape_problem(name, got, want):
    if got is None:
        return f"{name} is missing (nothing returned for it)"
    arr = numerics.as_numeric(got)
    if arr is None:
        return f"{name} is not a numeric array (got {type(got).__name__})"
    if arr.shape != np.shape(want):
        return f"{name} has shape {arr.shape}, expected {np.shape(want)}"
    return None


# SPEC 5's blame from the two witnesses (`numerics.check_vjp`'s culprit): both wrong is
# blamed on the forward, the one to fix first (the backward is judged against it).
WITNESS_BLAME = {"forward": kinds.FORWARD, "backward": kinds.BACKWARD, "forward and backward": kinds.FORWARD}


def _vjp_failure(spec, case, which, method, result, entries, snippet, findings=()):
    """Explain a failed gradient check: the two witnesses, the wrong entries and
    the recognised mistakes (`numerics.Finding`s)."""
    driver = spec.driver
    worst = [(e.index, e.student, e.fd) for e in entries if e.wrong][:5]
    lines = []
    if result.message:
        lines.append(result.message)
    if result.own_forward_agrees:
        lines.append("it agrees with finite differences of your own forward")
    else:
        lines.append("it disagrees with finite differences of your own forward")
    if result.reference is not None:
        lines.append("it " + ("matches" if result.reference.passed else "does not match") + " the reference")
    culprit = {
        "forward": f"{driver.forward_name} (the forward): your gradient is right for the forward you were asked to write, or consistent with a wrong one",
        "backward": f"{method} (the backward)",
        "forward and backward": f"both {driver.forward_name} and {method}",
    }.get(result.culprit, "")
    fail(
        f"{method}: {which} is wrong ({'; '.join(lines)})",
        method=method,
        case=case.label,
        worst=worst,
        culprit=culprit,
        snippet=snippet,
        hints=[f.text for f in findings],
        blame=WITNESS_BLAME.get(result.culprit, ""),
        mistake=numerics.mistake_of(findings),
    )


def _cotangent(spec, case, output, upstream, snippet):
    """The upstream gradient shaped like what the student's forward returned
    (a (1,) loss gets a (1,) cotangent): the forward's shape is the forward
    check's business; here only finite differences need it. None when the
    output does not even have the reference's number of entries."""
    array = numerics.as_numeric(output)
    if array is None or array.size != np.size(upstream):
        return None
    return np.reshape(upstream, array.shape)


def _forward_shape_failure(spec, case, output, upstream, snippet):
    driver = spec.driver
    fail(
        f"{driver.forward_name} returns shape {np.shape(output)}, the reference's is {np.shape(upstream)}: "
        "finite differences of your forward cannot be held against the gradient",
        method=driver.forward_name,
        case=case.label,
        culprit=f"{driver.forward_name} (the forward)",
        snippet=snippet,
        blame=kinds.FORWARD,
        mistake=kinds.SHAPE,
    )


def gradient_label(spec, which):
    """"the input gradient", or "the gradient with respect to y_true" for an API that returns several."""
    driver = spec.driver
    if len(driver.differentiated) == 1:
        return "the input gradient"
    return f"the gradient with respect to {driver.input_names[driver.differentiated[which]]}"


def check_input_gradient(spec, case, student, reference, rng, witness, which=0, *, student_fd):
    """`witness` "fd": against finite differences of the student's forward;
    "reference": against the reference. `which`: the differentiated input
    (0: the first, e.g. y_pred; 1: y_true for a beras loss). `student_fd`:
    the sandbox that evaluates the finite differences (`own_forward`)."""
    params, inputs, upstream, script = _witness_sample(spec, case, reference, rng, "inputs")
    with reproducers.replaying(script.build):
        _check_input_gradient(spec, case, student, reference, rng, witness, which, params, inputs, upstream, script,
                              student_fd)


def _check_input_gradient(spec, case, student, reference, rng, witness, which, params, inputs, upstream, script,
                          student_fd):
    driver = spec.driver
    method = driver.input_gradient_name
    name = f"{method}: {gradient_label(spec, which)}"
    index = driver.differentiated[which]
    x = inputs[index]
    max_step = max_step_for(case, x) if which == 0 else None

    def expect(dtype, want):
        if witness == "fd":
            script.expect_numerical(f"input_grads[{which}]", index=index, point=x, dtype=dtype, max_step=max_step,
                                    message=f"{name} differs from finite differences of your forward")
        else:
            script.expect(f"input_grads[{which}]", want.input_grads[which], dtype, f"{name} differs from the reference's")

    got, want = _witness_runs(spec, case, student, reference, params, inputs, upstream, "inputs",
                              on_crash=lambda want: expect(UNKNOWN_PRECISION, want))
    snippet = driver.snippet(case, params, inputs, upstream)
    g, w = got.input_grads[which], want.input_grads[which]
    expect(floating_dtype_of(got), want)
    problem = _gradient_shape_problem(name, g, w)
    if problem:
        fail(problem, method=method, case=case.label, snippet=snippet, **_shape_hints(g, w))
    tier = tier_of(spec, case, got, student, reference, snippet)
    expect(tier, want)
    _refuse_vacuous(g, w, name, method, case, snippet)
    if witness == "reference" and numerics.compare(g, w, tier).passed:
        return
    v = _cotangent(spec, case, got.output, upstream, snippet)
    mistakes = spec.mistakes(inputs, want.output, upstream) if spec.mistakes and which == 0 else None
    recognising = {"square": spec.squares, "regions": spec.regions(case, inputs) if spec.regions and which == 0 else None}
    if v is None:
        if witness == "fd":
            _forward_shape_failure(spec, case, got.output, upstream, snippet)
        expect_close(g, w, f"{name} differs from the reference", tier, batch_size=_batch(inputs),
                      candidates=mistakes, case=case.label, snippet=snippet, method=method, **recognising)
    f_stack = own_forward.evaluator(spec, case, student_fd, got, params, inputs, upstream, "inputs", index=index,
                                    tier=tier, floor=_floor(case, tier), snippet=snippet)
    try:
        result = numerics.check_vjp(f_stack, x, v, g, w, rng=rng, dtype=tier, max_step=max_step)
    except own_forward.NotReproduced:
        if witness == "fd":
            raise
        result = None  # the forward's trouble: the finite differences cannot tell whom to blame
    if witness == "reference":
        if result is not None and result.reference.passed:
            return
        expect_close(
            g, w, f"{name} differs from the reference", tier, batch_size=_batch(inputs), candidates=mistakes,
            case=case.label, snippet=snippet, culprit=_culprit_text(spec, result), method=method,
            blame=kinds.FORWARD if result is not None and result.own_forward_agrees else "", **recognising,
        )
    if result.own_forward_agrees:
        return
    suspects = numerics.suspects(g, w)
    entries = numerics.localise(f_stack, x, v, g, suspects, dtype=tier, max_step=max_step)
    findings = numerics.recognise(g, w, batch_size=_batch(inputs), candidates=mistakes, **recognising)
    _vjp_failure(spec, case, gradient_label(spec, which), method, result, entries, snippet, findings)


def floating_dtype_of(run):
    """The precision of what a run returned (before `tier_of` can judge it): for a
    reproducer of a failure that comes before the precision is known."""
    arrays = [a for _, _, a in _arrays_of_safely(run)]
    return numerics.precision(*arrays) if arrays else np.float64


def _arrays_of_safely(run):
    found = []
    for value in [run.output, *(run.input_grads or ())]:
        array = _numeric(value)
        if array is not None and not numerics.half_precision(array):
            found.append(("", "", array))
    return found


def check_parameter_gradients(spec, case, student, reference, rng, witness, *, student_fd):
    """Every parameter gradient against `witness` ("fd": finite differences of
    the student's forward, evaluated in `student_fd`; "reference")."""
    params, inputs, upstream, script = _witness_sample(spec, case, reference, rng, "parameters")
    with reproducers.replaying(script.build):
        _check_parameter_gradients(spec, case, student, reference, rng, witness, params, inputs, upstream, script,
                                   student_fd)


def _check_parameter_gradients(spec, case, student, reference, rng, witness, params, inputs, upstream, script,
                               student_fd):
    driver = spec.driver
    method = driver.parameter_gradient_name
    name = f"{method}: the {driver.parameter_word} gradients"

    def expect_count(want):
        script.add_check(
            f"assert isinstance(parameter_grads, (list, tuple)) and len(parameter_grads) == {len(want.param_grads)}, "
            f'"{name}: expected {len(want.param_grads)} arrays"'
        )

    def after_crash(want):  # every parameter gradient, as the check would have compared them
        expect_count(want)
        if witness == "fd":
            script.add_check("parameter_grads = [np.array(g, dtype=np.float64) for g in parameter_grads]  "
                             "# before the forward runs again")
        for index, w in enumerate(want.param_grads):
            label = f"{name} [{index}] (parameter {index}, shape {np.shape(w)})"
            if witness == "fd":
                script.expect_numerical(f"parameter_grads[{index}]", parameter=index, point=params[index],
                                        dtype=UNKNOWN_PRECISION, append=index > 0,
                                        message=f"{label} differs from finite differences of your forward")
            else:
                script.expect(f"parameter_grads[{index}]", w, UNKNOWN_PRECISION, f"{label} differs from the reference's",
                              name=f"expected_{index}", append=index > 0)

    got, want = _witness_runs(spec, case, student, reference, params, inputs, upstream, "parameters",
                              on_crash=after_crash)
    snippet = driver.snippet(case, params, inputs, upstream)
    grads = got.param_grads
    expect_count(want)
    if not isinstance(grads, (list, tuple)) or len(grads) != len(want.param_grads):
        count = "nothing" if grads is None else (f"{len(grads)} arrays" if isinstance(grads, (list, tuple)) else type(grads).__name__)
        fail(f"{name}: expected {len(want.param_grads)} arrays, got {count}", case=case.label, snippet=snippet, method=method,
             mistake=kinds.SHAPE)
    judged = [_in_parameter_shape(g, w, stored) for g, w, stored in zip(grads, want.param_grads, _padded(got.stored, grads))]
    dtype = floating_dtype_of(got)

    def expect_parameter(index, dtype):
        g, w = judged[index], want.param_grads[index]
        label = f"{name} [{index}] (parameter {index}, shape {np.shape(w)})"
        # A gradient shaped like the student's own parameter (a bias stored (n,)) is judged on its values.
        reshaped = g is not grads[index]
        got_expression = f"np.reshape(parameter_grads[{index}], {np.shape(w)!r})" if reshaped else f"parameter_grads[{index}]"
        if witness == "fd":
            script.expect_numerical(got_expression, parameter=index, point=params[index], dtype=dtype,
                                    message=f"{label} differs from finite differences of your forward")
        else:
            script.expect(got_expression, w, dtype, f"{label} differs from the reference's")
        return g, w, label

    for index in range(len(judged)):
        g, w, label = expect_parameter(index, dtype)
        problem = _gradient_shape_problem(label, g, w)
        if problem:
            fail(problem, case=case.label, snippet=snippet, method=method, **_shape_hints(g, w))
    tier = tier_of(spec, case, got, student, reference, snippet)
    v = _cotangent(spec, case, got.output, upstream, snippet)
    for index in range(len(judged)):
        g, w, label = expect_parameter(index, tier)
        if witness == "reference":
            expect_close(g, w, f"{label} differs from the reference", tier, batch_size=_batch(inputs),
                          case=case.label, snippet=snippet, method=method, square=spec.squares)
            continue
        _refuse_vacuous(g, w, label, method, case, snippet)
        if v is None:
            _forward_shape_failure(spec, case, got.output, upstream, snippet)
        f_stack = own_forward.evaluator(spec, case, student_fd, got, params, inputs, upstream, "parameters",
                                        parameter=index, tier=tier, floor=_floor(case, tier), snippet=snippet)
        result = numerics.check_vjp(f_stack, params[index], v, g, w, rng=rng, dtype=tier)
        if not result.own_forward_agrees:
            entries = numerics.localise(f_stack, params[index], v, g, numerics.suspects(g, w), dtype=tier)
            findings = numerics.recognise(g, w, batch_size=_batch(inputs), square=spec.squares)
            _vjp_failure(spec, case, f"the gradient of {driver.parameter_word} {index}", method, result, entries, snippet,
                         findings)


def _padded(items, like):
    return list(items) + [None] * (len(like) - len(items))


def _in_parameter_shape(g, w, stored):
    """A gradient shaped like the student's own parameter (a bias stored (n,) where SPEC says
    (1, n)) is judged on its values: the parameter's shape costs the checks of the shapes."""
    g_array = numerics.as_numeric(g)
    if stored is None or g_array is None or g_array.shape == np.shape(w):
        return g
    if g_array.shape == np.shape(stored) and g_array.size == np.size(w):
        return g_array.reshape(np.shape(w))
    return g


def check_extreme_gradients(spec, case, student, reference, rng):
    """At extreme inputs, every input gradient against the reference alone
    (finite differences mean nothing there), where `case.judged` says: SPEC
    leaves the gradient inside a clipped region open."""
    driver = spec.driver
    params, inputs, upstream, _ = _witness_sample(spec, case, reference, rng, "inputs")
    got, want = _witness_runs(spec, case, student, reference, params, inputs, upstream, "inputs")
    snippet = driver.snippet(case, params, inputs, upstream)
    method = driver.input_gradient_name
    tier = tier_of(spec, case, got, student, reference, snippet)
    for which, (g, w) in enumerate(zip(got.input_grads, want.input_grads)):
        name = f"{method}: {gradient_label(spec, which)}"
        problem = _gradient_shape_problem(name, g, w)
        if problem:
            fail(problem, method=method, case=case.label, snippet=snippet, **_shape_hints(g, w))
        mask = case.judged(inputs) if case.judged is not None and which == 0 else None
        where = " (where no clipping happens)" if mask is not None else ""
        expect_close(g, w, f"{name}{where} differs from the reference for {case.label}", tier, mask=mask,
                      batch_size=_batch(inputs), case=case.label, snippet=snippet, method=method, square=spec.squares)


# ---------------------------------------------------------------- inputs untouched


def _untouched_scenario(engine, spec, case, params, inputs, upstream):
    """Forward then the whole backward on copies of the inputs kept in the
    worker: the output, whether it shares memory with each input, and the
    inputs after the forward and after the backward, the upstream gradient
    and the output after the backward."""
    driver = spec.driver
    with engine.batch() as batch:
        obj, _ = driver.build(batch, case, params)
        stored = driver.parameters(batch, obj) if params else None
        kept = [batch.call("numpy.array", x).keep() for x in inputs]
        up = batch.call("numpy.array", upstream).keep()
        out = driver.forward(batch, obj, kept).keep()
        output = batch.call("numpy.array", out)
        aliased = [batch.call("numpy.may_share_memory", out, k) for k in kept]
        after_forward = [batch.call("numpy.array", k) for k in kept]
        driver.backward(batch, obj, kept, up, None)
        after = [batch.call("numpy.array", k) for k in kept + [up, out]]
    raise_on_error(batch, driver, case, params, inputs, upstream)
    values = lambda pendings: [p.value for p in pendings]  # noqa: E731
    run = Run(output.value, stored=list(stored.value) if stored is not None and isinstance(stored.value, (list, tuple)) else [])
    return run, values(aliased), values(after_forward), values(after)


def _unchanged(now, before):
    """Same values (NaN where NaN was: an unclipped log gives NaN, which is the forward checks' business)."""
    now, before = numerics.as_numeric(now), numerics.as_numeric(before)
    if now is None or before is None or now.shape != before.shape:
        return False
    return bool(np.all((now == before) | (np.isnan(now.astype(float)) & np.isnan(before.astype(float)))))


def check_inputs_untouched(spec, case, student, reference, rng, gate=True):
    """Forward and backward must not write into the arrays they are given, nor
    backward into the output it gave the caller; the output must not be the
    input itself (unless the reference's is too: a reshape). Pays only for a
    forward that works: with `gate`, it must give the reference's output."""
    driver = spec.driver
    params, inputs = sample(spec, case, reference, rng)
    upstream = upstream_for(spec, case, reference, rng)
    snippet = driver.snippet(case, params, inputs, upstream)
    script = Script(spec, case, params, inputs, upstream)
    with reproducers.replaying(script.build):
        try:
            run, aliased, after_forward, after = _untouched_scenario(student, spec, case, params, inputs, upstream)
        except CheckFailure:
            # The student's forward or backward raised: the script re-raises it, and once
            # fixed asserts what this check demands (the reference's output among it).
            expected = driver.run(reference, case, params, inputs, upstream, "inputs").output
            script.untouched(upstream, expected if gate else None, UNKNOWN_PRECISION, _floor(case, UNKNOWN_PRECISION))
            raise
        output = run.output
        tier = tier_of(spec, case, run, student, reference, snippet)
        # The input-gradient checks' own request (the same draws): answered from memory.
        expected = driver.run(reference, case, params, inputs, upstream, "inputs").output
        script.untouched(upstream, expected if gate else None, tier, _floor(case, tier))
        # A forward of the right values in the wrong shape ((1,) for a scalar) is the forward check's business.
        values = numerics.as_numeric(output)
        if gate and (values is None or values.size != np.size(expected) or not numerics.compare(
            values.reshape(np.shape(expected)), expected, tier, floor=_floor(case, tier)
        ).passed):
            fail(
                f"{driver.forward_name} does not give the reference's output, so this check has nothing to judge yet "
                "(it pays for a forward that works and leaves its inputs alone)",
                method=driver.forward_name,
                case=case.label,
                snippet=snippet,
                blame=kinds.FORWARD,
            )
        names = [driver.input_names[i] if i < len(driver.input_names) else f"input {i}" for i in range(len(inputs))]
        for name, before, mid, now, alias in zip(names, inputs, after_forward, after, aliased):
            if not _unchanged(np.asarray(mid), before):
                how = " and returns it as its output" if alias else ""
                fail(f"{driver.forward_name} writes into its input {name}{how} (a forward must not modify what it is given)",
                     method=driver.forward_name, case=case.label, snippet=snippet, mistake=kinds.IN_PLACE)
            if not _unchanged(np.asarray(now), before):
                fail(f"{driver.input_gradient_name} (the backward) changes the input {name} in place "
                     "(it must not modify what the forward was given)",
                     method=driver.input_gradient_name, case=case.label, snippet=snippet, mistake=kinds.IN_PLACE)
        if not _unchanged(np.asarray(after[-2]), upstream):
            fail(f"{driver.input_gradient_name} (the backward) changes the upstream gradient it is given in place",
                 method=driver.input_gradient_name, case=case.label, snippet=snippet, mistake=kinds.IN_PLACE)
        if not _unchanged(np.asarray(after[-1]), np.asarray(output)):
            fail(f"{driver.input_gradient_name} (the backward) changes the output array that {driver.forward_name} "
                 "returned to the caller (the next layer's input)",
                 method=driver.input_gradient_name, case=case.label, snippet=snippet, mistake=kinds.IN_PLACE)
        if not any(aliased):
            return
        reference_aliased = _untouched_scenario(reference, spec, case, params, inputs, upstream)[1]
        for name, alias, ref_alias in zip(names, aliased, reference_aliased):
            if alias and not ref_alias:
                script.add_check(f"assert not np.may_share_memory(out, {name}), "
                                 f'"{driver.forward_name} returns its input {name} (or a view of it) as its output"')
                fail(f"{driver.forward_name} returns its input {name} (or a view of it) as its output: "
                     "the caller's array and the layer's output must be different arrays",
                     method=driver.forward_name, case=case.label, snippet=snippet, mistake=kinds.IN_PLACE)


def _refuse_vacuous(got, want, name, method, case, snippet):
    """All zeros where the true gradient is not: consistent with a forward that
    ignores its input, but no evidence of a working backward."""
    if not np.any(numerics.as_numeric(got)) and np.any(np.asarray(want)):
        fail(
            f"{name} is all zeros, and the true gradient is not (does your forward depend on it at all?)",
            method=method,
            case=case.label,
            snippet=snippet,
        )


def _culprit_text(spec, result):
    driver = spec.driver
    if result is not None and result.own_forward_agrees:
        return f"{driver.forward_name}: your gradient agrees with your own forward, so the forward differs from the one asked for"
    return ""


def _batch(inputs):
    return int(np.shape(inputs[0])[0]) if inputs and np.ndim(inputs[0]) else None


# ---------------------------------------------------------------- every case of a check


def each_case(cases, check_one):
    """`check_one(case)` for every case, collecting the CheckFailures: one case's
    failure must not hide what is wrong in the others. Raises the failure of
    the only failing case, or all of them together (`combined`). A crash or a
    timeout of the student's code (a traceback, a limit) ends the check at once:
    a method that timed out is not called again (harness/timing.py)."""
    cases = list(cases)
    failed = []
    for case in cases:
        try:
            check_one(case)
        except CheckFailure as failure:
            failed.append((case, failure))
            if ends_check(failure.diagnosis):
                break
    if len(failed) == 1:
        raise failed[0][1]
    if failed:
        raise combined(failed, len(cases))


def ends_check(diagnosis):
    """Whether a failure is a crash or a limit of the student's code (not a wrong value)."""
    summary = diagnosis.summary.rstrip()
    return bool(diagnosis.traceback) or any(summary.endswith(f"({kind})") for kind in LIMIT_KINDS) or \
        summary.startswith("not run")


def combined(failed, total):
    """One CheckFailure for several failing cases [(case, CheckFailure)]: the
    first in full, its summary saying how many failed, the others one line
    each (`Diagnosis.other_cases`); the reproducers of all, in that order."""
    first = failed[0][1].diagnosis
    diagnosis = Diagnosis(**{**first.__dict__})
    diagnosis.summary = f"{first.summary} [{len(failed)} of {total} cases fail: {first.case or 'the first'} in full, " \
                        "the others below]"
    diagnosis.other_cases = [{"case": case.label, "summary": failure.diagnosis.summary, "reproducer": ""}
                             for case, failure in failed[1:]]
    failure = CheckFailure(diagnosis)
    failure.reproducers = [(reproducers.reproducers_of(f) or [None])[0] for _, f in failed]
    return failure


# ---------------------------------------------------------------- reproducers


class Script:
    """The reproducer of one case of a generic check (harness/reproducers.py):
    the driver's calls on this case's arrays, then the assertion of what the
    check compares, set (`expect`, `expect_numerical`, `untouched`) as soon
    as the check knows it, so that a failure raised later carries it."""

    def __init__(self, spec, case, params, inputs, upstream=None, part=None):
        self.driver, self.case = spec.driver, case
        module, _, name = self.driver.target.rpartition(".")
        self.imports = [f"from {module} import {name}"]
        self.calls = self.driver.script_lines(case, params, upstream, part)
        self.arrays = {f"parameter_{i}": np.asarray(p) for i, p in enumerate(params or ())}
        self.arrays.update(zip(self.driver.script_input_names(), map(np.asarray, inputs)))
        if upstream is not None:
            self.arrays["upstream"] = np.asarray(upstream)
        self.params, self.upstream, self.part = params, upstream, part
        self.checks = []  # lines that must hold whatever the comparison
        self.assertion = []  # the comparison of the failing check

    def call_first_on(self, earlier):
        """The forward is called first on other inputs (`earlier`), as the forward check does."""
        names = self.driver.script_input_names()
        for name, value in zip(names, earlier):
            self.arrays[f"earlier_{name}"] = np.asarray(value)
        first = self.driver.script_forward.format(*[f"data['earlier_{name}']" for name in names])
        at = next(i for i, line in enumerate(self.calls) if line.startswith("out = "))
        self.calls.insert(at, f"{first}  # first called on other inputs, as the check does")

    def add_check(self, line):
        if line not in self.checks:
            self.checks.append(line)

    def expect(self, got, expected, dtype, message, floor=0.0, name="expected", append=False):
        """The script ends asserting `got` (an expression) equals `expected` (saved
        as the array `name`) as `numerics.compare` judges it (dtype's tolerance,
        `floor`); with `append`, after what it asserted so far."""
        expected = np.asarray(expected, dtype=np.float64)
        rtol, atol = tolerance(expected, dtype, floor=floor)
        self.arrays[name] = expected
        lines = assert_close_lines(got, rtol, repr(atol), message, expected=f"data[{name!r}]")
        self.assertion = (self.assertion if append else []) + lines

    def expect_numerical(self, got, point, dtype, message, index=None, parameter=None, max_step=None, append=False):
        """The script ends asserting `got` equals the gradient of its own forward by
        central differences (in input `index`, or parameter number `parameter`);
        with `append`, after what it asserted so far."""
        tier = numerics.precision(dtype)
        if not append:
            self.arrays.pop("expected", None)
        defined = append and any(line.startswith("def numerical_gradient(") for line in self.assertion)
        step = f"{reproducers.FD_STEP[tier]!r}"
        if max_step is not None:
            self.arrays["max_step"] = np.broadcast_to(np.asarray(max_step, dtype=np.float64), np.shape(point)).copy()
            step = f"np.minimum({step}, data['max_step'] / 2)  # never across a kink"
        at = f"data['parameter_{parameter}']" if parameter is not None else f"data[{self.driver.script_input_names()[index]!r}]"
        lines = [f"judged = np.array({got}, dtype=np.float64)  # before the forward runs again",
                 *([] if defined else reproducers.NUMERICAL_GRADIENT.strip("\n").splitlines()), "",
                 *self.driver.script_forward_at(index=index, parameter=parameter), "",
                 f"step = {step}",
                 f"numerical = numerical_gradient(forward_at, {at}, upstream, step)"]
        if parameter is not None:
            lines.append(f"parameters[{parameter}][...] = data['parameter_{parameter}']  # back as it was")
        atol = f"{reproducers.FD_ATOL[tier]!r} * max(1.0, float(np.abs(numerical).max()))"
        self.assertion = (self.assertion if append else []) + lines + assert_close_lines(
            "judged", reproducers.FD_RTOL[tier], atol, message, expected="numerical")

    def untouched(self, upstream, expected, dtype, floor):
        """The script ends asserting what `check_inputs_untouched` demands: the
        forward's output (when `expected` is given), the inputs unchanged by
        the forward and by the backward, the upstream and the output unchanged."""
        driver = self.driver
        names = driver.script_input_names()
        self.calls = driver.script_lines(self.case, self.params)  # the forward; the backward comes below
        lines = ["out_given = np.array(out)  # what the forward gave the caller"]
        lines += [f"np.testing.assert_array_equal({n}, data[{n!r}], err_msg='{driver.forward_name} writes into its "
                  f"input {n}')" for n in names]
        lines.append("upstream = data['upstream']")
        lines += driver.script_lines(self.case, self.params, upstream, None)[len(self.calls):][1:]
        lines += [f"np.testing.assert_array_equal({n}, data[{n!r}], err_msg='{driver.input_gradient_name} (the "
                  f"backward) changes the input {n} in place')" for n in names]
        lines += [f"np.testing.assert_array_equal(upstream, data['upstream'], err_msg='{driver.input_gradient_name} "
                  "changes the upstream gradient in place')",
                  f"np.testing.assert_array_equal(out, out_given, err_msg='{driver.input_gradient_name} changes the "
                  "output array the forward returned')"]
        if expected is not None:
            self.expect("np.reshape(out, data['expected'].shape)", expected, dtype,
                        f"{driver.forward_name} does not give the reference's output", floor=floor)
            lines = self.assertion + lines
        self.assertion = lines

    def build(self, failure=None):
        """The Reproducer, or None when it would assert nothing about this failure
        (a failure that is no crash, before the check knew what it compares).
        A crash's script re-raises it in its calls while the bug is there; once
        fixed, it goes on to the assertion when the check knew what it would
        compare (the reference's values, run side by side: `_witness_runs`)."""
        crash = failure is not None and ends_check(failure.diagnosis)
        if "raised NotImplementedError" in getattr(getattr(failure, "diagnosis", None), "summary", ""):
            return None  # a method still to be written: nothing to reproduce
        if not (self.assertion or self.checks) and not crash:
            return None
        body = list(self.calls) + self.checks + self.assertion
        return Reproducer(self.imports, body, dict(self.arrays), self.case.label)
