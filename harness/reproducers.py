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
import pathlib
import re
import zlib

import numpy as np

from .checks import CheckFailure

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
            f"check: {_one_line(check_name)}",
            *([f"case:  {_one_line(self.case)}"] if self.case else []),
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
