"""Playing a beras scenario and judging what came back, for the beras catalog.

`Scenario` names a function of `harness/scenarios/beras_scenarios.py` and its
arguments, plays it on both engines (`harness.play`) and fails with its
snippet; the rest validate untrusted values (real scalars, arrays, gradient
lists) and compare them with the reference's, with tolerances by the
precision the student computes in.
"""

import numpy as np

from harness import numerics
from harness.checks import CheckFailure, expect_close, fail, replay_with
from harness.play import play, play_both, play_judged, snippet


def __tracebackhide__(excinfo):
    """pytest: leave this module's frames out of a CheckFailure's traceback (the diagnosis says it all)."""
    return excinfo is not None and excinfo.errisinstance(CheckFailure)


SCENARIOS = "beras_scenarios"


class Scenario:
    """One scenario function and its arguments: played on the engines, failed with its snippet."""

    def __init__(self, function, *args, case="", method="", calls=1):
        self.function, self.args = f"{SCENARIOS}.{function}", args
        self.case, self.method, self.calls = case, method, calls
        replay_with(lambda: snippet(self.function, self.args))

    def both(self, student, reference):
        """(the student's value, the reference's)."""
        return play_both(student, reference, self.function, *self.args, case=self.case, method=self.method,
                         calls=self.calls)

    def student(self, student, judged_by=None):
        """The student's value alone; with `judged_by` = (property, *arguments), judged by
        `beras_properties.<property>(value, *arguments)` (harness.play.play_judged: the first
        problem it finds fails the check, and the check's reproducer asserts it finds none)."""
        if judged_by is None:
            return play(student, self.function, *self.args, case=self.case, method=self.method, calls=self.calls)
        prop, *extra = judged_by
        return play_judged(student, self.function, *self.args, prop=f"beras_properties.{prop}", extra=extra,
                           case=self.case, method=self.method, calls=self.calls)

    def fail(self, summary, method=None, **details):
        fail(summary, method=self.method if method is None else method, case=self.case, **details)


def close(actual, expected, dtype=None, rtol=None):
    """Whether `actual` matches `expected` (tolerances by dtype; `rtol` may loosen them)."""
    if actual is None or expected is None or numerics.as_numeric(actual) is None:
        return False
    return numerics.compare(actual, expected, dtype=dtype, rtol=_rtol(dtype, rtol)).passed


def _rtol(dtype, rtol):
    return None if rtol is None else max(rtol, numerics.RTOL[numerics.precision(dtype or np.float64)])


def expect(scenario, actual, expected, what, dtype=None, hints=(), rtol=None, method=None, **details):
    """Fail (naming the scenario's method) unless `actual` matches `expected`
    (`details`: more for the diagnosis, e.g. the `mistake` or `blame` a failure means)."""
    expect_close(actual, expected, what, dtype=dtype, rtol=_rtol(dtype, rtol), hints=hints,
                 method=scenario.method if method is None else method, case=scenario.case, **details)


def precision_of(*values, names=()):
    """The precision the student computes in: from the arrays they returned and the dtype
    names a scenario reported (every array they stored, returned or computed with)."""
    dtypes = [np.asarray(v).dtype for v in values if numerics.as_numeric(v) is not None]
    for name in names if isinstance(names, list) else ():
        try:
            dtypes.append(np.dtype(str(name)))
        except TypeError:
            pass
    return numerics.precision(*dtypes)


def is_array(value, shape=None):
    array = numerics.as_numeric(value)
    return array is not None and (shape is None or array.shape == tuple(shape))


def same_array(got, want):
    return is_array(got) and np.shape(got) == np.shape(want) and np.array_equal(got, want)


def real_scalar(value):
    """`value` as a float when it is a real scalar (float, int, NumPy scalar, 0-d array or
    Tensor: SPEC 4 leaves the type open), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iuf":
        return float(value)
    return None


def describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return repr(value) if isinstance(value, str) else type(value).__name__


def scalars(scenario, result, keys, what, per_epoch=None):
    """{key: float} from a dict holding a real scalar under each key (with per_epoch=n, a
    list of n of them); extra keys are allowed."""
    if not isinstance(result, dict) or not set(keys) <= set(result):
        got = f"a dict with keys {sorted(result)}" if isinstance(result, dict) else describe(result)
        scenario.fail(f"{what} must return a dict with keys {sorted(keys)}, got {got}")
    values = {}
    for key in keys:
        entries = result[key] if per_epoch is not None else [result[key]]
        if per_epoch is not None and (not isinstance(entries, list) or len(entries) != per_epoch):
            got = f"a list of {len(entries)}" if isinstance(entries, list) else describe(entries)
            scenario.fail(f'{what}["{key}"] must be a list of {per_epoch} numbers (one per epoch), got {got}')
        numbers = [real_scalar(v) for v in entries]
        bad = [i for i, v in enumerate(numbers) if v is None]
        if bad:
            where = f"[{bad[0]}]" if per_epoch is not None else ""
            scenario.fail(f'{what}["{key}"]{where} must be a real number (a float, a NumPy scalar, a 0-d array '
                          f"or Tensor), got {describe(entries[bad[0]])}")
        if not np.all(np.isfinite(numbers)):
            scenario.fail(f'{what}["{key}"] is not finite: {numbers}')
        values[key] = numbers if per_epoch is not None else numbers[0]
    return values


def probe_weights(rng, n, count):
    """Weights (1, n) of probe layers: entries of size 0.5 to 1.5, either sign."""
    return [rng.uniform(0.5, 1.5, size=(1, n)) * rng.choice([-1.0, 1.0], size=(1, n)) for _ in range(count)]


def gradient_list(scenario, grads, count, method):
    """The list of gradients a tape returned, validated: one entry per source."""
    if not isinstance(grads, list) or len(grads) != count:
        got = f"{len(grads)} items" if isinstance(grads, list) else describe(grads)
        scenario.fail(f"{method} must return a list with one gradient per source ({count}), got {got}", method=method,
                      mistake="shape")
    return grads


def judge_gradient(scenario, name, got, want, dtype, method, hint="", shape=None):
    """One source's gradient against the reference's. `shape`: the source's own shape on
    the student's side, when it may differ from the reference's (a bias stored (out,))."""
    if want is None:
        if got is not None:
            scenario.fail(f"{method}: the gradient for {name} must be None (the loss does not depend on it), got "
                          f"{describe(got)}", method=method)
        return
    if got is None:
        scenario.fail(f"{method}: the gradient for {name} is None, but the loss depends on it", method=method,
                      hints=[hint] if hint else [])
    if not is_array(got):
        scenario.fail(f"{method}: the gradient for {name} is {describe(got)}, not an array", method=method)
    own = tuple(shape) if shape is not None else np.shape(want)
    if np.shape(got) not in (np.shape(want), own):
        scenario.fail(f"{method}: the gradient for {name} has shape {np.shape(got)}, expected {own} (the source's "
                      "shape)", method=method, mistake="shape")
    if np.shape(got) != np.shape(want) and np.size(got) == np.size(want):
        got = np.reshape(got, np.shape(want))
    expect(scenario, got, want, f"{method}: the gradient for {name} differs from the reference", dtype=dtype,
           hints=[hint], method=method)
