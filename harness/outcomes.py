"""What every report makes of the outcomes of a grading run, in one place.

- `explained`: a diagnosis as the student should read it: the sandbox's
  private paths made submission-relative, and a missing third-party module
  explained (the grader offers NumPy and the standard library only). The
  plugin's `Collector` applies it to every diagnosis, once, where outcomes
  are built.
- `TEACHING_ORDER`, `by_class`: classes in the order the student README
  teaches them (`student_template/README.md`, "In which order").
- `import_failures`: a package (or module) that could not be imported fails
  every check that uses it with the same traceback; reports show it once.
- `student_text`, `visible_summary`: what a student may see of a check and of
  the run (SPEC 5: of a hidden check, its name and result only; no
  student-visible text reveals the hidden score or how many hidden checks failed).
"""

import dataclasses
import os
import pathlib
import re
import sys

from .checks import HIDDEN, INTEGRATION
from .submission import ASSIGNMENTS
from .text import printable, without_sandbox_paths

# The classes as `student_template/README.md` teaches them ("In which order"),
# one list for every report; tests/test_check_output.py holds it to the README.
# A class not listed comes after the listed classes of its own module, a
# module not listed after its package's listed ones: the given code
# (beras.core, bgd's Layer) comes last, as it passes for anyone who left it alone.
TEACHING_ORDER = (
    "beras.layers.Dense",
    "beras.activations.LeakyReLU",
    "beras.activations.ReLU",  # not in the README: a LeakyReLU with alpha 0, done with it
    "beras.activations.Sigmoid",
    "beras.activations.Tanh",
    "beras.activations.Softmax",
    "beras.losses.MeanSquaredError",
    "beras.losses.CategoricalCrossentropy",
    "beras.metrics.CategoricalAccuracy",
    "beras.onehot.OneHotEncoder",
    "beras.gradient_tape.GradientTape",
    "beras.optimizers.BasicOptimizer",
    "beras.optimizers.RMSProp",
    "beras.optimizers.Adam",
    "beras.model.SequentialModel",
    "bgd.layers.fc.FullyConnected",
    "bgd.layers.activation.Activation",
    "bgd.layers.flatten.Flatten",
    "bgd.cost.MSE",
    "bgd.cost.CrossEntropy",
    "bgd.layers.conv2d.Convolutional2D",
    "bgd.layers.max_pooling2d.MaxPooling2D",
    "bgd.layers.dropout.Dropout",
    "bgd.optimizers.Optimizer",
    "bgd.optimizers.MomentumOptimizer",
    "bgd.optimizers.AdamOptimizer",
    "bgd.nn.NeuralStack",
)

HIDDEN_OUTPUT = "Hidden check: only its name and result are shown."

# What the sandbox can import besides the submission (harness/sandbox: the
# worker's site folder holds NumPy alone).
OFFERED = ("numpy",)


# ------------------------------------------------------------ explaining


def own_modules(submission):
    """The top-level names the submission itself provides: its packages and
    the modules and folders beside them (None: nothing known but the packages)."""
    names = set(ASSIGNMENTS)
    if submission is not None:
        try:
            for entry in os.scandir(submission):
                names.add(entry.name.removesuffix(".py") if entry.is_file() else entry.name)
        except OSError:
            pass
    return frozenset(names)


_MISSING_MODULE = re.compile(r"No module named '([^']+)'")


def missing_module_hint(text, own):
    """A hint when `text` says a third-party module is missing (not the
    student's own, not NumPy, not the standard library), else ""."""
    for match in _MISSING_MODULE.finditer(text):
        top = match[1].split(".")[0]
        if top in own or top in OFFERED or top in sys.stdlib_module_names:
            continue  # the student's own module (a file not submitted?) or a broken install: not this
        return (
            f"{top!r} is not installed where your code is graded: the grader offers only NumPy and the Python "
            f"standard library. Remove `import {top}` (and what uses it) from the files you submit."
        )
    return ""


def explained(diagnosis, own=frozenset(ASSIGNMENTS)):
    """A copy of a diagnosis (the dict of a `checks.Diagnosis`) as the student
    should read it: every text submission-relative, the student's prints made
    printable, and a missing third-party module explained among the hints."""
    diagnosis = {
        key: without_sandbox_paths(value) if isinstance(value, str) else value for key, value in diagnosis.items()
    }
    diagnosis["hints"] = [without_sandbox_paths(hint) if isinstance(hint, str) else hint
                          for hint in diagnosis.get("hints") or []]
    if diagnosis.get("printed"):
        diagnosis["printed"] = printable(diagnosis["printed"])
    hint = missing_module_hint(f"{diagnosis.get('summary', '')}\n{diagnosis.get('traceback', '')}", own)
    if hint and hint not in diagnosis["hints"]:
        diagnosis["hints"].append(hint)
    return diagnosis


def trimmed_print(text, dropped=0, lines=10):
    """What the student's code printed during a check, for its diagnosis: the
    first `lines` lines (each at most 300 characters), and what was left out."""
    kept = text.splitlines()
    shown = [line if len(line) <= 300 else line[:300] + " …" for line in kept[:lines]]
    left = len(kept) - len(shown)
    if left or dropped:
        more = [f"{left} more lines" if left else "", f"{dropped} more characters" if dropped else ""]
        shown.append(f"[… {' and '.join(m for m in more if m)} not shown]")
    return "\n".join(shown)


# ------------------------------------------------------------ order


def _rank(target):
    """Sort key of a class: its package, then the README's order (see TEACHING_ORDER)."""
    package, module = target.split(".")[0], target.rpartition(".")[0]
    listed = [t for t in TEACHING_ORDER if t.startswith(package + ".")]
    if target in listed:
        return (ASSIGNMENTS.index(package) if package in ASSIGNMENTS else len(ASSIGNMENTS), listed.index(target), 0)
    same_module = [i for i, t in enumerate(listed) if t.rpartition(".")[0] == module]
    position = same_module[-1] if same_module else len(listed)
    return (ASSIGNMENTS.index(package) if package in ASSIGNMENTS else len(ASSIGNMENTS), position, 1)


def _within_class(outcome):
    title = outcome.name.partition(": ")[2]
    return (INTEGRATION in outcome.tags, not title.startswith("forward "))


def by_class(outcomes):
    """[(target, [its outcomes])]: every class checked, in teaching order.

    A class's checks come in catalog order, except that its forward checks
    come first (a wrong forward fails most other checks too: its failure is
    the one to read first) and those tagged INTEGRATION (the class among
    others) last."""
    groups = {}
    for outcome in outcomes:
        groups.setdefault(outcome.target, []).append(outcome)
    for group in groups.values():
        group.sort(key=_within_class)  # stable: catalog order otherwise
    first_seen = {target: index for index, target in enumerate(groups)}
    order = sorted(groups, key=lambda target: (_rank(target), first_seen[target]))
    return [(target, groups[target]) for target in order]


# ------------------------------------------------------------ import failures


@dataclasses.dataclass
class ImportFailure:
    """A module of the submission whose import raised, as its first check saw it."""

    module: str  # "beras", "beras.model"
    summary: str  # the exception, one line
    traceback: str  # the student's frames and the exception
    hints: list
    checks: int = 0  # how many visible checks could not run for it

    @property
    def not_run(self):
        """What each check that needed the module says instead of the traceback."""
        return f"not run: {self.module} could not be imported, see above"

    def as_text(self):
        what = f"the {self.checks} checks" if self.checks != 1 else "the check"
        lines = [f"{self.module} could not be imported, so {what} that need it were not run:"]
        lines += ["  " + line for line in (self.traceback.rstrip() or self.summary).splitlines()]
        lines += [f"  hint: {hint}" for hint in self.hints]
        return "\n".join(lines)


_FRAME = re.compile(r'^\s*File "([^"]+)", line \d+, in (.+)$', re.M)
_SYNTAX_AT = re.compile(r'^\s*File "([^"]+\.py)", line \d+$', re.M)


def failed_import(details):
    """The submission's module whose import raised this check's error, or None.

    A traceback (submission frames only, harness/sandbox/worker.py) whose
    outermost frame is a module's body means importing that module raised:
    nothing else runs a module's body. A SyntaxError in the module imported
    first has no frame at all, only its file."""
    traceback = details.get("traceback") or ""
    frames = _FRAME.findall(traceback)
    if frames:
        path, function = frames[0]
    else:
        at = _SYNTAX_AT.search(traceback)
        path, function = (at[1], "<module>") if at else ("", "")
    if function != "<module>" or not path or pathlib.PurePosixPath(path).is_absolute() or path.startswith("<"):
        return None
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def import_failures(outcomes):
    """[ImportFailure], one per module that could not be imported, taken from
    the public checks (a hidden check's diagnosis is never shown); each
    outcome that failed for it gets `details["import_failure"]` and the one
    line `ImportFailure.not_run` as its output, hidden ones included."""
    found = {}
    for outcome in outcomes:
        module = None if outcome.passed or outcome.details.get("not_run") else failed_import(outcome.details)
        if module is None:
            continue
        if module not in found and outcome.visibility != HIDDEN:
            details = outcome.details
            found[module] = ImportFailure(module, details.get("summary", ""), details.get("traceback", ""),
                                          list(details.get("hints") or []))
    for outcome in outcomes:
        module = None if outcome.passed or outcome.details.get("not_run") else failed_import(outcome.details)
        if module in found:
            outcome.details = {**outcome.details, "import_failure": module}
            outcome.output = found[module].not_run
            found[module].checks += outcome.visibility != HIDDEN  # a count students read: visible checks only
    return list(found.values())


# ------------------------------------------------------------ what students see


def student_text(outcome):
    """The output of a check a student may read: a hidden check's says nothing
    of the check (SPEC 5: its name and result only)."""
    return HIDDEN_OUTPUT if outcome.visibility == HIDDEN else outcome.output


def visible(outcomes):
    return [o for o in outcomes if o.visibility != HIDDEN]


def visible_summary(outcomes):
    """"Visible checks: 136 of 138 passed, 197/199 points." over the public
    checks alone: the hidden score and the number of hidden failures stay out."""
    shown = visible(outcomes)
    passed = sum(o.passed for o in shown)
    score, max_score = sum(o.score for o in shown), sum(o.max_score for o in shown)
    line = f"Visible checks: {passed} of {len(shown)} passed, {score:g}/{max_score:g} points."
    if len(shown) != len(outcomes):
        line += " Hidden checks are graded too; their results are shown when grades are published."
    return line
