"""Reproducers on disk: a failed public check as a script the student runs.

`python -m harness check PATH` writes, for each failing case of each failed
public check, `PATH/.harness/failures/<name>.py` and `<name>.npz` beside it
(the case's inputs, parameters, upstream gradient and expected values). The
script puts PATH on sys.path, imports the student's class, makes the call the
check made, and ends in an assertion with the check's tolerance
(`np.testing.assert_allclose`): it fails while the bug is there and passes
once it is fixed, with nothing but NumPy. `grade` writes none (it runs on
the autograder), and hidden checks never get one (their inputs and expected
values must not reach the student).

A check builds a `Reproducer` (the script's body and its arrays) and attaches
it to its `CheckFailure` (`attach`, or `replaying` around a block of code);
the plugin writes the files (`write`) and puts the command to run in the
diagnosis (`Diagnosis.reproducer`) in place of the inline snippet. The files
of an earlier run are removed at the start of each `check` (`clear`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import pathlib
import re
import textwrap
import zlib

import numpy as np

from .checks import CheckFailure
from .scenarios import IMPORT_NAME as SCENARIOS_IN_SANDBOX

FOLDER = pathlib.PurePosixPath(".harness", "failures")  # inside the student's folder
NAME_CHARS = 80  # a file name's stem at most (then a checksum keeps it unique)


@dataclasses.dataclass
class Reproducer:
    """One failing case as a script.

    `imports`: import lines of the student's classes ("from beras.layers import Dense");
    `body`: the lines after `data = np.load(...)`, which read the arrays as `data["name"]`;
    `arrays`: name -> ndarray, saved as the .npz beside the script; `case`: the case's label.
    """

    imports: list
    body: list
    arrays: dict
    case: str = ""

    def source(self, check_name, command):
        """The whole script, for the check named `check_name`, run as `command`."""
        header = [
            '"""Reproduces a failed check of `python -m harness check`.',
            "",
            *_wrapped("check: ", check_name),
            *(_wrapped("case:  ", self.case) if self.case else []),
            "",
            f"Run it from your folder: {command}",
            "It fails while the bug is there and passes once it is fixed. Its arrays (inputs,",
            "parameters, upstream gradient, expected values) are in the .npz file of the same name.",
            '"""',
            "import pathlib",
            "import sys",
            "",
            "import numpy as np",
            "",
            "HERE = pathlib.Path(__file__).resolve()",
            "sys.path.insert(0, str(HERE.parents[2]))  # your folder, which holds beras/ and bgd/",
            "",
            *[f"{line}  # noqa: E402" for line in self.imports],
            "",
            'data = np.load(HERE.with_suffix(".npz"))',
        ]
        return "\n".join(header + list(self.body) + ["print(\"passed: this case is right now\")", ""])


def attach(failure, reproducer):
    """Give `failure` (a CheckFailure) its reproducer, unless it has one; returns it."""
    if reproducer is not None and getattr(failure, "reproducers", None) is None:
        failure.reproducers = [reproducer]
    return failure


@contextlib.contextmanager
def replaying(build):
    """A CheckFailure raised inside gets `build(failure)` as its reproducer (when it
    has none; None: no reproducer). `build` is called at failure time, so it may
    use what the block computed so far."""
    try:
        yield
    except CheckFailure as failure:
        if getattr(failure, "reproducers", None) is None:
            try:
                attach(failure, build(failure))
            except Exception:  # noqa: BLE001 - explaining must never break the report
                pass
        raise


def reproducers_of(exception):
    """The reproducers a failure carries ([] when none)."""
    return list(getattr(exception, "reproducers", None) or [])


# ---------------------------------------------------------------- files


def file_stem(check_name, number=1):
    """A safe file name (no extension) for the `number`th failing case of a check:
    letters, digits, `_`, `-` and `.` only, at most NAME_CHARS (plus a checksum)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", check_name.replace(": ", "-")).strip("._-") or "check"
    if len(stem) > NAME_CHARS:
        stem = f"{stem[:NAME_CHARS].rstrip('._-')}-{zlib.crc32(check_name.encode()):08x}"
    return stem if number == 1 else f"{stem}-case{number}"


def clear(folder):
    """Remove the reproducers an earlier `check` left in `folder`/.harness/failures/."""
    where = pathlib.Path(folder) / FOLDER
    if not where.is_dir() or where.is_symlink():
        return
    for entry in where.iterdir():
        if entry.suffix in (".py", ".npz") and entry.is_file() and not entry.is_symlink():
            entry.unlink()


def write(folder, check_name, reproducers):
    """Write each reproducer of a failed check into `folder`/.harness/failures/;
    returns the command that runs each (`python .harness/failures/<name>.py`),
    or "" for one that could not be written."""
    where = pathlib.Path(folder) / FOLDER
    commands = []
    for number, reproducer in enumerate(reproducers, start=1):
        if reproducer is None:  # a failing case that has none (a check of its own kind of failure)
            commands.append("")
            continue
        stem = file_stem(check_name, number)
        command = f"python {FOLDER / stem}.py"
        try:
            where.mkdir(parents=True, exist_ok=True)
            if where.is_symlink():
                raise OSError("the failures folder is a symlink")
            with open(where / f"{stem}.npz", "wb") as stream:
                np.savez(stream, **{name: np.asarray(value) for name, value in reproducer.arrays.items()})
            (where / f"{stem}.py").write_text(reproducer.source(check_name, command), encoding="utf-8")
        except (OSError, ValueError, TypeError):
            command = ""
        commands.append(command)
    return commands


def _wrapped(label, text, width=110):
    """`label` and `text` on lines of at most `width` characters (a scenario's case is long)."""
    return textwrap.wrap(_one_line(text), width, initial_indent=label, subsequent_indent=" " * len(label),
                         break_long_words=False, break_on_hyphens=False)


def _one_line(text):
    return " ".join(str(text).split()).replace('"""', "'''")


# ---------------------------------------------------------------- what scripts assert


def tolerance(expected, dtype, rtol=None, floor=0.0):
    """(rtol, atol) for `np.testing.assert_allclose` that accept exactly what
    `numerics.compare(actual, expected, dtype, rtol=rtol, floor=floor)` does:
    |a - e| <= rtol*|e| + atol*max|e| + floor."""
    from . import numerics

    e = np.asarray(expected, dtype=np.float64)
    _, scaled = numerics._tolerance(e, dtype if dtype is not None else np.float64, rtol)
    tier = numerics.precision(dtype if dtype is not None else np.float64)
    return (numerics.RTOL[tier] if rtol is None else rtol), float(scaled) + float(floor)


def assert_close_lines(got, rtol, atol, message, expected="data['expected']"):
    """Lines that assert `got` (an expression) equals `expected` (an expression,
    by default the .npz's `expected`) in shape and within (rtol, atol)."""
    return [
        f"got = np.asarray({got}, dtype=np.float64)",
        f"expected = {expected}",
        f'assert got.shape == expected.shape, f"{_braced(message)}: shape {{got.shape}}, expected {{expected.shape}}"',
        f"np.testing.assert_allclose(got, expected, rtol={rtol!r}, atol={atol},",
        f"                           err_msg={_one_line(message)!r})",
    ]


def _braced(text):
    """`text` inside an f-string: braces doubled, quotes made safe."""
    return _one_line(text).replace("{", "{{").replace("}", "}}").replace('"', "'").replace("\\", "/")


# Central differences in a script (the fd witness): the step and tolerance by the
# precision the student computes in. A step this size is far above rounding noise
# and far below the curvature of every function checked (sampled away from kinks).
FD_STEP = {np.float32: 1e-2, np.float64: 1e-6}
FD_RTOL = {np.float32: 2e-2, np.float64: 1e-4}
FD_ATOL = {np.float32: 2e-2, np.float64: 1e-5}  # times the largest |expected| (at least 1)

NUMERICAL_GRADIENT = '''

def numerical_gradient(forward_at, point, upstream, step):
    """The gradient of sum(upstream * forward_at(point)) by central differences,
    entry by entry: what your backward must return for this forward."""
    gradient = np.zeros(np.shape(point))
    steps = np.broadcast_to(step, np.shape(point))
    for index in np.ndindex(*np.shape(point)):
        shifted = np.array(point, dtype=np.float64)
        shifted[index] += steps[index]
        plus = forward_at(shifted)
        shifted[index] -= 2 * steps[index]
        minus = forward_at(shifted)
        weights = np.reshape(upstream, np.shape(plus))
        gradient[index] = np.sum(weights * (np.asarray(plus, dtype=np.float64) - minus)) / (2 * steps[index])
    return gradient
'''


# ---------------------------------------------------------------- scenario checks
#
# A check that plays a scenario of harness/scenarios/ on both engines
# (harness/play.py) and fails gets, when it brings no reproducer of its own, one
# that calls the same scenario function with the same arguments on the
# student's code and compares what it returns with the reference's result
# saved at check time. The plugin builds it (`scenario_reproducer`) from the
# last scenario the check played (`play.last_played`), for public checks only.
# The arguments and the reference's result are plain data: their JSON form
# (arrays named, in the .npz beside) is saved in the .npz too, so that the
# script's lines stay short. `decode` and `first_difference` are copied into
# the script as they are here (inspect.getsource), so that the script judges
# exactly as the check did when it decided to write it.


def decode(value, data):
    """Plain data from the JSON form the check saved it in: {"array": name} is the
    array data[name], {"scalar": name} the NumPy scalar in it, {"tuple": [...]}
    a tuple, {"dict": [[key, value], ...]} a dict; lists, str, numbers, bool
    and None are themselves. `data`: the .npz (name -> ndarray)."""
    if isinstance(value, list):
        return [decode(item, data) for item in value]
    if isinstance(value, dict):
        if "array" in value:
            return np.array(data[value["array"]])
        if "scalar" in value:
            return data[value["scalar"]][()]
        if "tuple" in value:
            return tuple(decode(item, data) for item in value["tuple"])
        return {decode(key, data): decode(item, data) for key, item in value["dict"]}
    return value


def first_difference(got, want, rtol, atol, tiny, where="the result"):
    """The first place plain data `got` (the student's) differs from `want`
    (the reference's), as a sentence, or None when they agree.

    Arrays and numbers agree when their shapes do and every
    |got - want| <= rtol*|want| + atol*max(largest finite |want|, tiny),
    NaN and inf matching exactly; None, bool and str must be equal and of the
    same type; lists, tuples and dicts (want's keys) entry by entry."""
    shown = f"{got!r:.60}" if not isinstance(got, np.ndarray) else f"an array of shape {got.shape}"
    if want is None or isinstance(want, (bool, str)):
        if type(got) is type(want) and got == want:
            return None
        return f"{where} is {shown}, the reference's is {want!r}"
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return f"{where} is {shown}, the reference's is a dict"
        for key, item in want.items():
            problem = first_difference(got.get(key), item, rtol, atol, tiny, f"{where}[{key!r}]")
            if problem:
                return problem
        return None
    if isinstance(want, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(want):
            return f"{where} is {shown}, the reference's has {len(want)} items"
        for index, (mine, theirs) in enumerate(zip(got, want)):
            problem = first_difference(mine, theirs, rtol, atol, tiny, f"{where}[{index}]")
            if problem:
                return problem
        return None
    if got is None or isinstance(got, (bool, str, dict, list, tuple)):
        return f"{where} is {shown}, the reference's is a number or an array"
    try:
        mine = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"{where} is {shown}, not numeric"
    theirs = np.asarray(want, dtype=np.float64)
    if mine.shape != theirs.shape:
        return f"{where} has shape {mine.shape}, the reference's {theirs.shape}"
    scale = max(float(np.abs(theirs[np.isfinite(theirs)]).max(initial=0.0)), tiny)
    allowed = rtol * np.abs(np.nan_to_num(theirs, posinf=0, neginf=0)) + atol * scale
    with np.errstate(invalid="ignore"):
        same_special = (np.isnan(mine) & np.isnan(theirs)) | (np.isinf(mine) & (mine == theirs))
        both_finite = np.isfinite(mine) & np.isfinite(theirs)
        error = np.where(both_finite, np.abs(mine - theirs), np.where(same_special, 0.0, np.inf))
    wrong = np.argwhere(error > allowed)
    if len(wrong) == 0:
        return None
    index = tuple(int(i) for i in wrong[0])
    return (f"{where}{list(index) if index else ''} is {float(mine[index])!r}, the reference's {float(theirs[index])!r} "
            f"({len(wrong)} of {theirs.size} entries differ beyond rtol={rtol}, atol={atol}*{scale:.3g})")


def encode(value, arrays, prefix):
    """`value` (plain data) in a JSON-able form that `decode` reads back: each
    array is put in `arrays` under a new name `<prefix><n>`. TypeError for
    anything that is not plain data."""
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        name = f"{prefix}{len(arrays)}"
        arrays[name] = np.asarray(value)
        if arrays[name].dtype.kind not in "biufcU":
            raise TypeError(f"an array of {arrays[name].dtype} is not plain data")
        return {"array" if isinstance(value, np.ndarray) else "scalar": name}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [encode(item, arrays, prefix) for item in value]
    if isinstance(value, tuple):
        return {"tuple": [encode(item, arrays, prefix) for item in value]}
    if isinstance(value, dict):
        return {"dict": [[encode(key, arrays, prefix), encode(item, arrays, prefix)] for key, item in value.items()]}
    raise TypeError(f"a {type(value).__name__} is not plain data")


def scenario_tolerance(got):
    """(rtol, atol, tiny) for `first_difference`: the tolerances of `numerics.compare`
    for the precision the student computes in, judged from the arrays in `got`."""
    from . import numerics

    leaves = []

    def collect(value):
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, (list, tuple)):
            for item in value:
                collect(item)
        elif isinstance(value, (np.ndarray, np.generic, float)) and not isinstance(value, bool):
            leaves.append(np.asarray(value))

    collect(got)
    tier = numerics.precision(*leaves) if leaves else np.float64
    return numerics.RTOL[tier], numerics.ATOL[tier], float(np.finfo(tier).eps)


def scenario_reproducer(played, case=""):
    """The reproducer of a scenario played on both engines (`play.Played`:
    function "module.name" of harness/scenarios/, args, kwargs, the student's
    value `got`, the reference's `want`), or None when the two agree by
    `first_difference` (the check failed on something else: a script that
    passes would mislead) or the arguments are not plain data."""
    if played is None:
        return None
    rtol, atol, tiny = scenario_tolerance(played.got)
    if first_difference(played.got, played.want, rtol, atol, tiny) is None:
        return None
    arrays = {}
    try:
        call = json.dumps(encode([list(played.args), dict(played.kwargs)], arrays, "argument"))
        want = json.dumps(encode(played.want, arrays, "reference"))
    except (TypeError, ValueError):
        return None
    arrays["call"], arrays["reference_result"] = np.array(call), np.array(want)
    imports, name = _scenario_imports(played.function)
    body = [
        "",
        "",
        inspect.getsource(decode),
        "",
        inspect.getsource(first_difference),
        "",
        "# The arguments the check passed, and what the reference's code returned for them.",
        'args, kwargs = decode(json.loads(str(data["call"])), data)',
        'reference_result = decode(json.loads(str(data["reference_result"])), data)',
        f"got = {name}(*args, **kwargs)",
        f"problem = first_difference(got, reference_result, rtol={rtol!r}, atol={atol!r}, tiny={tiny!r})",
        "assert problem is None, problem",
    ]
    return Reproducer(imports=imports, body=body, arrays=arrays, case=case)


def _scenario_imports(function):
    """(the import lines of the scenario function "module.name", its name)."""
    module, _, name = function.rpartition(".")
    return [
        "import json",
        "import harness.scenarios",
        # Inside the sandbox this package is imported as gradecheck_scenarios: the same modules here.
        f'sys.modules.setdefault("{SCENARIOS_IN_SANDBOX}", harness.scenarios)',
        f"import harness.scenarios.{module}",
        f'sys.modules.setdefault("{SCENARIOS_IN_SANDBOX}.{module}", harness.scenarios.{module})',
        f"from harness.scenarios.{module} import {name}",
    ], name


# ---------------------------------------------------------------- student-only scenario checks
#
# A check that plays a scenario on the student's engine alone judges a property
# of its value: a pure function of a `*_properties` module of harness/scenarios/
# (`play.judge`). Its reproducer replays the scenario on the student's code and
# calls the same function, whose module is copied into the script as it is here
# (inspect.getsource: the script judges exactly as the check did, whatever
# version of the harness the student has installed), then asserts that it
# finds no problem.


def property_reproducer(judged, case=""):
    """The reproducer of a scenario judged by a property (`play.Judged`), or
    None when the property found no problem (the check failed on something
    else) or the arguments are not plain data. A scenario in which the
    student's code raised (`problems` None) is replayed: the script raises
    the same while the bug is there, and judges the scenario once it runs."""
    if judged is None or judged.problems == []:
        return None
    import importlib

    module_name, _, prop = judged.prop.rpartition(".")
    module = importlib.import_module(f"{__package__}.scenarios.{module_name}")
    arrays = {}
    try:
        call = json.dumps(encode([list(judged.args), dict(judged.kwargs)], arrays, "argument"))
        extra = json.dumps(encode(list(judged.extra), arrays, "extra"))
    except (TypeError, ValueError):
        return None
    arrays["call"], arrays["extra"] = np.array(call), np.array(extra)
    imports, _ = _scenario_imports(judged.function)
    scenario = f"harness.scenarios.{judged.function}"  # named in full: the property may bear its name
    body = [
        "",
        "",
        inspect.getsource(decode),
        "",
        f"# The property the check judged, as harness/scenarios/{module_name}.py has it.",
        inspect.getsource(module),
        "",
        "# The arguments the check passed to the scenario and to the property.",
        'args, kwargs = decode(json.loads(str(data["call"])), data)',
        'extra = decode(json.loads(str(data["extra"])), data)',
        f"got = {scenario}(*args, **kwargs)",
        f"problems = {prop}(got, *extra)",
        'assert not problems, "\\n".join(problem["summary"] for problem in problems)',
    ]
    return Reproducer(imports=imports, body=body, arrays=arrays, case=case)
