"""A submission is graded by two processes at once, each with its part of the
checks (harness/grading.py, plugin.partition); the result must be what one
process grading them all gives, in the same order."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from harness.grading import HarnessError, run_checks
from harness.plugin import DURATIONS, partition, usual_seconds

ROOT = pathlib.Path(__file__).resolve().parents[1]


def buggy_copy(folder):
    """The reference with a bug in a beras class and one in a bgd class."""
    copy = folder / "submission"
    shutil.copytree(ROOT / "reference", copy, ignore=shutil.ignore_patterns("__pycache__"))
    for path, old, new in [("beras/layers.py", "return [self.w]", "return [self.w * 1.01]"),
                           ("bgd/layers/fc.py", "return (signal if self.propagate else None), gradients",
                            "return (signal * 1.01 if self.propagate else None), gradients")]:
        source = (copy / path).read_text()
        assert source.count(old) >= 1, (path, old)
        (copy / path).write_text(source.replace(old, new, 1))
    return copy


def test_the_parts_graded_at_once_equal_one_process_in_assignment_order(tmp_path, monkeypatch):
    submission = buggy_copy(tmp_path)
    parts, _ = run_checks(submission, ["beras", "bgd"], run_seed=7)
    monkeypatch.setenv("GRADECHECK_PROCESSES", "1")
    alone, _ = run_checks(submission, ["beras", "bgd"], run_seed=7)
    assert [(o.name, o.passed, o.max_score, o.output) for o in parts] == \
        [(o.name, o.passed, o.max_score, o.output) for o in alone]
    assert not all(o.passed for o in parts)
    assert {o.target.split(".")[0] for o in parts if not o.passed} == {"beras", "bgd"}
    packages = [o.target.split(".")[0] for o in parts]
    assert packages == sorted(packages, key=["beras", "bgd"].index)


def test_a_class_is_graded_by_one_process_and_the_parts_have_about_as_many_checks():
    targets = ["a"] * 9 + ["b"] * 2 + ["c"] * 5 + ["a"] + ["d"] * 4 + ["e"] * 3
    part_of = partition(targets, 2)
    assert part_of == partition(list(targets), 2)  # the same selection splits the same way
    for target in set(targets):
        assert len({part for t, part in zip(targets, part_of) if t == target}) == 1
    loads = [part_of.count(part) for part in (0, 1)]
    assert abs(loads[0] - loads[1]) <= max(targets.count(t) for t in set(targets))
    assert partition(targets, 1) == [0] * len(targets)
    # With what each check usually takes: a class of few long checks weighs more than one of many short ones.
    seconds = [0.01] * 9 + [1.0] * 2 + [0.01] * 5 + [0.01] + [0.01] * 4 + [0.01] * 3
    timed = partition(targets, 2, seconds)
    assert timed[9] != timed[0]  # "b" (2 s) is alone on its side; everything else on the other
    assert {part for target, part in zip(targets, timed) if target != "b"} == {1 - timed[9]}


def test_checks_without_a_record_count_as_the_median_recorded_check():
    recorded = json.loads(DURATIONS.read_text())["seconds"]
    names = sorted(recorded)
    assert names, "harness/catalog/durations.json records the catalog's checks"
    median = sorted(recorded.values())[len(recorded) // 2]
    assert usual_seconds([names[0], "an instructor's new check"]) == [recorded[names[0]], median]
    assert set(recorded) == {o.name for o in run_checks(ROOT / "reference", ["beras", "bgd"], run_seed=3)[0]}, \
        "the catalog changed: python benchmarks/record_durations.py"


def test_an_error_in_the_other_process_is_reported_and_it_is_reaped(tmp_path, monkeypatch):
    monkeypatch.setenv("JUDGE_PID", str(os.getpid()))
    (tmp_path / "test_broken.py").write_text(
        "import os\nif os.getpid() != int(os.environ['JUDGE_PID']):\n    raise RuntimeError('catalog bug')\n"
    )
    with pytest.raises(HarnessError, match="catalog bug"):
        run_checks(ROOT / "reference", ["beras", "bgd"], run_seed=7, catalog=tmp_path)
    assert not forked_children(), "the grading process of the other assignment was left behind"


def forked_children():
    """Children of this process running this process's own command line (forks), zombies included."""
    ours = pathlib.Path("/proc/self/cmdline").read_bytes()
    pids = " ".join(p.read_text() for p in pathlib.Path("/proc/self/task").glob("*/children")).split()
    found = []
    for pid in pids:
        try:
            status = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if status == "Z" or pathlib.Path(f"/proc/{pid}/cmdline").read_bytes() == ours:
                found.append(pid)
        except OSError:
            continue
    return found


def test_one_process_grades_both_assignments_twice(tmp_path):
    """The second run forks after the first has started the reference's helper
    thread (gradcheck._PAIR): the forked process must get a pool of its own,
    or its first check waits forever."""
    import subprocess
    import sys

    code = (
        "import sys; from harness.grading import run_checks\n"
        "for _ in range(2):\n"
        "    outcomes, _ = run_checks(sys.argv[1], ['beras', 'bgd'], run_seed=7, keyword='Dense or FullyConnected')\n"
        "    assert outcomes and all(o.passed for o in outcomes), [o.name for o in outcomes if not o.passed]\n"
        "print('twice', len(outcomes))\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(ROOT / "reference")], capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert run.returncode == 0 and "twice" in run.stdout, run.stderr[-2000:]


def test_a_grading_after_warm_up_uses_the_modules_imported_before_it(tmp_path):
    # What `batch` does before forking its gradings (harness/batch.py, _warm_up):
    # the gradings must then find the catalog's modules imported, not import them
    # again (or refuse them, as pytest does a module imported from elsewhere).
    script = """
import json, os, sys
os.environ["GRADECHECK_PROCESSES"] = "1"
from harness import grading
grading.warm_up()
before = {name: id(module) for name, module in sys.modules.items() if name.startswith("harness.catalog.test_")}
outcomes, _ = grading.run_checks(sys.argv[1], ["bgd"], run_seed=3, keyword="FullyConnected and forward")
after = {name: id(sys.modules[name]) for name in before}
print(json.dumps([sorted(before), before == after, [o.passed for o in outcomes]]))
"""
    done = subprocess.run([sys.executable, "-c", script, str(ROOT / "reference")], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    warmed, unchanged, passed = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"harness.catalog.test_bgd_api", "harness.catalog.test_differentiable"} <= set(warmed)
    assert unchanged
    assert passed and all(passed)
