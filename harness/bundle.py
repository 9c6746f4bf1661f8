"""The student bundle (SPEC 1, instructor: `python -m harness bundle --out DIR`).

What students receive, and nothing of the solution:

    DIR/
      README.md            how to install the harness and check one's work
      pyproject.toml       `pip install DIR` installs the harness (numpy, pytest, ... from the registry)
      harness/             the harness (not its instructor tools); its catalog holds the public checks only, and
        expected_values/   the reference's answers to those checks' requests (harness/expected.py)
      reports/             report.html's templates
      student_template/    the code to complete
      dist/*.whl           the same harness as a wheel (pip install dist/gradecheck-*.whl)

Hidden checks are cut out of the catalog's source (`public_catalog`: an AST
walk that removes every `@check(..., visibility=HIDDEN)` function and the
top-level definitions only they use). The expected values are recorded by
running the bundle's own catalog, in a fresh process, on the reference and on
the template with the live reference engine wrapped in `expected.Recorder`;
the reference must pass every check (else the build stops). Public checks
draw from seeds fixed by their names, so the requests a student's `check`
sends are the recorded ones (measured: zero misses on every submission of
tests/variants/, benchmarks/bundle_offline.py).
"""

import ast
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap

from . import expected

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "reports")
# Instructor tools stay out: they build bundles and autograders from the reference.
# durations.json: what every check takes, hidden ones included (by name): only for sharing a run out.
INSTRUCTOR_ONLY = ("bundle.py", "gradescope.py", "template.py", "durations.json")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "expected_values", *INSTRUCTOR_ONLY)
HIDDEN_NAMES = {"HIDDEN"}  # what the catalog calls hidden visibility (harness.checks.HIDDEN)


class BundleError(Exception):
    """The bundle could not be built (the message says why)."""


# ------------------------------------------------------------------ the public catalog


def _is_hidden_check(node):
    """Whether a top-level statement is a check function marked visibility=HIDDEN."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", getattr(decorator.func, "attr", "")) == "check":
            for keyword in decorator.keywords:
                value = keyword.value
                if keyword.arg == "visibility" and (
                    (isinstance(value, ast.Name) and value.id in HIDDEN_NAMES)
                    or (isinstance(value, ast.Attribute) and value.attr in HIDDEN_NAMES)
                    or (isinstance(value, ast.Constant) and value.value == "hidden")
                ):
                    return True
    return False


def _defined(node):
    """Names a top-level statement binds (functions, classes, assignments)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _used(node):
    """Names a statement reads."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _span(node, lines):
    """(first, last) 0-based lines of a statement, with its decorators and the comment lines right above it."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
    while first > 0 and lines[first - 1].lstrip().startswith("#"):
        first -= 1
    return first, node.end_lineno - 1


def public_catalog(source, elsewhere=""):
    """The catalog module `source` without its hidden checks and what only they use.

    A top-level definition goes too when a removed statement reads it and no
    kept statement does (nor `elsewhere`: the text of the other catalog files,
    which may import it); the name HIDDEN leaves the imports once unused.
    Comments and layout of what stays are kept (lines are cut, not unparsed).
    """
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    body = tree.body
    removed = {i for i, node in enumerate(body) if _is_hidden_check(node)}
    if not removed:
        return source
    other_words = set(re.findall(r"\w+", elsewhere))
    changed = True
    while changed:
        changed = False
        wanted_by_removed = set().union(*(_used(body[i]) for i in removed))
        for i, node in enumerate(body):
            names = _defined(node)
            if i in removed or not names or not names <= wanted_by_removed or names & other_words:
                continue
            kept_reads = set().union(*(_used(body[j]) for j in range(len(body)) if j not in removed and j != i))
            if not names & kept_reads:
                removed.add(i)
                changed = True
    cut = set()
    for i in removed:
        first, last = _span(body[i], lines)
        cut.update(range(first, last + 1))
    kept_reads = set().union(*(_used(body[j]) for j in range(len(body)) if j not in removed))
    replacements = {}
    for node in body:
        if isinstance(node, ast.ImportFrom) and any(a.name in HIDDEN_NAMES for a in node.names):
            unused = {a.name for a in node.names if a.name in HIDDEN_NAMES and (a.asname or a.name) not in kept_reads}
            if unused:
                node.names = [a for a in node.names if a.name not in unused]
                replacements[node.lineno - 1] = ast.unparse(node) + "\n" if node.names else ""
                cut.update(range(node.lineno, node.end_lineno))
    out = []
    for number, line in enumerate(lines):
        if number in replacements:
            out.append(replacements[number])
        elif number not in cut:
            out.append(line)
    return re.sub(r"\n{4,}", "\n\n\n", "".join(out))


def write_public_catalog(catalog_dir):
    """Rewrite every check module of `catalog_dir` in place (see `public_catalog`)."""
    files = sorted(pathlib.Path(catalog_dir).glob("*.py"))
    texts = {path: path.read_text(encoding="utf-8") for path in files}
    for path, text in texts.items():
        elsewhere = "\n".join(t for p, t in texts.items() if p != path)
        path.write_text(public_catalog(text, elsewhere), encoding="utf-8")


# ------------------------------------------------------------------ recording


# Run in a fresh interpreter whose cwd is the bundle: the bundle's own harness
# (its public catalog) records, and no state of an earlier run in this process
# (threads, caches keyed by id) leaks into it.
_RECORD = textwrap.dedent("""\
    import json, pathlib, sys
    from harness.grading import run_checks
    submission, reference, parts = sys.argv[1:4]
    found = [p for p in ("beras", "bgd") if (pathlib.Path(submission) / p).is_dir()]
    outcomes, _ = run_checks(pathlib.Path(submission), found, 0, public_only=True, reference=reference,
                             record_expected=parts)
    print(json.dumps([[o.name, o.passed, o.visibility, o.output[:300]] for o in outcomes]))
""")


def record_expected(bundle_dir, reference_dir, students, destination):
    """Record the reference's answers to the public checks of the bundle's catalog,
    played on each of `students` (folders), into the recording `destination`.

    Returns {student folder: [[check name, passed, visibility, output]]}. Raises BundleError when
    a run fails or the reference, played as a student, does not pass every check."""
    runs = {}
    with tempfile.TemporaryDirectory(prefix="gradecheck-recording-") as parts:
        for student in students:
            done = subprocess.run(
                [sys.executable, "-B", "-c", _RECORD, str(student), str(reference_dir), parts],
                cwd=bundle_dir, capture_output=True, text=True,
            )
            if done.returncode != 0:
                raise BundleError(f"recording the expected values on {student} failed:\n{done.stderr[-3000:]}")
            outcomes = json.loads(done.stdout.strip().splitlines()[-1])
            if any(visibility != "public" for _, _, visibility, _ in outcomes):
                raise BundleError("the bundle's catalog still holds a hidden check")
            runs[str(student)] = outcomes
        failed = [f"{name}: {output}" for name, passed, _, output in runs.get(str(reference_dir), []) if not passed]
        if not runs.get(str(reference_dir)) or failed:
            raise BundleError("the reference does not pass the bundle's checks:\n" + "\n".join(failed[:5]))
        expected.merge_parts(sorted(pathlib.Path(parts).iterdir()), destination, {"seed": 0})
    return runs


# ------------------------------------------------------------------ the bundle


STUDENT_README = """\
# Checking your work offline

This folder holds what you need to start, and the checker:

- `student_template/`: the code to complete (read `student_template/README.md` first);
- `harness/`, `reports/`, `pyproject.toml`, `dist/`: the checker, `python -m harness check`.

## Install the checker (once)

With Python 3.10 or later (a virtual environment is a good idea):

```bash
python -m venv .venv && source .venv/bin/activate   # optional (Windows: .venv\\Scripts\\activate)
pip install .                                        # from this folder: the checker and NumPy, pytest, Jinja2
# or, the same thing already built:  pip install dist/gradecheck-*.whl
```

The checker runs your code in a separate, limited process on Linux (and macOS
where it can); on Windows, use WSL.

## Check your work

Copy `student_template/` somewhere of your own, write your code there, and from
that folder run:

```bash
python -m harness check                    # every public check
python -m harness check --assignment bgd   # one library only
python -m harness check -k Dense           # only the checks whose name contains "Dense"
python -m harness check --html report.html # the same report as a page
```

Exit status 0 means every public check passed. Each failure names the method at
fault, shows where the values differ and ends with lines of Python that
reproduce the case.

## What this checker knows

It runs the **public** checks only, and compares your results with the
correct values recorded for exactly the inputs these checks use (it does not
contain the solution). If a check ever says *"this check cannot be judged
offline; it is graded by the autograder"*, your code made the check ask for
something that was not recorded: that check is judged when you submit. The
autograder also runs hidden checks on fresh random inputs, so make your code
right, not your outputs.
"""

PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "gradecheck"
version = "{version}"
description = "The checker for the neural-network assignments (public checks, recorded expected values)"
readme = "README.md"
requires-python = ">=3.10"
dependencies = [
{dependencies}
]

[tool.setuptools.packages.find]
include = ["harness*", "reports*"]

[tool.setuptools.package-data]
reports = ["*.j2", "*.css"]
# the recorded expected values (harness/expected.py)
harness = ["expected_values/*"]
"""


def project_metadata(root=ROOT):
    """(version, [dependency specifiers]) of the project's pyproject.toml."""
    text = (pathlib.Path(root) / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
    block = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.M | re.S)
    if not version or not block:
        raise BundleError("pyproject.toml: no version or dependencies found")
    return version.group(1), re.findall(r'"([^"]+)"', block.group(1))


def build_bundle(out, root=ROOT, wheel=True, log=print):
    """Write the student bundle to `out` (a new or empty folder); returns its path."""
    out = pathlib.Path(out)
    root = pathlib.Path(root)
    reference, template = root / "reference", root / "student_template"
    if not reference.is_dir():
        raise BundleError(f"{reference}: no reference submission: the bundle's expected values are recorded from it")
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"{out}: not empty (give a new folder)")
    out.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        shutil.copytree(root / package, out / package, ignore=IGNORED)
    write_public_catalog(out / "harness" / "catalog")
    shutil.copytree(template, out / "student_template", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    version, dependencies = project_metadata(root)
    (out / "pyproject.toml").write_text(
        PYPROJECT.format(version=version, dependencies="\n".join(f'    "{d}",' for d in dependencies)), encoding="utf-8"
    )
    (out / "README.md").write_text(STUDENT_README, encoding="utf-8")
    log("recording the expected values of the public checks (the reference and the template, played as students)")
    runs = record_expected(out, reference, [reference, template], out / "harness" / expected.PACKAGED.name)
    log(f"  {len(runs[str(reference)])} public checks; "
        f"{len(expected.load(out / 'harness' / expected.PACKAGED.name)[0])} requests recorded")
    if wheel:
        build_wheel(out, out / "dist", log)
    return out


def build_wheel(project, dist, log=print):
    """Build `project`'s wheel into `dist`, from a copy (setuptools leaves build/ and *.egg-info behind)."""
    with tempfile.TemporaryDirectory(prefix="gradecheck-wheel-") as scratch:
        source = pathlib.Path(scratch) / "source"
        shutil.copytree(project, source, ignore=shutil.ignore_patterns("dist", "student_template", "__pycache__"))
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir",
             "-w", str(pathlib.Path(scratch) / "dist"), str(source)],
            capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise BundleError(f"building the wheel failed (pip wheel needs setuptools installed):\n{done.stderr[-2000:]}")
        dist.mkdir(parents=True, exist_ok=True)
        for built in (pathlib.Path(scratch) / "dist").glob("*.whl"):
            shutil.copy(built, dist / built.name)
            log(f"  wheel: {dist / built.name}")
