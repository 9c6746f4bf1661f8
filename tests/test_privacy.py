"""SPEC 5: hidden checks show students their name and result only.

Never their inputs, expected values or code; and no student-visible text (the
top-level output of results.json, the visible tests, the terminal output of
`check`, the JUnit file) reveals the hidden score or how many hidden checks
failed. The end-to-end test grades a submission that is right on every public
check and wrong where only a hidden check looks (Adam with amsgrad, tested
by a hidden check alone), and compares everything a student sees with what
the reference gets.
"""

import json
import pathlib
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from mutants import MUTANTS_BY_ID, copy_reference, materialise

from harness import outcomes, results
from harness.results import CheckOutcome

HIDDEN_BUG = "adam_amsgrad_max_of_bias_corrected"  # amsgrad=True is judged by a hidden check only
AMSGRAD_CHECK = "beras.optimizers.Adam: parameters over 5 steps match the reference with amsgrad=True"
SEED = 5
EXTRA_KEYS = {"target", "duration", "method", "blame", "mistake"}  # extra_data of a test (SPEC 5)


def harness(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def student_view(folder):
    """Everything a student may see of grading `folder` (beras only, seed fixed):
    results.json, the JUnit report, grade's and check's terminal output."""
    folder = pathlib.Path(folder)
    grade = harness("grade", folder, "--results", folder.parent / "results.json", "--junit", folder.parent / "junit.xml",
                    "--assignment", "beras", "--seed", SEED)
    check = harness("check", "--assignment", "beras", cwd=folder)  # as a student runs it: the same text for both
    assert grade.returncode in (0, 1) and check.returncode in (0, 1), grade.stderr + check.stderr
    document = json.loads((folder.parent / "results.json").read_text())
    junit = ET.parse(folder.parent / "junit.xml").getroot()
    return document, junit, grade, check


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("privacy")
    reference = copy_reference(base / "reference" / "submission")
    buggy = materialise(MUTANTS_BY_ID[HIDDEN_BUG], base / "hidden_bug" / "submission")
    return student_view(reference), student_view(buggy)


def without_times(text):
    """`text` without what differs from run to run: times, where the results went."""
    return re.sub(r"\d+\.\d+ s\b", "T s", re.sub(r"results written to .*", "", text))


def test_the_bug_is_seen_by_a_hidden_check_only(graded):
    _, (document, *_) = graded
    failed = [t for t in document["tests"] if t["status"] == "failed"]
    assert [t["name"] for t in failed] and all(t["name"].startswith(AMSGRAD_CHECK) for t in failed)
    assert all(t["visibility"] == "after_published" for t in failed)
    assert document["score"] < document["extra_data"]["max_score"]


def test_results_json_shows_students_nothing_of_the_hidden_failure(graded):
    (reference, *_), (document, *_) = graded
    assert document["output"] == reference["output"]  # no hidden score, no count of hidden failures
    visible = [(t["name"], t["status"], t["score"], t["output"]) for t in document["tests"] if t["visibility"] == "visible"]
    assert visible == [(t["name"], t["status"], t["score"], t["output"])
                       for t in reference["tests"] if t["visibility"] == "visible"]
    for test in document["tests"]:
        if test["visibility"] != "visible":
            assert test["output"] == outcomes.HIDDEN_OUTPUT  # name and result only
            assert set(test["extra_data"]) <= EXTRA_KEYS, test["extra_data"]
    failed = next(t for t in document["tests"] if t["status"] == "failed")
    assert failed["extra_data"].get("method") == "Adam.apply_gradients"  # for tools, not shown to students


def test_the_junit_file_keeps_hidden_outputs_out(graded):
    (_, reference, *_), (_, junit, *_) = graded

    def cases(suite):
        return {case.get("name"): case for case in suite.iter("testcase")}

    mine, theirs = cases(junit), cases(reference)
    assert set(mine) == set(theirs)
    for name, case in mine.items():
        failure = case.find("failure")
        if name.startswith(AMSGRAD_CHECK):
            assert failure is not None  # the result, and nothing else
            assert failure.get("message") == failure.text == outcomes.HIDDEN_OUTPUT
        else:
            assert failure is None and theirs[name].find("failure") is None


def test_grade_and_check_print_nothing_of_it(graded):
    (_, _, reference_grade, reference_check), (_, _, grade, check) = graded
    assert without_times(check.stdout) == without_times(reference_check.stdout)
    assert without_times(grade.stdout) == without_times(reference_grade.stdout)
    for text in (grade.stdout, check.stdout):
        assert "amsgrad" not in text and "Adam.apply_gradients" not in text


def test_hidden_details_never_reach_the_documents():
    """Whatever a hidden check's diagnosis holds (inputs, expected values, the
    reproducer), results.json and JUnit carry its name and result only, and the
    top-level summary counts visible checks alone."""
    secret = "np.array([[0.123456789]])  # SECRET INPUT"
    hidden = CheckOutcome(
        name="beras.optimizers.Adam: a hidden one", target="beras.optimizers.Adam", max_score=2, passed=False,
        output=f"Adam.apply_gradients: wrong\n  largest errors: 1 vs 2\n  reproduce with:\n    {secret}",
        visibility="hidden",
        details={"summary": "wrong", "method": "Adam.apply_gradients", "blame": "update", "mistake": "state",
                 "culprit": "Adam.apply_gradients (the update)", "snippet": secret,
                 "worst": [((0, 0), 1.0, 2.0)], "case": "beta_1=0.8"},
    )
    public = CheckOutcome(name="beras.optimizers.Adam: a public one", target="beras.optimizers.Adam", max_score=1,
                          passed=True)
    summary = outcomes.visible_summary([public, hidden])
    assert summary.startswith("Visible checks: 1 of 1 passed, 1/1 points.")
    document = results.gradescope_results([public, hidden], 1.0, 7, output=summary)
    text = json.dumps(document)
    assert "SECRET" not in text and "0.123456789" not in text and "beta_1" not in text
    test = document["tests"][1]
    assert test["output"] == outcomes.HIDDEN_OUTPUT and test["status"] == "failed"
    assert test["extra_data"] == {"target": "beras.optimizers.Adam", "duration": 0.0, "method": "Adam.apply_gradients",
                                  "blame": "update", "mistake": "state"}
    junit = results.junit_xml([public, hidden])
    assert "SECRET" not in junit and "0.123456789" not in junit
