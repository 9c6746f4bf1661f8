"""Attacks on the separation between sandboxes and on the judge's lifetime
(harness/SECURITY.md, "Separation" and "Lifetime"). Each attack is run beside
a control that differs only by the attack and shows the attacking code works
where it is allowed to.

The kernel separation needs root (a uid per sandbox, namespaces); as another
user these tests are skipped, and SECURITY.md says what holds then.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.sandbox import Limits, Sandbox, process

ROOT = Path(__file__).resolve().parents[1]
IS_ROOT = os.getuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="kernel separation (uids, namespaces) needs a root judge")

SPY = '''
import ctypes, glob, json, os, signal, sys, time


def read_others(own_marker):
    """Every file of another sandbox this process can read, and every process it can signal."""
    readable, signalled = [], []
    here = os.path.realpath(os.getcwd())
    candidates = set(glob.glob("/tmp/harness-sandbox-*/work/*/*.py"))
    candidates |= set(glob.glob("/tmp/harness-sandbox-*/work/*.py"))
    for pid in os.listdir("/proc"):  # the other workers' command lines name their folders
        try:
            config = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")[-2]
            work = json.loads(config)["workdir"]
            candidates |= set(glob.glob(work + "/*/*.py"))
        except Exception:
            pass
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)  # may we signal it? (SIGSTOP it again and again, say)
                status = open(f"/proc/{pid}/status").read()
                if "Uid:\\t%d" % os.getuid() not in status:
                    signalled.append(int(pid))
            except Exception:
                pass
    for path in sorted(candidates):
        if os.path.realpath(path).startswith(here + "/"):
            continue
        try:
            with open(path) as f:
                if own_marker not in f.read():
                    readable.append(path)
        except OSError:
            pass
    return {"readable": readable, "signalled": signalled, "candidates": len(candidates)}


def read_own():
    return open(os.path.join(os.getcwd(), "spy", "__init__.py")).read()[:20]


def overwrite_own():
    with open(os.path.join(os.getcwd(), "spy", "__init__.py"), "a") as f:
        f.write("# poisoned")


def fill_tmp(megabytes):
    """Write `megabytes` MiB into /tmp; how many got written."""
    written = 0
    try:
        for n in range(megabytes):  # many files: one file is bounded anyway (RLIMIT_FSIZE)
            with open(f"/tmp/filler{n // 8}", "ab") as f:
                f.write(b"x" * 2**20)
            written += 1
    except OSError as error:
        return {"written": written, "error": error.strerror}
    return {"written": written, "error": ""}


def shm_segment():
    """A System V shared-memory segment (IPC_PRIVATE, 1 MiB); its id."""
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.shmget(0, 2**20, 0o1000 | 0o600)


def listed_segments():
    return open("/proc/sysvipc/shm").read().splitlines()[1:]


def leave_a_daemon():
    """What a hostile student leaves behind: a setsid daemon, an orphan, no
    subreaper flag, and a worker that no longer notices its parent."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 0, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER off
    os.getppid = lambda: 1
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            time.sleep(120)
        os._exit(0)
    time.sleep(0.2)
    return os.getpid()
'''


def spy_submission(folder, marker):
    (folder / "spy").mkdir(parents=True)
    (folder / "spy" / "__init__.py").write_text(f"# {marker}\n" + SPY)
    return folder


@pytest.fixture
def two_sandboxes(tmp_path):
    """A student's sandbox and a reference-like one beside it, both started."""
    victim = Sandbox(spy_submission(tmp_path / "victim", "VICTIM"), graded=("spy",))
    student = Sandbox(spy_submission(tmp_path / "student", "STUDENT"), graded=("spy",))
    try:
        victim.start()
        student.start()
        yield student, victim
    finally:
        student.close()
        victim.close()


@needs_root
def test_every_sandbox_runs_as_a_uid_of_its_own(two_sandboxes):
    student, victim = two_sandboxes
    assert student.worker_info["uid"] != victim.worker_info["uid"]
    assert 0 not in (student.worker_info["uid"], victim.worker_info["uid"])


@needs_root
def test_another_sandboxs_code_cannot_be_read_or_its_worker_signalled(two_sandboxes):
    student, victim = two_sandboxes
    found = student.call("spy.read_others", "STUDENT")
    assert found["readable"] == [] and found["signalled"] == []
    # Control: the same code reads its own copy.
    assert student.call("spy.read_own").startswith("# STUDENT")


@needs_root
def test_another_sandboxs_code_cannot_be_read_even_from_the_same_namespace(two_sandboxes):
    """Where mounts are not allowed (a container without CAP_SYS_ADMIN) the
    other sandbox's folder is in sight; its permissions must still hold. The
    judge (root) reads the victim's files through the student's uid."""
    student, victim = two_sandboxes
    secret = next(victim.workdir.glob("spy/*.py"))
    uid = student.worker_info["uid"]
    probe = subprocess.run(
        [sys.executable, "-c", f"import os; os.setgid({uid}); os.setuid({uid}); open({str(secret)!r}).read()"],
        capture_output=True, text=True,
    )
    assert probe.returncode != 0 and "PermissionError" in probe.stderr
    control = subprocess.run([sys.executable, "-c", f"open({str(secret)!r}).read()"], capture_output=True)
    assert control.returncode == 0


@needs_root
def test_the_worker_cannot_change_its_own_code_for_the_next_worker(two_sandboxes):
    student, _ = two_sandboxes
    [attack] = student.run([{"op": "call", "function": "spy.overwrite_own"}])
    assert not attack.ok and attack.error.type == "PermissionError"
    student.restart()
    assert not (student.workdir / "spy" / "__init__.py").read_text().endswith("# poisoned")


@needs_root
def test_filling_the_temp_dir_fills_only_the_workers_own(tmp_path):
    with Sandbox(spy_submission(tmp_path / "s", "S"), graded=("spy",)) as sandbox:
        sandbox.start()
        if "tmp" not in sandbox.worker_info.get("isolation", []):
            pytest.skip("no private temp dir here (no mount namespace)")
        control = sandbox.call("spy.fill_tmp", 1)
        assert control == {"written": 1, "error": ""}
        attack = sandbox.call("spy.fill_tmp", 4096)
        assert attack["written"] < 100 and "space" in attack["error"]
        assert not Path("/tmp/filler0").exists()  # the judge's temp dir never saw it


@needs_root
def test_a_shared_memory_segment_dies_with_the_sandbox(tmp_path):
    host_before = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    with Sandbox(spy_submission(tmp_path / "s", "S"), graded=("spy",)) as sandbox:
        sandbox.start()
        if "ipc" not in sandbox.worker_info.get("isolation", []):
            pytest.skip("no IPC namespace here")
        before = sandbox.call("spy.listed_segments")
        segment = sandbox.call("spy.shm_segment")
        assert segment >= 0 and len(sandbox.call("spy.listed_segments")) == len(before) + 1  # control: it exists
        assert Path("/proc/sysvipc/shm").read_text().splitlines()[1:] == host_before  # not on the host
    assert Path("/proc/sysvipc/shm").read_text().splitlines()[1:] == host_before


JUDGE = """
import sys, time
from harness.sandbox import Limits, Sandbox, process
sandbox = Sandbox(sys.argv[1], Limits(namespaces=sys.argv[2] == "namespaces"), graded=("spy",))
sandbox.call("spy.leave_a_daemon")
time.sleep(0.3)
print(" ".join(map(str, sorted(process.sandbox_processes(sandbox.worker_pid, owner=sandbox.identity.uid if sandbox.identity.lease else None)))), flush=True)
time.sleep(120)
"""




@pytest.mark.parametrize("mode", ["namespaces", "no namespaces"])
def test_killing_the_judge_kills_every_worker_process(tmp_path, mode):
    """SIGKILL the judge (as Gradescope does at its time limit) while the
    student has left a setsid daemon and turned off what the judge relied on
    before (the subreaper flag, the worker's own watch of its parent). With
    namespaces the PID namespace dies; without (a container without
    CAP_SYS_ADMIN) the guard kills every process of the sandbox's uid."""
    judge = subprocess.Popen(
        [sys.executable, "-c", JUDGE, str(spy_submission(tmp_path / "s", "S")), mode],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True,
    )
    try:
        pids = [int(p) for p in judge.stdout.readline().split()]
        assert len(pids) >= 2 and all(process.is_alive(p) for p in pids)  # guard, worker, and what the student left
        judge.kill()
        judge.wait()
        deadline = time.monotonic() + 5
        while any(process.is_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = [p for p in pids if process.is_alive(p)]
        if not IS_ROOT:
            pytest.xfail(f"without a PID namespace a setsid daemon outlives its guard: {survivors}")
        assert survivors == []
    finally:
        judge.kill()
        for pid in pids if "pids" in locals() else []:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


@pytest.mark.parametrize("namespaces", [True, False])
def test_closing_the_sandbox_kills_the_daemon_too(tmp_path, namespaces):
    """Control for the judge-death test: the same daemon, the judge alive."""
    with Sandbox(spy_submission(tmp_path / "s", "S"), Limits(namespaces=namespaces), graded=("spy",)) as sandbox:
        sandbox.call("spy.leave_a_daemon")
        time.sleep(0.3)
        pids = process.sandbox_processes(sandbox.worker_pid, owner=sandbox.identity.uid if IS_ROOT else None)
        assert len(pids) >= 3 or not IS_ROOT
    deadline = time.monotonic() + 3
    while any(process.is_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(process.is_alive(p) for p in pids)
