"""The judge against realistic student bugs (tests/mutants.py).

Every single-bug variant of the reference must lose points on a check named
after the class it broke (and, for bgd, on no check of another class); a correct variant computing in float32 must get
full marks. Each grading is a real `python -m harness grade` run.
"""

import json
import subprocess
import sys

import pytest
from mutants import MUTANTS, materialise, materialise_float32


def grade(folder, results, assignment=None):
    command = [sys.executable, "-m", "harness", "grade", str(folder), "--results", str(results)]
    if assignment:
        command += ["--assignment", assignment]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode in (0, 1), run.stderr
    return run.returncode, json.loads(results.read_text())


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_mutant_loses_points_on_its_class(mutant, tmp_path):
    folder = tmp_path / "submission"
    materialise(mutant, folder)
    status, document = grade(folder, tmp_path / "results.json", assignment=mutant.target.split(".")[0])
    failed = [t["name"] for t in document["tests"] if t["status"] == "failed"]
    on_target = [name for name in failed if name.startswith(mutant.target + ": ")]
    assert status == 1
    assert on_target, f"{mutant.id} ({mutant.description}) was not caught on {mutant.target}; failed: {failed}"
    if mutant.target.startswith("bgd."):  # a check of class X loses points only when X itself is wrong
        elsewhere = [name for name in failed if not name.startswith(mutant.target + ": ")]
        assert not elsewhere, f"{mutant.id} ({mutant.description}) also failed checks of other classes: {elsewhere}"


def test_correct_float32_variant_gets_full_marks(tmp_path):
    folder = tmp_path / "submission"
    materialise_float32(folder)
    status, document = grade(folder, tmp_path / "results.json")
    failed = [(t["name"], t["output"][:500]) for t in document["tests"] if t["status"] == "failed"]
    assert not failed
    assert status == 0 and document["score"] == document["extra_data"]["max_score"]
