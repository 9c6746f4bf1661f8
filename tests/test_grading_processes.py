"""A submission with both packages is graded by one process per assignment
(harness/grading.py); the result must be what grading each alone gives."""

import os
import pathlib

import pytest

from harness.grading import HarnessError, run_checks

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_both_assignments_at_once_equal_each_alone_in_assignment_order():
    both, _ = run_checks(ROOT / "reference", ["beras", "bgd"], run_seed=7)
    alone = [o for a in ("beras", "bgd") for o in run_checks(ROOT / "reference", [a], run_seed=7)[0]]
    assert [(o.name, o.passed, o.max_score) for o in both] == [(o.name, o.passed, o.max_score) for o in alone]
    assert [o.target.split(".")[0] for o in both] == sorted((o.target.split(".")[0] for o in both), key=["beras", "bgd"].index)


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
