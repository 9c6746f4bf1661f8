"""The Gradescope autograder zip (`python -m harness gradescope`, harness/gradescope.py).

Its run_autograder is run as Gradescope runs it, in a local folder laid out
like /autograder (source/ holding the unpacked zip, submission/, results/):
it must always leave a valid results.json, with full marks for the reference,
points lost for a bug, and 0 with a clear reason for a submission without the
assignment's package.
"""

import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest

from harness.bundle import project_metadata
from harness.gradescope import build_autograder

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference"
sys.path.insert(0, str(ROOT / "tests"))
import mutants  # noqa: E402


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    """The zip for the bgd assignment, unpacked where Gradescope puts it (ROOT/source)."""
    folder = tmp_path_factory.mktemp("gradescope")
    archive = build_autograder(folder / "autograder.zip", assignment="bgd")
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(folder / "source")
    return archive, folder / "source"


def run_autograder(source, tmp_path, files, python=sys.executable):
    """Lay out ROOT like /autograder with `files` (relative path -> source file or folder) as
    the submission, run source/run_autograder there; (results.json as a dict, the script's output)."""
    root = tmp_path / "autograder"
    shutil.copytree(source, root / "source")
    (root / "submission").mkdir(parents=True)
    (root / "results").mkdir()
    for name, origin in files.items():
        (shutil.copytree if origin.is_dir() else shutil.copy)(origin, root / "submission" / name)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "GRADECHECK_PYTHON": str(python)}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr  # Gradescope reads results.json, whatever happened
    path = root / "results" / "results.json"
    assert path.stat().st_size < 1_000_000
    return json.loads(path.read_text(encoding="utf-8")), done.stdout + done.stderr


def assert_valid(results):
    """Gradescope's results.json format (SPEC 5)."""
    assert isinstance(results["score"], (int, float)) and isinstance(results["output"], str)
    for test in results["tests"]:
        assert {"name", "score", "max_score", "status", "visibility"} <= set(test)
        assert test["status"] in ("passed", "failed") and 0 <= test["score"] <= test["max_score"]
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))


def test_the_zip_is_laid_out_for_gradescope(autograder):
    archive, source = autograder
    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in opened.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert script in names and modes[script] & stat.S_IXUSR
    assert "reference/bgd/layers/fc.py" in names and "harness/cli.py" in names and "reports/report.html.j2" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    _, dependencies = project_metadata(ROOT)
    assert (source / "requirements.txt").read_text().split() == dependencies
    assert subprocess.run(["bash", "-n", str(source / "setup.sh")]).returncode == 0
    assert "--assignment bgd" in (source / "run_autograder").read_text()


def test_the_reference_gets_full_marks_visible_and_hidden(autograder, tmp_path):
    _, source = autograder
    results, _ = run_autograder(source, tmp_path, {"beras": REFERENCE / "beras", "bgd": REFERENCE / "bgd",
                                                   "nnmath.py": REFERENCE / "nnmath.py"})
    assert_valid(results)
    tests = results["tests"]
    assert tests and all(t["name"].startswith("bgd.") for t in tests)  # the named assignment only
    assert {t["visibility"] for t in tests} > {"visible"}  # hidden checks graded too
    assert all(t["status"] == "passed" for t in tests)
    full = sum(t["max_score"] for t in tests)
    assert full > 0 and results["score"] == pytest.approx(full)


def test_a_bug_costs_points_in_its_class(autograder, tmp_path):
    _, source = autograder
    mutant = next(m for m in mutants.MUTANTS if m.id == "conv_backward_ignores_strides")
    submission = mutants.materialise(mutant, tmp_path / "buggy")
    results, _ = run_autograder(source, tmp_path, {"bgd": submission / "bgd", "nnmath.py": submission / "nnmath.py"})
    assert_valid(results)
    failed = [t for t in results["tests"] if t["status"] == "failed"]
    assert failed and all(t["name"].startswith(mutant.target + ":") for t in failed)
    assert 0 < results["score"] < sum(t["max_score"] for t in results["tests"])


@pytest.mark.parametrize("files", [{}, {"beras": REFERENCE / "beras", "nnmath.py": REFERENCE / "nnmath.py"}],
                         ids=["empty", "beras only"])
def test_a_submission_without_the_package_scores_zero_and_says_why(autograder, tmp_path, files):
    _, source = autograder
    results, _ = run_autograder(source, tmp_path, files)
    assert_valid(results)
    assert results["score"] == 0 and results["tests"] == []
    assert "bgd" in results["output"] and "no" in results["output"].lower()


def test_results_json_is_written_even_when_the_grader_cannot_start(autograder, tmp_path):
    _, source = autograder
    results, output = run_autograder(source, tmp_path, {"bgd": REFERENCE / "bgd"}, python="/bin/false")
    assert_valid(results)
    assert results["score"] == 0 and "could not run" in results["output"]
    assert "exited with status 1" in output


def test_the_command_line_writes_the_zip_and_refuses_bad_output(tmp_path):
    def harness(*args):
        return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True, text=True)

    done = harness("gradescope", "--out", tmp_path / "beras.zip", "--assignment", "beras")
    assert done.returncode == 0 and "autograder written" in done.stdout
    with zipfile.ZipFile(tmp_path / "beras.zip") as opened:
        assert "--assignment beras" in opened.read("run_autograder").decode()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    done = harness("bundle", "--out", tmp_path / "taken")
    assert done.returncode == 2 and "not empty" in done.stderr
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
