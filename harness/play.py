"""Playing a scenario: a function of `harness/scenarios/` run inside a sandbox.

A check builds its scenario as a plain Python function in `harness/scenarios/`
(the code a student would write to try their class: build it, call it, read
what it did), and plays it on both engines:

    got, want = play_both(student, reference, "beras_scenarios.tape_chain", weights, x, y,
                          case="Dense -> Softmax -> loss", method="GradientTape.gradient")

The function runs in the worker, where the package is importable as
`gradecheck_scenarios`; it returns plain data (arrays, numbers, str, bool,
None, and lists, tuples or dicts of them), which arrives here as untrusted
data: a check validates types and shapes before it compares anything.

If the student's code raises, the check fails naming the student's function
where the exception arose (the innermost frame of the submission), with the
student's traceback and a snippet that replays the scenario; if the
reference's does, the check itself is broken (`ReferenceBroken`).

A check that plays a scenario on the student's engine alone judges a
property of what it returned: a pure function over plain data in a
`*_properties` module of `harness/scenarios/`, which returns the problems it
finds (`judge`). The same function, copied into the reproducer script, judges
the scenario replayed on the student's code (harness/reproducers.py):

    got = play_judged(student, "bgd_scenarios.dropout_untouched", 0.5, X, E, seed,
                      prop="bgd_properties.dropout_untouched", extra=(X, E, 0.5), case=case, method=method)

(`play`, then `judge`; when the student's code raises in the scenario, the
reproducer replays it, and once it runs, judges it.)
"""

import dataclasses
import importlib

import numpy as np

from .checks import CheckFailure, fail
from .gradcheck import side_by_side
from .ops import array_source, composition_method, error_details, printed_by, python_literal
from .scenarios import IMPORT_NAME as IN_SANDBOX  # harness/scenarios, as the worker imports it

SNIPPET_ARRAY_LIMIT = 2000  # entries of an array written out in a scenario's snippet (as array_source)


@dataclasses.dataclass
class Played:
    """A scenario played on both engines: `function` ("module.name" in
    harness/scenarios/), the `args` and `kwargs` it was called with, and what
    it returned on the student's engine (`got`, untrusted) and the reference's (`want`)."""

    function: str
    args: tuple
    kwargs: dict
    got: object
    want: object


@dataclasses.dataclass
class Judged:
    """A scenario played on the student's engine (`function`, `args`, `kwargs`),
    then judged by `prop` ("module.name" of a `*_properties` module of
    harness/scenarios/) called as `prop(the scenario's value, *extra)`,
    which found `problems` (a list of dicts: "summary", and optionally
    "method", "mistake", "hints", "blame", "worst"); None while the scenario
    has not returned (the student's code raised in it)."""

    function: str
    args: tuple
    kwargs: dict
    prop: str
    extra: tuple
    problems: list


_played = None  # the running check's last scenario played on both engines (see last_played)
_on_student = None  # the running check's last scenario played on the student's engine: (function, args, kwargs)
_judged = None  # the running check's last judgement of it (see last_judged)


def last_played():
    """The last scenario the running check played on both engines (a `Played`), or None:
    a failed public check that has no reproducer of its own replays it (harness/reproducers.py)."""
    return _played


def last_judged():
    """The last scenario the running check judged by a property (a `Judged`), or None:
    a failed public check whose judgement found problems replays it (harness/reproducers.py)."""
    return _judged


def forget_played():
    """Called by the plugin before each check, so no check replays another's scenario."""
    global _played, _on_student, _judged
    _played = _on_student = _judged = None


def property_function(prop):
    """The function "module.name" of harness/scenarios/ (a `*_properties` module:
    pure, NumPy only, safe to import in the judge)."""
    module, _, name = prop.rpartition(".")
    if not module.endswith("_properties"):
        raise ValueError(f"{prop}: a property lives in a *_properties module of harness/scenarios")
    return getattr(importlib.import_module(f"harness.scenarios.{module}"), name)


def judge(prop, got, *extra, case="", method=""):
    """Fail with the first problem that the property `prop` ("module.name" of a
    `*_properties` module) finds in `got`, the value of the last scenario played
    on the student's engine: `prop(got, *extra)` returns the problems as dicts
    ("summary", and optionally "method", "mistake", "hints", "blame"), [] when
    it holds. `got` is untrusted: a property that cannot read it (it raises)
    fails the check as a scenario that returned something unexpected."""
    global _judged
    try:
        problems = list(property_function(prop)(got, *extra))
    except Exception as error:  # noqa: BLE001 - untrusted data the property could not read
        _judged = None
        fail(f"the scenario returned something unexpected ({type(error).__name__}: {error})", method=method, case=case)
    if _on_student is not None:
        _judged = Judged(*_on_student, prop, extra, problems)
    if problems:
        first = problems[0]
        fail(first["summary"], method=first.get("method") or method, case=case, hints=list(first.get("hints", ())),
             **{key: first[key] for key in ("mistake", "blame", "worst") if first.get(key)})


class ReferenceBroken(RuntimeError):
    """The reference engine failed on a scenario: a bug of the check, not of the submission."""


def run(engine, function, *args, calls=1, **kwargs):
    """The sandbox `Result` of `function(*args, **kwargs)` ("module.name" in harness/scenarios).

    `calls`: about how many calls into student code the scenario makes (a
    training run makes many); its time limit is that many times the per-call
    limit (harness/timing.py). A scenario that timed out is not played again
    in the run.
    """
    with engine.batch() as batch:
        pending = batch.call(f"{IN_SANDBOX}.{function}", *args, **kwargs).calls(max(1, int(calls)))
    return pending.result


def method_of(error, default=""):
    """"Dense.call" from an error that arose in beras.layers:Dense.call, or the
    method whose result the given composition could not use
    (`ops.composition_method`), else `default`."""
    where = getattr(error, "where", "")
    return composition_method(error) or where.partition(":")[2] or default


def play(engine, function, *args, student=True, case="", method="", calls=1, **kwargs):
    """The value `function` returned on `engine`; a CheckFailure (student) or
    ReferenceBroken (reference) when it raised."""
    global _on_student
    result = run(engine, function, *args, calls=calls, **kwargs)
    if student:
        _on_student = (function, args, kwargs)
    if result.ok:
        return result.value
    error = result.error
    if not student:
        raise ReferenceBroken(f"the reference failed in scenario {function}: {error} ({case})")
    raised_in = method_of(error, method)
    if composition_method(error):  # the given composition names the method whose result it could not use
        summary = error.message
    elif error.kind == "exception":
        summary = f"{raised_in or 'your code'} raised {error.type}: {error.message}"
    elif error.kind == "timeout":
        # The message names the student function that was running when time ran out.
        summary = f"{method or function}: {error.message}"
    else:
        summary = f"{raised_in or function}: {error.message} ({error.kind})"
    fail(summary, method=raised_in or method, case=case, snippet=snippet(function, args, kwargs),
         printed=printed_by([result]), **error_details(raised_in or method, error))


def play_judged(student, function, *args, prop, extra=(), case="", method="", calls=1, **kwargs):
    """`play` the scenario on the student's engine, then `judge` its value by
    `prop` (called as `prop(value, *extra)`); returns the value. When the
    student's code raises in the scenario, the check's reproducer replays it
    and, once it runs, judges it by the same property."""
    global _judged
    _judged = Judged(function, args, kwargs, prop, tuple(extra), None)
    got = play(student, function, *args, case=case, method=method, calls=calls, **kwargs)
    judge(prop, got, *extra, case=case, method=method)
    return got


def play_both(student, reference, function, *args, **kwargs):
    """`play` on both engines at once: (the student's value, the reference's)."""

    global _played
    scenario_kwargs = {key: value for key, value in kwargs.items() if key not in ("case", "method", "calls")}
    reference_value = {}

    def on(engine):
        value = play(engine, function, *args, student=engine is student, **kwargs)
        if engine is reference:
            reference_value["want"] = value
        return value

    try:
        got, want = side_by_side(on, student, reference)
    except CheckFailure:
        # The student's code raised in the scenario (side_by_side waited for the
        # reference): a reproducer replays it, and once it runs, compares.
        if "want" in reference_value:
            _played = Played(function, args, scenario_kwargs, None, reference_value["want"])
        raise
    _played = Played(function, args, scenario_kwargs, got, want)
    return got, want


def snippet(function, args, kwargs=None):
    """Python that replays the scenario on the student's own code (with the harness installed)."""
    module, _, name = function.rpartition(".")
    lines = ["import numpy as np", f"from harness.scenarios.{module} import {name}", ""]
    names = []
    for i, value in enumerate(args):
        if isinstance(value, np.ndarray):
            lines.append(array_source(f"arg{i}", value))
            names.append(f"arg{i}")
        else:
            names.append(python_literal(value, limit=SNIPPET_ARRAY_LIMIT))
    names += [f"{k}={python_literal(v, limit=SNIPPET_ARRAY_LIMIT)}" for k, v in (kwargs or {}).items()]
    lines.append(f"print({name}({', '.join(names)}))")
    return "\n".join(lines)
