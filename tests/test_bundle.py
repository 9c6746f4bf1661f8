"""The student bundle (`python -m harness bundle`, harness/bundle.py, harness/expected.py).

It must hold no line of the solution and no hidden check, install with pip,
and let `check` judge work offline from recorded expected values: the
reference's code passes every public check there, the template fails.
"""

import ast
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile

import pytest

from harness import expected
from harness.bundle import build_bundle, public_catalog
from harness.clauses import catalog_checks
from harness.grading import run_checks

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference"
TEMPLATE = ROOT / "student_template"


# ------------------------------------------------------------------ what a leak is


def _code_lines(path):
    """(line number, code) of a Python file's lines that are code: not blank, not a
    comment, not inside a docstring; a trailing comment cut off."""
    source = path.read_text(encoding="utf-8")
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
    for number, line in enumerate(source.splitlines(), start=1):
        code = line.split("  #")[0].strip()
        if code and not code.startswith("#") and number not in docstrings:
            yield number, code


def solution_lines():
    """Every non-trivial line of the reference that the template does not have."""
    given = {code for path in TEMPLATE.rglob("*.py") for _, code in _code_lines(path)}
    found = {}
    for path in sorted(REFERENCE.rglob("*.py")):
        for number, code in _code_lines(path):
            trivial = code.startswith(("import ", "from ")) or code == "pass" or len(code) <= 20
            if not trivial and code not in given:
                found.setdefault(code, f"{path.relative_to(ROOT)}:{number}")
    return found


def texts_of(folder):
    """{name: text} of every file under `folder`, and of every member of a wheel or zip there."""
    texts = {}
    for path in sorted(pathlib.Path(folder).rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        texts[str(path)] = data.decode("utf-8", "replace")
        if path.suffix in (".whl", ".zip", ".npz"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for member in archive.namelist():
                    texts[f"{path}!{member}"] = archive.read(member).decode("utf-8", "replace")
    return texts


# Lines the harness's own code shares with the reference where it must, each allowed in its
# one file only. The probes (harness/scenarios/) run in the student's sandbox so that a check of
# one class uses none of the student's others: probe layers obeying the bgd Layer contract SPEC 3
# pins (`propagate`), a probe optimizer queueing fragments as SPEC 3 says (plain SGD, not Momentum
# or Adam) and a probe tape for chains of layers only (it neither sorts nor sums, unlike the
# GradientTape students write). A catalog hint quotes the cheat sheet's `with GradientTape() as tape:`.
SHARED_WITH_THE_HARNESS = {
    "J = None if upstream is None else [upstream]": "harness/scenarios/beras_probes.py",
    "return (signal if self.propagate else None), gradients": "harness/scenarios/bgd_probes.py",
    "if isinstance(fragments, np.ndarray):": "harness/scenarios/bgd_probes.py",
    "fragments = (fragments,)": "harness/scenarios/bgd_probes.py",
    "for layer, fragments in self.gradient_fragments:": "harness/scenarios/bgd_probes.py",
    "layer.update_parameters(tuple(deltas))": "harness/scenarios/bgd_scenarios.py",
    "with GradientTape() as tape:": "harness/catalog/test_beras_api.py",
}


def leaks(texts, lines, allowed=None):
    """[(reference line, where it is from, the file that has it)], but for the lines `allowed` in one file."""
    allowed = SHARED_WITH_THE_HARNESS if allowed is None else allowed
    return [(code, origin, name) for name, text in texts.items() for code, origin in lines.items()
            if code in text and not (code in allowed and name.endswith(allowed[code]))]


def hidden_checks():
    """The function names of the project catalog's hidden checks."""
    return [name for _, name, _, _, visibility, _ in catalog_checks() if visibility != "public"]


# ------------------------------------------------------------------ the bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return build_bundle(tmp_path_factory.mktemp("bundle") / "out", log=lambda *_: None)


def test_the_leak_scanner_sees_the_solution(tmp_path):
    # Not vacuous: there are solution lines, and a folder holding the reference shows them all.
    lines = solution_lines()
    assert len(lines) > 100
    shutil.copytree(REFERENCE, tmp_path / "reference")
    assert {code for code, _, _ in leaks(texts_of(tmp_path), lines)} == set(lines)


def test_the_bundle_holds_no_line_of_the_solution(bundle):
    texts = texts_of(bundle)
    assert any(name.endswith(".whl!harness/expected_values/requests.json") for name in texts), "the wheel is scanned"
    found = leaks(texts, solution_lines())
    assert not found, "solution lines in the bundle:\n" + "\n".join(f"{o}: {c!r} in {n}" for c, o, n in found[:20])


def test_the_bundle_holds_no_hidden_check(bundle):
    texts = texts_of(bundle)
    hidden = hidden_checks()
    assert hidden, "the project has hidden checks"
    for name in hidden:
        for file, text in texts.items():
            assert not re.search(rf"\b{name}\b", text), f"{name} in {file}"
    for file, text in texts.items():
        assert not re.search(r"visibility\s*=\s*HIDDEN", text), file
    # Nor the names the hidden checks are shown by (e.g. in a table of what each check takes).
    shown = [f"{target}: {title}" for _, _, names, _, visibility, _ in catalog_checks() if visibility != "public"
             for target, title in names]
    assert shown
    for file, text in texts.items():
        assert not [name for name in shown if name in text], file
    # The bundle's own catalog, collected by its own harness: every public check, nothing else.
    listed = subprocess.run(
        [sys.executable, "-B", "-c", "import json; from harness.clauses import catalog_checks; "
         "print(json.dumps([[n, v, [t + ': ' + x for t, x in r]] for _, n, r, _, v, _ in catalog_checks()]))"],
        cwd=bundle, capture_output=True, text=True, check=True,
    )
    theirs = {name: (visibility, names) for name, visibility, names in json.loads(listed.stdout)}
    ours = {name: ("public", [f"{t}: {x}" for t, x in rows])
            for _, name, rows, _, visibility, _ in catalog_checks() if visibility == "public"}
    assert theirs == ours


def test_check_in_a_fresh_venv_passes_the_reference_and_fails_the_template(bundle, tmp_path):
    # One venv; numpy, pytest and jinja2 come from the system's site-packages (no download),
    # the bundle's wheel (built from its folder by `pip wheel`) is installed with no index, and
    # nothing of the project is on the path.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    (wheel,) = (bundle / "dist").glob("gradecheck-*.whl")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-index", str(wheel)], check=True, env=env, cwd=tmp_path)
    where = subprocess.run([python, "-c", "import harness; print(harness.__file__)"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout.strip()
    installed = pathlib.Path(where).parent
    assert installed.is_relative_to(venv) and not (installed.parent / "reference").exists()
    public = sum(len(rows) for _, _, rows, _, visibility, _ in catalog_checks() if visibility == "public")

    work = tmp_path / "reference-code"  # the reference's code as a student's folder (nnmath: the math it shares)
    for package in ("beras", "bgd"):
        shutil.copytree(REFERENCE / package, work / package)
    shutil.copy(REFERENCE / "nnmath.py", work / "nnmath.py")
    done = subprocess.run([python, "-m", "harness", "check"], env=env, cwd=work, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{public} of {public} passed" in done.stdout.splitlines()[0]

    mine = tmp_path / "template"
    shutil.copytree(bundle / "student_template", mine)
    done = subprocess.run([python, "-m", "harness", "check", "--assignment", "bgd"], env=env, cwd=mine,
                          capture_output=True, text=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Public checks of bgd" in done.stdout and expected.OFFLINE_MESSAGE not in done.stdout


# ------------------------------------------------------------------ the pieces


def test_a_request_not_recorded_fails_its_check_and_says_why(tmp_path):
    empty = tmp_path / "empty"
    expected.save(empty, {})
    outcomes, _ = run_checks(REFERENCE, ["bgd"], 0, public_only=True, reference=empty, names="FullyConnected")
    assert outcomes and all(not o.passed for o in outcomes if "reference" in o.name)
    assert all(expected.OFFLINE_MESSAGE in o.output for o in outcomes if not o.passed)


def test_a_recording_replays_what_it_recorded(tmp_path):
    import numpy as np

    from harness.sandbox import ErrorInfo, Result

    ops = [{"op": "call", "function": "m.f", "args": [np.arange(3.0)], "kwargs": {}}]
    answer = [Result(ok=True, value={"y": (np.ones((2, 2), np.float32), [1, "a", None]), "$odd": 2.5},
                     raw={"$dict": {"y": {"$tuple": [{"$array": "a0", "type": "beras.core.Tensor"}, [1, "a", None]]}}}),
              Result(ok=False, error=ErrorInfo("ValueError", "no", kind="exception"))]
    expected.save(tmp_path / "rec", {expected.request_key(ops): answer})
    engine = expected.RecordedEngine(tmp_path / "rec")
    got = engine.run(ops)
    assert got[0].value["y"][0].dtype == np.float32 and got[0].value["y"][1] == [1, "a", None]
    assert got[0].value["$odd"] == 2.5 and got[0].type_of("y", 0) == "beras.core.Tensor"
    assert got[1].error == answer[1].error
    got[0].value["y"][0][...] = 7  # a check may change what it got: the next one gets the recording
    assert engine.run(ops)[0].value["y"][0].max() == 1
    other = [{**ops[0], "args": [np.arange(4.0)]}]
    with pytest.raises(expected.NotRecorded, match="cannot be judged offline"):
        engine.run(other)


CATALOG = textwrap.dedent('''\
    """A catalog module."""
    from harness.checks import HIDDEN, check

    SHARED = 3
    # only the hidden check uses these two
    SECRET_SCALES = (1.0, 0.05)


    def secret_helper(x):
        return x * SECRET_SCALES[0]


    @check("beras.layers.Dense", "public", points=1)
    def test_public(student):
        assert SHARED


    # a comment about the hidden check
    @check("beras.layers.Dense", "hidden", points=1,
           visibility=HIDDEN)
    def test_hidden(student):
        assert secret_helper(SHARED) and IMPORTED_ELSEWHERE_TOO


    IMPORTED_ELSEWHERE_TOO = 1
''')


def test_public_catalog_drops_hidden_checks_and_what_only_they_use():
    out = public_catalog(CATALOG, elsewhere="from harness.catalog.mod import IMPORTED_ELSEWHERE_TOO")
    ast.parse(out)
    for gone in ("test_hidden", "secret_helper", "SECRET_SCALES", "HIDDEN", "a comment about the hidden", "only the hidden"):
        assert gone not in out
    for kept in ("def test_public", "SHARED = 3", "IMPORTED_ELSEWHERE_TOO = 1", "from harness.checks import check",
                 '"""A catalog module."""'):
        assert kept in out
    assert public_catalog(out) == out  # nothing hidden: unchanged
