"""`python -m harness grade` and `check`, end to end, as users run them."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference"
TEMPLATE = ROOT / "student_template"
GRADESCOPE_TEST_KEYS = {"name", "score", "max_score", "status", "output", "visibility", "tags"}


def harness(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def grade(tmp_path, submission, *extra):
    results = tmp_path / "results.json"
    run = harness("grade", submission, "--results", results, *extra)
    return run, (json.loads(results.read_text()) if results.exists() else None)


@pytest.fixture(scope="module")
def reference_grade(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    run, document = grade(folder, REFERENCE, "--junit", folder / "junit.xml")
    return run, document, folder / "junit.xml"


def test_reference_scores_full_marks(reference_grade):
    run, document, _ = reference_grade
    assert run.returncode == 0, run.stdout + run.stderr
    assert document["score"] == document["extra_data"]["max_score"] > 0
    assert all(t["status"] == "passed" for t in document["tests"])


def test_results_follow_gradescope_format_and_spec_names(reference_grade):
    _, document, _ = reference_grade
    assert {"score", "execution_time", "output", "tests"} <= set(document)
    names = [t["name"] for t in document["tests"]]
    assert len(names) == len(set(names))
    for test in document["tests"]:
        assert GRADESCOPE_TEST_KEYS <= set(test)
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
        target, _, title = test["name"].partition(": ")
        assert target.split(".")[0] in ("beras", "bgd") and title, test["name"]
        assert target.count(".") >= 2 or target.startswith("beras."), test["name"]
    visibilities = {t["visibility"] for t in document["tests"]}
    assert visibilities == {"visible", "after_published"}  # public and hidden checks both exist
    for name in (
        "beras.layers.Dense: weight gradients match finite differences",
        "bgd.layers.conv2d.Convolutional2D: input gradient matches the reference",
    ):
        assert name in names  # SPEC section 5's own examples


def test_junit_report_lists_every_check(reference_grade):
    _, document, junit = reference_grade
    suite = ET.parse(junit).getroot()
    assert int(suite.get("tests")) == len(document["tests"]) and suite.get("failures") == "0"


def test_template_scores_zero_with_each_methods_todo(tmp_path):
    run, document = grade(tmp_path, TEMPLATE)
    assert run.returncode == 1, run.stderr
    assert document["score"] == 0
    for test in document["tests"]:
        if test["max_score"] == 0:  # checks of given code, run on probes: the template has it complete (no points)
            continue
        assert test["status"] == "failed"
        if test["visibility"] == "visible":  # a hidden check shows its name and result only (SPEC 5)
            assert "NotImplementedError" in test["output"] and ": TODO " in test["output"], test["name"]


@pytest.mark.parametrize("setup", ["empty", "missing", "two nested"])
def test_unusable_submission_exits_2_with_a_clear_message(tmp_path, setup):
    folder = tmp_path / "submission"
    if setup != "missing":
        folder.mkdir()
    if setup == "two nested":  # which one? (one nested folder is graded: tests/test_report_hygiene.py)
        shutil.copytree(REFERENCE / "bgd", folder / "inner" / "bgd")
        shutil.copytree(REFERENCE / "bgd", folder / "other" / "bgd")
    run, document = grade(tmp_path, folder)
    assert run.returncode == 2
    assert "submission" in run.stderr and ("no beras" in run.stderr or "no such folder" in run.stderr)
    # SPEC 5: results.json even then, score 0, the reason in its output.
    assert document["score"] == 0 and document["tests"] == []
    assert "could not be graded" in document["output"]
    assert "no beras" in document["output"] or "no such folder" in document["output"]
    if setup == "two nested":
        assert "inner/, other/" in run.stderr and "inner/, other/" in document["output"]


def test_bad_arguments_exit_2(tmp_path):
    assert harness("grade", REFERENCE).returncode == 2  # --results missing
    assert harness("grade", REFERENCE, "--results", tmp_path / "r.json", "--assignment", "keras").returncode == 2
    only_bgd = tmp_path / "only_bgd"
    shutil.copytree(REFERENCE / "bgd", only_bgd / "bgd")
    run = harness("grade", only_bgd, "--results", tmp_path / "r.json", "--assignment", "beras")
    assert run.returncode == 2 and "beras" in run.stderr


def test_assignment_narrows_the_checks(tmp_path):
    run, document = grade(tmp_path, REFERENCE, "--assignment", "bgd")
    assert run.returncode == 0
    assert document["tests"] and all(t["name"].startswith("bgd.") for t in document["tests"])


def broken_copy(tmp_path, relative, old, new):
    copy = tmp_path / "submission"
    shutil.copytree(REFERENCE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    path = copy / relative
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))
    return copy


def test_a_bug_loses_points_only_where_it_is(tmp_path):
    copy = broken_copy(tmp_path, "bgd/layers/fc.py", "gradients = (grad_weights, grad_biases)", "gradients = (grad_weights * 1.01, grad_biases)")
    run, document = grade(tmp_path, copy, "--assignment", "bgd")
    assert run.returncode == 1
    failed = [t["name"] for t in document["tests"] if t["status"] == "failed"]
    assert failed and all(name.startswith("bgd.layers.fc.FullyConnected: ") for name in failed), failed


_HIDDEN_OUTPUTS = """
import json, sys
from harness.grading import run_checks
outcomes, _ = run_checks(sys.argv[1], ["beras"], int(sys.argv[2]), keyword="softmax or Softmax")
print(json.dumps({o.name: o.output for o in outcomes if o.visibility == "hidden"}))
"""


def test_same_seed_replays_the_same_run(tmp_path):
    copy = broken_copy(tmp_path, "beras/activations.py", "return [nnmath.softmax_jacobians(np.asarray(self.outputs[0]))]", "return [nnmath.softmax_jacobians(np.asarray(self.outputs[0])) * 1.02]")
    _, document = grade(tmp_path, copy, "--assignment", "beras", "--seed", 11)
    assert document["extra_data"]["seed"] == 11
    public = {t["name"]: t["output"] for t in document["tests"] if t["visibility"] == "visible"}
    assert any(public.values())
    # What hidden checks found is not in results.json (SPEC 5): read it where the judge builds it.
    outputs = []
    for seed in (11, 11, 12):
        run = subprocess.run([sys.executable, "-c", _HIDDEN_OUTPUTS, str(copy), str(seed)],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        outputs.append(json.loads(run.stdout.splitlines()[-1]))
    assert any(outputs[0].values())  # the hidden gradient checks of Softmax fail, and say where
    assert outputs[0] == outputs[1] != outputs[2]  # the same seed draws the same hidden inputs, another not


def test_check_runs_public_checks_and_prints_a_table(tmp_path):
    copy = broken_copy(tmp_path, "beras/layers.py", "return [self.w]", "return [self.w * 1.01]")
    run = harness("check", copy, "--assignment", "beras", "-k", "Dense", "--verbose")
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    assert any(line.split()[:2] == ["FAIL", "beras.layers.Dense"] for line in lines)  # the class's row
    assert any(line.split()[:1] == ["ok"] and "beras.layers.Dense: forward matches the reference" in line
               for line in lines)  # --verbose lists every check
    failing = [line for line in lines if line.startswith("FAIL beras.layers.Dense: input gradient")]
    assert failing
    assert "Dense.get_input_gradients" in run.stdout and "largest errors" in run.stdout
    # The reproducer is a file of the student's folder (harness/reproducers.py), named in the output.
    named = re.findall(r"reproduce: python (\.harness/failures/\S+\.py)", run.stdout)
    assert named and all((copy / name).is_file() for name in named)
    assert "from beras.layers import Dense" in (copy / named[0]).read_text()
    assert "hidden" not in run.stdout.lower()
    everything = harness("check", REFERENCE, "--assignment", "beras")
    assert everything.returncode == 0 and "FAIL" not in everything.stdout


def test_check_defaults_to_the_current_folder(tmp_path):
    shutil.copytree(TEMPLATE, tmp_path / "mine")
    run = harness("check", "-k", "Flatten", "--assignment", "bgd", cwd=tmp_path / "mine")
    assert run.returncode == 1 and "Flatten._forward: TODO" in run.stdout


def test_submission_cannot_forge_results(tmp_path):
    """Writing results.json from the sandbox and exiting early changes nothing."""
    copy = tmp_path / "submission"
    shutil.copytree(REFERENCE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    results = tmp_path / "results.json"
    forged = json.dumps({"score": 1000, "tests": []})
    init = copy / "bgd" / "__init__.py"
    init.write_text(
        "import os, pathlib\n"
        f"for target in ({str(results)!r}, 'results.json', os.path.expanduser('~/results.json')):\n"
        "    try:\n"
        f"        pathlib.Path(target).write_text({forged!r})\n"
        "    except OSError:\n"
        "        pass\n"
        "os._exit(0)\n"
    )
    run = harness("grade", copy, "--results", results, "--assignment", "bgd")
    document = json.loads(results.read_text())
    assert run.returncode == 1
    assert document["score"] == 0 and document["tests"]
    assert not (pathlib.Path.home() / "results.json").exists() or os.environ.get("HOME") is None


def test_the_reproducer_reproduces_the_reported_values(tmp_path):
    """The script `check` names fails with an AssertionError, and the value it computes is the one reported."""
    copy = broken_copy(tmp_path, "beras/layers.py", "return [self.w]", "return [self.w * 1.01]")
    run = harness("check", copy, "--assignment", "beras", "-k", "Dense and input gradient matches the reference")
    assert run.returncode == 1
    report = run.stdout.splitlines()
    first_error = report[report.index("    largest errors (index: got vs expected):") + 1]
    index, got = first_error.strip().split(": ")[0], float(first_error.split(": ")[1].split(" vs ")[0])
    command = next(line.split("reproduce: ", 1)[1] for line in report if line.startswith("    reproduce: "))
    path = command.split(" ", 1)[1]
    plain = subprocess.run([sys.executable, path], cwd=copy, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 1 and "AssertionError" in plain.stderr, plain.stderr
    script = (
        f"namespace = {{'__file__': {path!r}}}\n"
        f"try:\n    exec(compile(open({path!r}).read(), {path!r}, 'exec'), namespace)\n"
        "except AssertionError:\n    pass\n"
        f"print(repr(float(namespace['got']{index})))\n"
    )
    replay = subprocess.run([sys.executable, "-c", script], cwd=copy, capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0, replay.stderr
    assert float(replay.stdout) == pytest.approx(got, rel=1e-5)


def test_a_hanging_method_fails_its_checks_and_the_run_finishes(tmp_path):
    copy = broken_copy(tmp_path, "beras/activations.py", "        return np.tanh(x)\n", "        while True:\n            pass\n")
    run, document = grade(tmp_path, copy, "--assignment", "beras")
    assert run.returncode == 1
    failed = [t for t in document["tests"] if t["status"] == "failed"]
    assert failed and all("timed out" in t["output"] for t in failed)
    assert any("the student method running at the time: Tanh.call" in t["output"] for t in failed)
    assert any(t["name"].startswith("beras.activations.Tanh: ") for t in failed)
    passed = [t for t in document["tests"] if t["status"] == "passed"]
    assert any(t["name"].startswith("beras.layers.Dense: ") for t in passed)  # the rest is graded as usual


def test_a_package_that_fails_to_import_fails_every_check_of_it(tmp_path):
    """Python keeps the submodules a failed package import loaded: no check may pass through them."""
    copy = tmp_path / "submission"
    shutil.copytree(REFERENCE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "beras" / "__init__.py", "a") as init:
        init.write('\nraise RuntimeError("the package is broken")\n')
    run, document = grade(tmp_path, copy)
    assert run.returncode == 1
    beras = [t for t in document["tests"] if t["name"].startswith("beras.")]
    # Each check says it was not run; the traceback is at the top, once.
    assert beras and all(t["status"] == "failed" for t in beras)
    assert all(t["output"] == "not run: beras could not be imported, see above"
               for t in beras if t["visibility"] == "visible")
    assert document["output"].count("RuntimeError: the package is broken") == 1
    assert all(t["status"] == "passed" for t in document["tests"] if t["name"].startswith("bgd."))


def test_a_forward_and_backward_of_zeros_earns_no_gradient_points(tmp_path):
    """All-zero gradients agree with the finite differences of an all-zero forward: not a pass."""
    copy = broken_copy(tmp_path, "beras/activations.py", "        return np.tanh(x)\n", "        return np.zeros_like(x)\n")
    path = copy / "beras" / "activations.py"
    old = "return [nnmath.tanh_derivative_from_output(np.asarray(self.outputs[0]))]"
    path.write_text(path.read_text().replace(old, "return [np.zeros_like(np.asarray(self.outputs[0]))]"))
    run, document = grade(tmp_path, copy, "--assignment", "beras")
    status = {t["name"]: t["status"] for t in document["tests"]}
    assert status["beras.activations.Tanh: input gradient matches finite differences of its own forward"] == "failed"
    assert status["beras.activations.Tanh: input gradient matches the reference"] == "failed"


def test_a_stray_module_beside_the_packages_changes_nothing(tmp_path):
    """Only the graded packages (and the modules they import) are on the worker's import path:
    a scratch random.py at the top of a submission must not break numpy.random."""
    submission = tmp_path / "submission"
    shutil.copytree(REFERENCE, submission, ignore=shutil.ignore_patterns("__pycache__"))
    (submission / "random.py").write_text("raise RuntimeError('a scratch file, not part of the submission')\n")
    (submission / "numpy.py").write_text("raise RuntimeError('a scratch file, not part of the submission')\n")
    run, document = grade(tmp_path, submission)
    assert run.returncode == 0, run.stdout + run.stderr
    assert document["score"] == document["extra_data"]["max_score"]
