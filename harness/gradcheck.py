"""The checks every differentiable class gets, as plain functions of one case.

Each function runs one `Case` of a spec on the student's engine and on the
reference's with the same parameters and inputs, and raises CheckFailure
(with a diagnosis) when the student's result is wrong. The pytest checks in
`harness/catalog/test_differentiable.py` loop these over a spec's cases.

The two witnesses for a gradient: finite differences of the student's OWN
forward (`numerics.check_vjp`) and the reference's gradient. When only one
disagrees, the bug is in the forward; when both do, in the backward.
"""

import concurrent.futures

import numpy as np

from . import numerics
from .checks import expect_close, fail, floating_dtype
from .drivers import raise_on_error

PARAMETER_SCALE = 0.5  # parameters drawn N(0, 0.5²): nothing saturates


_SHAPES = {}  # (engine, class, case) -> (parameter shapes, output shape)
_PAIR = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="reference")


def shapes(spec, case, reference):
    """Parameter shapes and output shape of `case`, asked of the reference once."""
    key = (id(reference), spec.target, case.label, repr(case.args), repr(case.kwargs))
    if key not in _SHAPES:
        params = spec.driver.parameter_shapes(reference, case)
        inputs = case.inputs(np.random.default_rng(0))
        output = spec.driver.run(reference, case, [np.zeros(s) for s in params], inputs).output
        _SHAPES[key] = (params, np.shape(output))
    return _SHAPES[key]


def sample(spec, case, reference, rng):
    """Fresh parameters (shaped as the reference's) and inputs for `case`."""
    params = [rng.normal(scale=PARAMETER_SCALE, size=shape) for shape in shapes(spec, case, reference)[0]]
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


def _witness_runs(spec, case, student, reference, rng):
    """Student's and reference's forward+backward on one fresh sample."""
    params, inputs = sample(spec, case, reference, rng)
    upstream = upstream_for(spec, case, reference, rng)
    run = spec.driver.run
    got, want = side_by_side(run, student, reference, case, params, inputs, upstream)
    return params, inputs, upstream, got, want


def check_forward(spec, case, student, reference, rng):
    driver = spec.driver
    params, inputs = sample(spec, case, reference, rng)
    got, want = (run.output for run in side_by_side(driver.run, student, reference, case, params, inputs))
    snippet = driver.snippet(case, params, inputs)
    what = f"{driver.forward_name} output"
    expect_close(got, want, what, batch_size=_batch(inputs), case=case.label, snippet=snippet, method=driver.forward_name)
    if case.extreme and not np.all(np.isfinite(np.asarray(got, dtype=np.float64))):
        fail(f"{what} has NaN or inf for {case.label}", case=case.label, snippet=snippet)


def _gradient_shape_problem(name, got, want):
    arr = numerics.as_numeric(got)
    if arr is None:
        return f"{name} is not a numeric array (got {type(got).__name__})"
    if arr.shape != np.shape(want):
        return f"{name} has shape {arr.shape}, expected {np.shape(want)}"
    return None


def _vjp_failure(spec, case, which, method, result, entries, snippet, hints=()):
    """Explain a failed gradient check: the two witnesses and the wrong entries."""
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
        hints=list(hints),
    )


def check_input_gradient(spec, case, student, reference, rng, witness):
    """`witness` "fd": against finite differences of the student's forward; "reference": against the reference."""
    driver = spec.driver
    params, inputs, upstream, got, want = _witness_runs(spec, case, student, reference, rng)
    snippet = driver.snippet(case, params, inputs, upstream)
    method = driver.input_gradient_name
    name = f"{method}: the input gradient"
    problem = _gradient_shape_problem(name, got.input_grad, want.input_grad)
    if problem:
        fail(problem, method=method, case=case.label, snippet=snippet)
    _refuse_vacuous(got.input_grad, want.input_grad, name, method, case, snippet)
    x = inputs[driver.differentiated]
    dtype = floating_dtype(got.output, got.input_grad)
    if witness == "reference" and numerics.compare(got.input_grad, want.input_grad, dtype=dtype).passed:
        return
    f_stack = driver.f_stack(student, case, params, inputs)
    max_step = max_step_for(case, x)
    result = numerics.check_vjp(
        f_stack, x, upstream, got.input_grad, want.input_grad, rng=rng, dtype=dtype, max_step=max_step
    )
    agrees = result.own_forward_agrees if witness == "fd" else result.reference.passed
    if agrees:
        return
    mistakes = spec.mistakes(inputs, want.output, upstream) if spec.mistakes else None
    if witness == "reference":
        expect_close(
            got.input_grad, want.input_grad, f"{name} differs from the reference", dtype=dtype,
            batch_size=_batch(inputs), candidates=mistakes, case=case.label, snippet=snippet,
            culprit=_culprit_text(spec, result), method=method,
        )
    suspects = numerics.suspects(got.input_grad, want.input_grad)
    entries = numerics.localise(f_stack, x, upstream, got.input_grad, suspects, dtype=dtype, max_step=max_step)
    hints = numerics.diagnose(got.input_grad, want.input_grad, batch_size=_batch(inputs), candidates=mistakes)
    _vjp_failure(spec, case, "the input gradient", method, result, entries, snippet, hints)


def check_parameter_gradients(spec, case, student, reference, rng, witness):
    driver = spec.driver
    params, inputs, upstream, got, want = _witness_runs(spec, case, student, reference, rng)
    snippet = driver.snippet(case, params, inputs, upstream)
    method = driver.parameter_gradient_name
    name = f"{method}: the {driver.parameter_word} gradients"
    grads = got.param_grads
    if grads is None or len(grads) != len(want.param_grads):
        count = "nothing" if grads is None else f"{len(grads)} arrays"
        fail(f"{name}: expected {len(want.param_grads)} arrays, got {count}", case=case.label, snippet=snippet)
    dtype = floating_dtype(got.output, *[g for g in grads if numerics.as_numeric(g) is not None])
    for index, (g, w) in enumerate(zip(grads, want.param_grads)):
        label = f"{name} [{index}] (parameter {index}, shape {np.shape(w)})"
        problem = _gradient_shape_problem(label, g, w)
        if problem:
            fail(problem, case=case.label, snippet=snippet, method=method)
        if witness == "reference":
            expect_close(g, w, f"{label} differs from the reference", dtype=dtype, batch_size=_batch(inputs),
                         case=case.label, snippet=snippet, method=method)
            continue
        _refuse_vacuous(g, w, label, method, case, snippet)
        f_stack = driver.f_stack(student, case, params, inputs, parameter=index)
        result = numerics.check_vjp(f_stack, params[index], upstream, g, w, rng=rng, dtype=dtype)
        if not result.own_forward_agrees:
            entries = numerics.localise(f_stack, params[index], upstream, g, numerics.suspects(g, w), dtype=dtype)
            _vjp_failure(spec, case, f"the gradient of {driver.parameter_word} {index}", method, result, entries, snippet)


def check_inputs_untouched(spec, case, student, reference, rng):
    """Forward and backward must not write into the arrays they are given."""
    driver = spec.driver
    params, inputs = sample(spec, case, reference, rng)
    upstream = upstream_for(spec, case, reference, rng)
    with student.batch() as batch:
        obj, _ = driver.build(batch, case, params)
        kept = [batch.call("numpy.array", x).keep() for x in inputs]
        up = batch.call("numpy.array", upstream).keep()
        driver.forward(batch, obj, kept)
        driver.backward(batch, obj, kept, up)
        after = [batch.call("numpy.array", k) for k in kept + [up]]
    raise_on_error(batch, driver, case, params, inputs, upstream)
    for name, before, now in zip([f"input {i}" for i in range(len(inputs))] + ["upstream gradient"], list(inputs) + [upstream], after):
        if not np.array_equal(np.asarray(now.value), before):
            fail(
                f"{driver.class_name} changed its {name} in place (forward/backward must not modify what they are given)",
                case=case.label,
                snippet=driver.snippet(case, params, inputs, upstream),
            )


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
    if result.own_forward_agrees:
        return f"{driver.forward_name}: your gradient agrees with your own forward, so the forward differs from the one asked for"
    return ""


def _batch(inputs):
    return int(np.shape(inputs[0])[0]) if inputs and np.ndim(inputs[0]) else None
