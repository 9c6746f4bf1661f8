"""Attacks on a whole grading run (harness/SECURITY.md), each graded beside a
control that differs only by the attack. The attacks are written as a hostile
student would: they look for the reference where it used to be reachable (a
copy in the shared temp dir, named on the reference worker's command line),
stop the reference worker, hang while holding the GIL and ignoring signals,
and outlive a judge that is killed.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from autograde import grade
from hardening import DAEMON
from mutants import REFERENCE_DIR, copy_reference
from stubs import materialise_zero_stub

from harness.grading import run_checks
from harness.results import total
from harness.sandbox import process
from harness.sandbox.runtime import UID_BLOCK_SIZE, UID_BLOCK_START

IS_ROOT = os.getuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="kernel separation (uids, namespaces) needs a root judge")

# Put at the top of a zero stub's bgd/__init__.py: redirect the package to the
# first other copy of bgd it can read, so that every bgd class is the
# reference's. LOOT_DIRS lists where to look.
HIJACK = '''
import glob as _glob, json as _json, os as _os, sys as _sys


def _copies_of_bgd():
    here = _os.path.realpath(_os.getcwd())
    found = []
    for pattern in LOOT_DIRS:
        found += _glob.glob(pattern)
    for pid in _os.listdir("/proc"):  # the reference worker's command line names its folder
        try:
            found.append(_json.loads(open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")[-2])["workdir"])
        except Exception:
            pass
        try:
            found.append(_os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            pass
    for folder in found:
        candidate = _os.path.join(folder, "bgd")
        if _os.path.realpath(folder) != here and _os.access(_os.path.join(candidate, "layers", "fc.py"), _os.R_OK):
            yield folder


for _loot in _copies_of_bgd():
    __path__[:] = [_os.path.join(_loot, "bgd")]
    _sys.path.append(_loot)  # for the modules bgd imports beside it (nnmath)
    break
'''


def hijacking_stub(folder, loot_dirs):
    root = materialise_zero_stub(folder)
    shutil.rmtree(root / "beras")
    init = root / "bgd" / "__init__.py"
    init.write_text(f"LOOT_DIRS = {loot_dirs!r}\n" + HIJACK + init.read_text())  # before bgd imports its modules
    return root


def bgd_score(folder, tmp_path, *options):
    _, document = grade(folder, tmp_path / f"{folder.name}.json", "--assignment", "bgd", "--seed", 5, *options)
    return document["score"], document


@needs_root
def test_the_reference_workers_copy_cannot_be_borrowed(tmp_path):
    stub, _ = bgd_score(materialise_zero_stub(tmp_path / "stub"), tmp_path)
    # Control: the same hijack, pointed at a copy of the reference the
    # student shipped themselves (a top-level package bgd imports), wins.
    shipped = hijacking_stub(tmp_path / "control", ["loot"])
    shutil.copytree(REFERENCE_DIR / "bgd", shipped / "loot" / "bgd")
    shutil.copy(REFERENCE_DIR / "nnmath.py", shipped / "loot" / "nnmath.py")
    (shipped / "loot" / "__init__.py").write_text("")
    init = shipped / "bgd" / "__init__.py"
    init.write_text("import loot  # noqa\n" + init.read_text())
    control, control_document = bgd_score(shipped, tmp_path)
    assert control == control_document["extra_data"]["max_score"] > stub
    # The attack: the reference worker's copy, in the shared temp dir or named on its command line.
    attack, _ = bgd_score(hijacking_stub(tmp_path / "attack", ["/tmp/harness-sandbox-*/work", "/tmp/*/work"]), tmp_path)
    assert attack == stub


@needs_root
def test_a_reference_outside_the_project_is_out_of_the_workers_sight(tmp_path):
    # The reference runs in the judge's process from its own folder
    # (harness/in_process.py). Outside the project and the temp dir, and
    # readable by everyone as a home folder often is, it is still hidden from
    # every worker of the run.
    outside = Path(tempfile.mkdtemp(prefix="gradecheck-reference-", dir="/var/tmp"))
    try:
        reference = copy_reference(outside / "reference")
        for path in [outside, *outside.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)

        def bgd_points(folder):
            outcomes, _ = run_checks(folder, ["bgd"], 5, reference=reference)
            return total(outcomes)[0]

        stub = bgd_points(materialise_zero_stub(tmp_path / "stub"))
        attack = bgd_points(hijacking_stub(tmp_path / "attack", [str(reference)]))
        assert attack == stub
    finally:
        shutil.rmtree(outside)


STOPPER = '''
import os as _os, signal as _signal, threading as _threading


def _stop_everyone():
    mine = {_os.getpid(), _os.getppid()}
    while True:
        for pid in _os.listdir("/proc"):
            if pid.isdigit() and int(pid) not in mine:
                try:
                    _os.kill(int(pid), _signal.SIGSTOP)
                except OSError:
                    pass


_threading.Thread(target=_stop_everyone, daemon=True).start()
'''


@needs_root
def test_stopping_the_reference_worker_again_and_again_changes_nothing(tmp_path):
    control, _ = bgd_score(copy_reference(tmp_path / "control"), tmp_path)
    attacker = copy_reference(tmp_path / "attack")
    init = attacker / "bgd" / "__init__.py"
    init.write_text(init.read_text() + STOPPER)
    started = time.monotonic()
    attack, document = bgd_score(attacker, tmp_path, "--budget", "60")
    assert attack == control == document["extra_data"]["max_score"]
    assert time.monotonic() - started < 120


GIL_HOG = '''
import signal as _signal
for _number in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP, _signal.SIGUSR1):
    _signal.signal(_number, _signal.SIG_IGN)


def _hog(*args, **kwargs):
    return sum(range(10**13))  # one C call: the GIL is never released


from bgd.layers.fc import FullyConnected as _FC
from bgd.layers.activation import Activation as _Act
_FC.forward = _hog
_Act.forward = _hog
'''


def test_a_forward_that_holds_the_gil_and_ignores_signals_is_bounded_by_the_budget(tmp_path):
    attacker = copy_reference(tmp_path / "attack")
    shutil.rmtree(attacker / "beras")
    (attacker / "bgd" / "hog.py").write_text(GIL_HOG)
    init = attacker / "bgd" / "__init__.py"
    init.write_text(init.read_text() + "\nfrom . import hog  # noqa\n")
    started = time.monotonic()
    _, document = bgd_score(attacker, tmp_path, "--timeout", "0.5", "--budget", "8")
    elapsed = time.monotonic() - started
    assert document["extra_data"]["time"]["student_seconds"] < 12
    assert elapsed < 90, f"grading took {elapsed:.0f} s"
    assert any("FullyConnected" in t["output"] and "timed out" in t["output"] for t in document["tests"])


def sandbox_uid_processes():
    """Processes running as a sandbox uid (the block of harness/sandbox/runtime.py)."""
    return {pid for pid, uid in process.process_owners().items() if UID_BLOCK_START <= uid < UID_BLOCK_START + UID_BLOCK_SIZE}




@needs_root
def test_killing_grade_midway_leaves_no_process_behind(tmp_path):
    attacker = copy_reference(tmp_path / "attack")
    init = attacker / "bgd" / "__init__.py"
    init.write_text(init.read_text() + DAEMON)
    results = tmp_path / "r.json"
    judge = subprocess.Popen(
        [sys.executable, "-m", "harness", "grade", str(attacker), "--results", str(results)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        mine = set()
        while time.monotonic() < deadline and len(mine) < 4:  # both assignments' workers and their daemons
            mine |= {pid for pid in sandbox_uid_processes() if _descends_from_or_daemon(pid, judge.pid)}
            time.sleep(0.05)
        assert mine, "the run never started a worker"
        os.killpg(judge.pid, signal.SIGKILL)  # the judge and its forked twin, as a time limit would
        judge.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(process.is_alive(p) for p in mine):
            time.sleep(0.05)
        assert [p for p in mine if process.is_alive(p)] == []
        assert not results.exists() or json.loads(results.read_text())
    finally:
        if judge.poll() is None:
            judge.kill()




def _descends_from_or_daemon(pid, judge):
    """Whether `pid` is a descendant of `judge` (a daemon too: in the worker's
    PID namespace, orphans are given to its init, a descendant of the judge)."""
    for _ in range(20):
        try:
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
        if ppid == judge:
            return True
        if ppid in (0, 1):
            return False  # not ours: another test's (this run's daemons stay in its PID namespace)
        pid = ppid
    return False


FILLER = '''
import os as _os
try:
    for _n in range(10_000):  # as many 8 MiB files as the temp dir takes
        with open(f"/tmp/fill-{_os.getpid()}-{_n}", "wb") as _f:
            _f.write(b"x" * 8 * 2**20)
except OSError:
    pass
'''


@needs_root
def test_attackers_and_hangers_graded_at_once_change_nothing_for_the_others(tmp_path):
    """A batch of three graded at the same time, as `batch` does: one stops
    every process it can and fills the temp dir, one hangs in every forward;
    the honest one's results equal its results graded alone."""
    honest = copy_reference(tmp_path / "honest")
    shutil.rmtree(honest / "beras")
    alone, alone_document = bgd_score(honest, tmp_path)
    attacker = copy_reference(tmp_path / "attacker")
    init = attacker / "bgd" / "__init__.py"
    init.write_text(init.read_text() + FILLER + STOPPER)
    hanger = copy_reference(tmp_path / "hanger")
    (hanger / "bgd" / "hog.py").write_text(GIL_HOG)
    init = hanger / "bgd" / "__init__.py"
    init.write_text(init.read_text() + "\nfrom . import hog  # noqa\n")
    runs = {}
    for name, folder, extra in (
        ("attacker", attacker, []), ("hanger", hanger, ["--timeout", "0.5", "--budget", "5"]), ("honest", honest, []),
    ):
        command = [sys.executable, "-m", "harness", "grade", str(folder), "--results", str(tmp_path / f"batch-{name}.json"),
                   "--assignment", "bgd", "--seed", "5", *extra]
        runs[name] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for name, run in runs.items():
        _, stderr = run.communicate(timeout=300)
        assert run.returncode in (0, 1), (name, stderr)
    together = json.loads((tmp_path / "batch-honest.json").read_text())
    assert [(t["name"], t["status"], t["score"]) for t in together["tests"]] == [
        (t["name"], t["status"], t["score"]) for t in alone_document["tests"]
    ]
    assert together["score"] == alone == alone_document["extra_data"]["max_score"]
    assert not list(Path("/tmp").glob("fill-*"))


@needs_root
def test_a_batch_with_attackers_and_hangers_grades_the_others_exactly_as_alone(tmp_path):
    """`python -m harness batch` over four submissions, half of them hostile:
    one stops every process it can and fills the temp dir, one holds the GIL
    in every forward. Each honest submission's results (every check, status
    and score, on the seed the batch drew for it) equal its grading alone."""
    classroom = tmp_path / "class"
    honest = []
    for name in ("honest-a", "honest-b"):
        folder = copy_reference(classroom / name)
        shutil.rmtree(folder / "beras")
        honest.append(name)
    attacker = copy_reference(classroom / "attacker")
    init = attacker / "bgd" / "__init__.py"
    init.write_text(init.read_text() + FILLER + STOPPER)
    hanger = copy_reference(classroom / "hanger")
    (hanger / "bgd" / "hog.py").write_text(GIL_HOG)
    init = hanger / "bgd" / "__init__.py"
    init.write_text(init.read_text() + "\nfrom . import hog  # noqa\n")
    for folder in (attacker, hanger):  # a bgd class: every submission holds bgd alone
        shutil.rmtree(folder / "beras")
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "harness", "batch", str(classroom), "--out", str(out), "-n", "2",
                          "--seed", "11", "--timeout", "1", "--budget", "20"],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    for name in honest:
        together = json.loads((out / name / "results.json").read_text())
        seed = together["extra_data"]["seed"]
        alone = tmp_path / f"alone-{name}.json"
        subprocess.run([sys.executable, "-m", "harness", "grade", str(classroom / name), "--results", str(alone),
                        "--seed", str(seed), "--timeout", "1", "--budget", "20"],
                       capture_output=True, text=True, timeout=600)
        alone_document = json.loads(alone.read_text())
        assert [(t["name"], t["status"], t["score"]) for t in together["tests"]] == [
            (t["name"], t["status"], t["score"]) for t in alone_document["tests"]
        ], name
        assert together["score"] == alone_document["score"] == together["extra_data"]["max_score"]
    assert json.loads((out / "hanger" / "results.json").read_text())["score"] < together["score"]
    assert not list(Path("/tmp").glob("fill-*"))


def _other_checkouts():
    """The project's other git worktrees on this machine (a developer's, a CI runner's main checkout)."""
    root = Path(__file__).resolve().parents[1]
    try:
        listing = subprocess.run(["git", "-C", str(root), "worktree", "list", "--porcelain"],
                                 capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    paths = [Path(line.removeprefix("worktree ")) for line in listing.splitlines() if line.startswith("worktree ")]
    return [str(path) for path in paths if path.resolve() != root and (path / "reference" / "bgd").is_dir()]


@needs_root
@pytest.mark.skipif(not _other_checkouts(), reason="needs another git worktree of the project holding reference/")
def test_another_checkout_of_the_project_is_out_of_the_workers_sight(tmp_path):
    # The judge hides its own project folder and its reference; a second
    # worktree of the same repository (readable by everyone, as a clone
    # often is) holds the same reference/.
    stub, _ = bgd_score(materialise_zero_stub(tmp_path / "stub"), tmp_path)
    loot = [os.path.join(path, "reference") for path in _other_checkouts()]
    attack, _ = bgd_score(hijacking_stub(tmp_path / "attack", loot), tmp_path)
    assert attack == stub


def test_what_the_reference_is_asked_never_depends_on_the_submission(tmp_path, monkeypatch):
    # The reference runs in the judge's process (harness/in_process.py) without
    # time or memory limits: no value a submission returns may reach it (a
    # shape, a count, an array). Every request it gets while a submission that
    # answers wrongly everywhere is graded is one it also gets grading itself.
    import hashlib

    from harness import memo
    from harness.in_process import InProcessEngine

    log = tmp_path / "reference-requests"
    asked = InProcessEngine.run

    def logged(self, ops, timeout=None):
        ops = list(ops)
        key = memo.request_key(ops) or hashlib.sha256(repr(ops).encode()).hexdigest()  # refs: by their handles
        with open(log, "a") as stream:  # the forked grading process appends too
            stream.write(key + "\n")
        return asked(self, ops, timeout)

    monkeypatch.setattr(InProcessEngine, "run", logged)

    def requests_grading(folder):
        log.unlink(missing_ok=True)
        run_checks(folder, ["bgd"], 5)
        return set(log.read_text().split())

    own = requests_grading(REFERENCE_DIR)
    stub = materialise_zero_stub(tmp_path / "stub")
    # Wrong in every way: NaN, a huge output, SystemExit, KeyboardInterrupt.
    stub_layers = stub / "bgd" / "layers"
    for module, body in [("fc.py", "return np.full((len(X), 2**18), np.nan)"), ("conv2d.py", "raise SystemExit(3)"),
                         ("flatten.py", "raise KeyboardInterrupt")]:
        path = stub_layers / module
        text = path.read_text()
        start = text.index("def _forward(self, X):")
        end = text.index("\n    def ", start + 1)
        path.write_text(text[:start] + f"def _forward(self, X):\n        {body}\n" + text[end:])
    hostile = requests_grading(stub)
    assert own and hostile and hostile <= own
