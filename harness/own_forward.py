"""Finite differences of the student's own forward, evaluated as the checks evaluate it.

Witness (a) of every gradient check (`harness/gradcheck.py`,
`numerics.check_vjp`) is central differences of the student's forward. A
forward that could tell these evaluations from the graded call could agree
with any gradient: return, around the graded input, a linear function with
the slope its backward claims. So they are made so that nothing cheap tells
them apart, and so that telling them apart gains nothing:

- **A fresh worker.** They run in a sandbox of their own (the `student_fd`
  fixture, `harness/plugin.py`): the same submission, started as the grading
  sandbox is, charged to the same time budget, serving nothing but these
  evaluations. What the student's code kept from the graded calls (module
  globals, the last input, the upstream gradient, the output it gave) is not
  there.
- **The graded request, replayed.** Each evaluation is the graded call's own
  request (`Driver.record_run`: build the object, set its parameters by
  writing into its arrays, read them back, call the forward, run the
  backward the check runs) with one array, the input or the parameter
  differentiated, replaced by the perturbed point (`Batch.replay`). The
  forward runs once per object, is followed by the backward, and gets what a
  graded forward gets: a fresh, C-contiguous, writable float64 array of its
  own (not a view into the stack), through the same methods.
- **The unperturbed point among them.** x0 itself is evaluated too, at a
  position among the shuffled points drawn from the operating system's
  entropy (public checks' seeds are public, this is not), and its output
  must reproduce the graded output within the check's tolerance tier. A
  forward that gives another result when the judge evaluates it again (not
  deterministic, or different when it is watched) fails the check with
  `NotReproduced`, naming the forward; it never passes.

What a student's forward can still observe, and why it does not matter:

- The worker's frames and memory: a `replay` op on the stack, the request,
  the other evaluations' points. Code that inspects the interpreter it runs
  in can see anything, in a graded call too. Whatever it does with that, the
  gradient is also held against the reference's (the "matches the
  reference" checks), which no forward can sway: it cannot earn those
  points for a wrong backward.
- The worker's history and timing: it only ever builds fresh objects and
  runs forward then backward, on points a small step apart, with the same
  upstream gradient each time, without a round trip to the judge between
  the evaluations of one request; it never runs a scenario, a model or an
  optimizer. And the points themselves: x0 lies on the sampling grid
  (`numerics.on_grid`), which in float64 the perturbed points miss.
- None of it gives the forward x0 or the graded output before it must
  answer. To agree with a wrong gradient g it must answer f(c) + g (x - c)
  with one centre c at every point (a mix of true and forged answers breaks
  the differences, or makes them too noisy: both fail), and reproducing the
  graded output at x0 then needs |g - J| |x0 - c| within the tolerance: c
  must be x0 to a small fraction of the step, and the first point it
  answers is x0 only when chance put x0 first (1 in about 21 per case; every
  case of both checks must come out so). Solving a point for x0 needs the
  direction it was moved along and the step: the random directions are the
  judge's; the student's own gradient, for a layer, depends on the upstream
  gradient, which the forward meets only in the first backward, after its
  first answer. For a loss (upstream 1) a forward that knows its own
  gradient and the step rule could solve a first point of that direction
  for x0 (1 in about 5) and win that case's finite-difference points; the
  reference checks still fail its gradient.

Not covered: a channel between the two workers of a submission outside the
interpreter. Both run as the same user and see the same /tmp, /dev/shm and
SysV IPC (`harness/sandbox/__init__.py`, known limits): a grading worker that
leaves the graded input and output in a file lets the other forge its
answers around them, and only the reference witness then stands (its checks
still fail a wrong gradient). The fix is the sandbox's: a user and a private
/tmp per sandbox.
"""

import random

import numpy as np

from . import numerics
from .checks import CheckFailure, Diagnosis, fail
from .ops import failure_summary, first_failure
from .scenarios import IMPORT_NAME

_CHANCE = random.SystemRandom()  # where x0 goes, and the order of the points: nothing a student can replay


class NotReproduced(CheckFailure):
    """The forward gave, at the unperturbed point, another output than in the graded call."""


def evaluator(spec, case, engine, graded, params, inputs, upstream, part, *, tier, floor=0.0,
              parameter=None, index=None, snippet=""):
    """`f_stack(points) -> outputs` for `numerics`: the student's forward at each
    point, which replaces parameter number `parameter` when one is given, else
    input `index`; evaluated in `engine` (the `student_fd` sandbox) through the
    ops of the graded request (`Driver.record_run` with `upstream`, `part`),
    with the unperturbed point among them, whose output must reproduce
    `graded` (the student's `Run` of the check) within `tier` and `floor`.
    Raises `NotReproduced` when it does not; a failure of the student's code
    fails the check as a graded call's would."""
    driver = spec.driver
    x0 = np.asarray(params[parameter] if parameter is not None else inputs[index], dtype=np.float64)

    def record(body, slot):
        changed_params, changed_inputs = list(params), list(inputs)
        if parameter is not None:
            changed_params[parameter] = slot
        else:
            changed_inputs[index] = slot
        return [driver.record_run(body, case, changed_params, changed_inputs, upstream, part).output]

    def evaluate(stack):
        stack = np.asarray(stack, dtype=np.float64)
        order = list(range(len(stack)))
        _CHANCE.shuffle(order)
        at = _CHANCE.randrange(len(stack) + 1)
        points = [stack[i] for i in order]
        points.insert(at, x0)
        with engine.batch() as batch:
            replayed = batch.replay(np.stack(points), record)
        _raise_on_error(batch, driver, case, snippet)
        outputs = _outputs(driver, case, [values[0] for values in replayed.value], snippet)
        _expect_reproduced(driver, case, outputs[at], graded.output, tier, floor, parameter, bool(params), snippet)
        result = np.empty((len(stack),) + outputs.shape[1:])
        result[order] = np.delete(outputs, at, axis=0)
        return result

    return evaluate


def _raise_on_error(batch, driver, case, snippet):
    """A failure of the student's code in an evaluation fails the check, naming
    the method (the harness's copy of the given core names the forward)."""
    failure = first_failure(batch)
    if failure is None:
        return
    _, label, error = failure
    if label.startswith(IMPORT_NAME):
        label = driver.forward_name
    summary = f"{failure_summary(label, error)} (evaluating {driver.forward_name} for finite differences)"
    fail(summary, method=label, case=case.label, snippet=snippet, traceback=error.traceback or "")


def _outputs(driver, case, values, snippet):
    """The evaluations' outputs as one float64 array (K, ...): each a numeric array, all of one shape."""
    arrays = [numerics.as_numeric(value) for value in values]
    for value, array in zip(values, arrays):
        if array is None:
            fail(f"{driver.forward_name} returned {type(value).__name__}, not an array of numbers, "
                 "for an input of the finite differences", method=driver.forward_name, case=case.label,
                 snippet=snippet)
    shapes = {array.shape for array in arrays}
    if len(shapes) > 1:
        fail(f"{driver.forward_name} returns outputs of different shapes ({', '.join(map(str, sorted(shapes)))}) "
             "for inputs of the same shape", method=driver.forward_name, case=case.label, snippet=snippet)
    return np.stack(arrays)


def _expect_reproduced(driver, case, again, graded_output, tier, floor, parameter, has_parameters, snippet):
    """The output at the unperturbed point must be the graded call's, within the check's tolerance."""
    expected = numerics.as_numeric(graded_output)
    comparison = numerics.compare(again, expected, tier, floor=floor) if expected is not None else None
    if comparison is not None and comparison.passed:
        return
    what = f"{driver.parameter_word}s" if parameter is not None else "inputs"
    detail = comparison.message if comparison is not None else "the graded output is not an array of numbers"
    method = driver.forward_name
    diagnosis = Diagnosis(
        summary=(
            f"{method} does not reproduce its output: evaluated again on the same {what} (the unperturbed point of "
            f"the finite differences, in a fresh process), it gives a different result ({detail}): it is not "
            "deterministic, or it behaves differently when it is watched"
        ),
        method=method,
        worst=[(m.index, m.actual, m.expected) for m in comparison.worst] if comparison is not None else [],
        hints=[
            f"a new {driver.class_name} got the same parameters, written into the arrays it gives for them: does "
            f"{method} compute with those arrays, or with values of its own (drawn anew for each object)?"
        ] if has_parameters else [],
        culprit=f"{method} (the forward)",
        case=case.label,
        snippet=snippet,
    )
    raise NotReproduced(diagnosis)
