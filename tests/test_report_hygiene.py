"""What reports say when the submission is broken in ordinary ways.

- paths are the submission's (`beras/layers.py`), never the sandbox's private
  `/tmp/harness-sandbox-XXXX/work/...`, which changes at every run;
- a package that cannot be imported is explained once, at the top, and its
  checks say one line each;
- a missing third-party module (tqdm, matplotlib) is explained: the grader
  offers NumPy and the standard library only;
- outputs are bounded (each test's about 8 KB, results.json under 1 MB);
- `grade` writes results.json on every exit 2 it can (SPEC 5);
- a zip of the submission folder itself (one folder inside, `__MACOSX/` beside) is graded.
"""

import json
import os
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from mutants import MUTANTS_BY_ID, copy_reference, materialise

from harness import cli, outcomes, results
from harness.grading import HarnessError
from harness.results import CheckOutcome
from harness.sandbox import runtime
from harness.text import bounded, without_sandbox_paths

SANDBOX = "harness-sandbox-"


def harness(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def patch(folder, path, find, replace):
    file = pathlib.Path(folder) / path
    text = file.read_text()
    assert text.count(find) == 1, (path, find)
    file.write_text(text.replace(find, replace))


# --------------------------------------------------- a syntax error in one file


@pytest.fixture(scope="module")
def syntax_error(tmp_path_factory):
    """The reference with a syntax error at the end of beras/activations.py: grade (with JUnit) and check."""
    base = tmp_path_factory.mktemp("syntax")
    folder = copy_reference(base / "submission")
    with open(folder / "beras" / "activations.py", "a") as source:
        source.write("\ndef broken(:\n    pass\n")
    grade = harness("grade", folder, "--results", base / "results.json", "--junit", base / "junit.xml")
    check = harness("check", folder)
    return grade, json.loads((base / "results.json").read_text()), (base / "junit.xml").read_text(), check


def test_no_report_shows_the_sandbox_s_private_paths(syntax_error):
    grade, document, junit, check = syntax_error
    for text in (grade.stdout, grade.stderr, json.dumps(document), junit, check.stdout, check.stderr):
        assert SANDBOX not in text
    assert 'File "beras/activations.py", line ' in check.stdout  # where the error is, as the student knows it


def test_an_import_error_is_shown_once_at_the_top(syntax_error):
    grade, document, junit, check = syntax_error
    assert grade.returncode == 1 and check.returncode == 1
    for text in (document["output"], check.stdout):
        assert text.count("SyntaxError: invalid syntax") == 1
        assert "beras could not be imported, so the 72 checks that need it were not run:" in text
    beras = [t for t in document["tests"] if t["name"].startswith("beras.")]
    assert all(t["status"] == "failed" for t in beras)
    assert {t["output"] for t in beras if t["visibility"] == "visible"} == {outcomes.ImportFailure("beras", "", "", []).not_run}
    assert all(t["status"] == "passed" for t in document["tests"] if t["name"].startswith("bgd."))
    # check lists no beras class among the failures: they are said above, once.
    assert "── beras." not in check.stdout and check.stdout.index("could not be imported") > check.stdout.index("bgd ")
    assert junit.count("SyntaxError") == 0  # each check's failure is the one line


# --------------------------------------------------- third-party modules


@pytest.fixture(scope="module")
def third_party(tmp_path_factory):
    """tqdm imported at the top of beras/layers.py, matplotlib inside bgd's Flatten._forward."""
    folder = copy_reference(tmp_path_factory.mktemp("third_party") / "submission")
    patch(folder, "beras/layers.py", "import numpy as np\n", "import numpy as np\nfrom tqdm import tqdm\n")
    patch(folder, "bgd/layers/flatten.py", "    def _forward(self, X):\n",
          "    def _forward(self, X):\n        import matplotlib.pyplot as plt  # noqa: F401\n")
    return harness("check", folder)


def test_a_missing_third_party_module_is_explained(third_party):
    run = third_party
    assert run.returncode == 1, run.stderr
    assert "ModuleNotFoundError: No module named 'tqdm'" in run.stdout
    assert run.stdout.count("'tqdm' is not installed where your code is graded: the grader offers only NumPy and the "
                            "Python standard library") == 1  # once, with the import failure
    assert "'matplotlib' is not installed where your code is graded" in run.stdout  # a method's import
    assert "── bgd.layers.flatten.Flatten:" in run.stdout


def test_only_third_party_modules_get_the_hint():
    own = outcomes.own_modules(None) | {"helpers"}
    assert "tqdm" in outcomes.missing_module_hint("ModuleNotFoundError: No module named 'tqdm.auto'", own)
    for name in ("beras.missing", "helpers", "numpy.foo", "tkinter", "json"):
        assert outcomes.missing_module_hint(f"No module named '{name}'", own) == "", name


def test_sandbox_paths_become_the_submission_s():
    assert without_sandbox_paths('File "/tmp/harness-sandbox-a1_b/work/beras/layers.py", line 3') == \
        'File "beras/layers.py", line 3'
    assert without_sandbox_paths("No such file: '/var/tmp/x/harness-sandbox-q/work/data.csv'") == "No such file: 'data.csv'"
    assert without_sandbox_paths("cwd=/tmp/harness-sandbox-q/work, HOME=/tmp/harness-sandbox-q/tmp") == \
        "cwd=., HOME=<sandbox>/tmp"
    assert without_sandbox_paths("/tmp/harness-sandbox-runtime-ab12/lib/x.py") == "<python>/lib/x.py"
    assert without_sandbox_paths("nothing to do") == "nothing to do"


# --------------------------------------------------- bounds


@pytest.fixture(scope="module")
def huge(tmp_path_factory):
    """bgd failures with a reproducer of large inline arrays (a Dropout bug), and a
    FullyConnected whose backward prints 400 KB and then opens a file by absolute path."""
    base = tmp_path_factory.mktemp("huge")
    folder = materialise(MUTANTS_BY_ID["dropout_backward_draws_new_mask"], base / "submission")
    patch(folder, "bgd/layers/fc.py", "    def _backward(self, error):\n",
          "    def _backward(self, error):\n"
          "        import os\n"
          "        for _ in range(400):\n"
          "            print('x' * 1000)\n"
          "        open(os.path.join(os.getcwd(), 'weights.npy'))\n")
    run = harness("grade", folder, "--results", base / "results.json", "--junit", base / "junit.xml", "--assignment", "bgd")
    return run, base / "results.json", base / "junit.xml"


def test_every_output_is_bounded_and_says_what_was_cut(huge):
    run, path, junit = huge
    assert run.returncode == 1, run.stderr
    document = json.loads(path.read_text())
    outputs = [t["output"] for t in document["tests"]]
    assert max(map(len, outputs)) <= results.OUTPUT_CHARS + 300
    assert any("more characters on this line]" in o for o in outputs)  # the reproducer's inline arrays
    fc = [t["output"] for t in document["tests"] if t["name"].startswith("bgd.layers.fc.") and t["status"] == "failed"
          and t["visibility"] == "visible"]
    assert fc and all("your code printed:" in o and "not shown]" in o for o in fc if "printed" in o)
    assert any("No such file or directory: 'weights.npy'" in o for o in fc)  # the path as the student wrote it
    assert path.stat().st_size < 1_000_000 and junit.stat().st_size < 1_000_000
    assert SANDBOX not in path.read_text() + junit.read_text()


def test_results_json_and_junit_stay_under_a_megabyte_whatever_the_outputs():
    many = [CheckOutcome(name=f"bgd.cost.MSE: check {i}", target="bgd.cost.MSE", max_score=1, passed=False,
                         output=("é" * 300 + "\n") * 200) for i in range(400)]
    document = results.gradescope_results(many, 1.0, 1)
    assert len(json.dumps(document, indent=2)) < 1_000_000
    assert all("characters cut here" in t["output"] for t in document["tests"])
    junit = results.junit_xml(many)
    assert len(junit.encode("utf-8")) < 1_000_000 and junit.count("characters cut here") == len(many)


def test_bounded_keeps_the_start_and_the_end():
    text = "summary\n" + "\n".join(f"line {i}" for i in range(5000)) + "\nlast line"
    kept = bounded(text, 2000)
    assert len(kept) <= 2000 and kept.startswith("summary\nline 0") and kept.endswith("last line")
    assert "lines, " in kept and "characters cut here" in kept
    assert bounded("short") == "short"
    assert bounded("x" * 3000, line_limit=100).endswith("[2900 more characters on this line]")


# --------------------------------------------------- exit status 2 writes results.json


def deep(folder):
    """A folder too deep to copy into a sandbox, inside beras/."""
    path = folder / "beras" / "/".join(["d"] * (runtime.MAX_SUBMISSION_DEPTH + 5))
    path.mkdir(parents=True)
    return folder


@pytest.mark.parametrize("case", ["no such folder", "no package", "bad option", "no submission given", "too deep"])
def test_exit_2_writes_results_json_saying_why(tmp_path, case):
    results_path = tmp_path / "out" / "results.json"
    folder = tmp_path / "submission"
    args = [folder, "--results", results_path, "--junit", tmp_path / "junit.xml"]
    if case == "no package":
        (folder / "src").mkdir(parents=True)
    elif case == "bad option":
        copy_reference(folder)
        args += ["--assignment", "keras"]
    elif case == "no submission given":
        args = args[1:]
    elif case == "too deep":
        deep(copy_reference(folder))
    run = harness("grade", *args)
    assert run.returncode == 2, run.stderr
    document = json.loads(results_path.read_text())
    assert document["score"] == 0 and document["tests"] == []
    expected = {"no such folder": "no such folder", "no package": "no beras/__init__.py or bgd/__init__.py found",
                "bad option": "invalid choice: 'keras'", "no submission given": "required: submission",
                "too deep": "folders deep"}[case]
    assert document["output"].startswith("This submission could not be graded: ") and expected in document["output"]


@pytest.mark.parametrize("failure", [HarnessError("collecting test_x.py: SECRET hidden check source"),
                                     RuntimeError("a bug of the grader")])
def test_a_grader_that_fails_still_writes_results_json(tmp_path, monkeypatch, failure):
    def broken(*args, **kwargs):
        raise failure

    monkeypatch.setattr(cli, "run_checks", broken)
    results_path = tmp_path / "results.json"
    status = cli.main(["grade", str(copy_reference(tmp_path / "submission")), "--results", str(results_path)])
    assert status == 2
    document = json.loads(results_path.read_text())
    assert document["score"] == 0 and "could not be graded" in document["output"]
    assert "SECRET" not in document["output"]  # the catalog's text may quote hidden checks: instructors only
    assert str(failure) in document["extra_data"]["error"]


# --------------------------------------------------- a zip of the folder


def test_a_zip_with_one_top_folder_is_graded_from_it(tmp_path):
    submission = tmp_path / "submission"
    copy_reference(submission / "hw2")
    (submission / "__MACOSX" / "hw2" / "bgd").mkdir(parents=True)  # what zipping on macOS adds
    (submission / "__MACOSX" / "hw2" / "bgd" / "._fc.py").write_bytes(b"\x00\x05\x16\x07")
    (submission / ".DS_Store").write_bytes(b"\x00")
    (submission / ".git").mkdir()
    results_path = tmp_path / "results.json"
    run = harness("grade", submission, "--results", results_path, "--junit", tmp_path / "junit.xml",
                  "--assignment", "bgd")
    assert run.returncode == 0, run.stderr
    document = json.loads(results_path.read_text())
    assert document["score"] == document["extra_data"]["max_score"] > 0
    assert "Graded the folder hw2/ inside your submission" in document["output"]
    assert ET.parse(tmp_path / "junit.xml").getroot().get("failures") == "0"
    check = harness("check", "--assignment", "bgd", "-k", "FullyConnected", cwd=submission)
    assert check.returncode == 0 and "Graded the folder hw2/" in check.stdout


def test_the_hint_names_the_folder_that_holds_the_packages(tmp_path):
    submission = tmp_path / "submission"
    for inner in ("hw2", "backup"):
        copy_reference(submission / inner)
    run = harness("grade", submission, "--results", tmp_path / "results.json")
    assert run.returncode == 2
    assert "found them a level down, in backup/, hw2/" in run.stderr and "hw2/beras" not in run.stderr


def test_junit_of_an_ungraded_submission_says_why(tmp_path):
    run = harness("grade", tmp_path / "missing", "--results", tmp_path / "r.json", "--junit", tmp_path / "j.xml")
    assert run.returncode == 2
    error = ET.parse(tmp_path / "j.xml").getroot().find("testcase/error")
    assert "no such folder" in error.get("message")
    assert os.path.exists(tmp_path / "r.json")
