"""Workers forked from the zygote (harness/sandbox/zygote.py) are workers like
exec'd ones: the same isolation, nothing of the judge's or of the zygote's
besides numpy, and gone with their sandbox; grading uses the zygote, and
grades the same without it."""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.sandbox import Limits, Sandbox, start_zygote, zygote

ROOT = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent(
    """
    import os
    import sys


    def environment_block():
        try:
            with open("/proc/self/environ", "rb") as stream:
                return stream.read().decode("utf-8", "replace")
        except PermissionError:  # as another uid than root, the block is not even readable
            return ""


    def descriptors():
        return sorted(int(name) for name in os.listdir("/proc/self/fd"))


    def modules():
        return sorted(name for name in sys.modules if name.split(".")[0] in ("harness", "pytest", "reference"))
    """
)


@pytest.fixture
def probe(tmp_path):
    folder = tmp_path / "submission"
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "__init__.py").write_text("")
    (folder / "pkg" / "probe.py").write_text(PROBE)
    return folder


@pytest.fixture
def forking(monkeypatch):
    monkeypatch.setenv("GRADECHECK_JUDGE_SECRET", "the-judge-s-environment")  # started after this: must not pass on
    started = start_zygote(1)
    zygote.use(started.connections[0])
    yield started
    zygote.use(None)
    started.close()


def test_a_forked_worker_is_isolated_like_an_execd_one(probe, forking):
    zygote.use(None)
    with Sandbox(probe) as execd:
        execd_info, execd_fds = execd.worker_info if execd.start() is not None else {}, execd.call("pkg.probe.descriptors")
    zygote.use(forking.connections[0])
    with Sandbox(probe) as forked:
        forked.start()
        assert isinstance(forked._resources.worker.popen, zygote.ForkedWorker)  # it did come from the zygote
        info = forked.worker_info
        for key in ("isolation", "paths_hidden", "network_isolated", "numpy"):
            assert info[key] == execd_info[key], key
        if os.getuid() == 0:
            assert info["uid"] != 0 and info["uid"] != execd_info["uid"]
        # Nothing of the judge's environment, in os.environ or in the process's own block.
        block = forked.call("pkg.probe.environment_block")
        assert "GRADECHECK_JUDGE_SECRET" not in block and "the-judge-s-environment" not in block
        assert forked.call("os.getenv", "GRADECHECK_JUDGE_SECRET", "") == ""
        assert forked.call("os.getenv", "HOME") == forked.call("os.getenv", "TMPDIR") == str(forked._layout.tmp)
        # No descriptor an exec'd worker lacks: the zygote's sockets are closed.
        assert len(forked.call("pkg.probe.descriptors")) == len(execd_fds)
        # No judge code loaded; numpy is.
        assert forked.call("pkg.probe.modules") == []
        assert forked.call("numpy.add", 1, 2) == 3


def test_a_forked_worker_that_dies_is_reported_and_replaced(probe, forking):
    (probe / "pkg" / "crash.py").write_text("import os\n\ndef die():\n    os.kill(os.getpid(), 9)\n")
    with Sandbox(probe, Limits(timeout=5)) as sandbox:
        first = sandbox.worker_pid if sandbox.start() is not None else None
        assert first is not None
        [dead] = sandbox.run([{"op": "call", "function": "pkg.crash.die"}])
        assert not dead.ok and dead.error.kind == "crash", dead.error
        assert sandbox.call("numpy.add", 2, 2) == 4  # a fresh worker, from the zygote again
        assert isinstance(sandbox._resources.worker.popen, zygote.ForkedWorker)


def test_the_zygote_leaves_when_its_connections_close():
    started = start_zygote(2)
    pid = started.popen.pid
    started.close()
    assert started.popen.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_sandbox_starts_by_exec_when_the_zygote_is_gone(probe):
    started = start_zygote(1)
    zygote.use(started.connections[0])
    try:
        started.popen.kill()
        started.popen.wait()
        with Sandbox(probe) as sandbox:
            assert sandbox.call("numpy.add", 1, 1) == 2
            assert not isinstance(sandbox._resources.worker.popen, zygote.ForkedWorker)
    finally:
        zygote.use(None)
        started.close()


def test_grading_forks_its_sandboxes_and_grades_the_same_without(tmp_path):
    def grade(zygote_setting):
        results = tmp_path / f"results-{zygote_setting}.json"
        env = {**os.environ, "GRADECHECK_ZYGOTE": zygote_setting}
        started = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "harness", "grade", str(ROOT / "reference"), "--results", str(results),
             "--seed", "7", "--assignment", "beras"],
            cwd=ROOT, env=env, capture_output=True, text=True,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        document = json.loads(results.read_text())
        return {t["name"]: t["status"] for t in document["tests"]}, document["score"], time.monotonic() - started

    forked, forked_score, _ = grade("on")
    execd, execd_score, _ = grade("off")
    assert forked == execd and forked_score == execd_score
    assert all(status == "passed" for status in forked.values())


# ---------------------------------------------------------------- started early (zygote.prestart)


def test_the_zygote_module_imports_no_numpy():
    """`python -m harness grade` starts the zygote before its own imports: only
    then does the zygote's `import numpy` overlap the judge's."""
    code = "import sys; import harness.sandbox.zygote; print('numpy' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


def assert_sandboxes_fork_through(connection, probe):
    """A sandbox started while `connection` is the one in use is forked through it, and works."""
    zygote.use(connection)
    try:
        with Sandbox(probe) as sandbox:
            assert sandbox.call("numpy.add", 2, 3) == 5
            assert isinstance(sandbox._resources.worker.popen, zygote.ForkedWorker)
    finally:
        zygote.use(None)


def test_a_prestarted_zygote_is_taken_with_the_connections_asked_for(probe, monkeypatch):
    monkeypatch.setattr(zygote, "_prestarted", None)
    zygote.prestart(2)
    taken = zygote.take_prestarted(1)
    assert taken is not None and len(taken.connections) == 1
    assert zygote.take_prestarted(1) is None  # once
    try:
        assert_sandboxes_fork_through(taken.connections[0], probe)
    finally:
        taken.close()
    assert taken.popen.returncode is not None


def test_a_prestarted_zygote_with_too_few_connections_is_closed(monkeypatch):
    monkeypatch.setattr(zygote, "_prestarted", None)
    zygote.prestart(1)
    started = zygote._prestarted
    assert zygote.take_prestarted(2) is None
    assert started.popen.returncode is not None  # closed and reaped


def test_a_prestarted_zygote_never_taken_leaves_with_the_process():
    code = "from harness.sandbox import zygote; zygote.prestart(2); print(zygote._prestarted.popen.pid)"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    pid = int(run.stdout)
    with pytest.raises(ProcessLookupError):  # reaped at exit, not merely killed
        os.kill(pid, 0)


def test_no_zygote_is_prestarted_when_zygotes_are_off(monkeypatch):
    monkeypatch.setattr(zygote, "_prestarted", None)
    monkeypatch.setenv("GRADECHECK_ZYGOTE", "off")
    zygote.prestart(2)
    assert zygote._prestarted is None


def test_workers_forked_from_the_zygote_do_not_share_its_random_state(probe, forking):
    """The zygote has numpy.random loaded: each child is reseeded from the OS's
    entropy, as an exec'd worker is, so unseeded draws differ from worker to worker."""
    draws = []
    for _ in range(3):
        with Sandbox(probe) as sandbox:
            draws.append((sandbox.call("numpy.random.rand"), sandbox.call("random.random")))
            assert isinstance(sandbox._resources.worker.popen, zygote.ForkedWorker)
    assert len({numpy_draw for numpy_draw, _ in draws}) == 3
    assert len({python_draw for _, python_draw in draws}) == 3


def test_a_new_connection_starts_sandboxes_from_the_same_zygote(probe):
    """A batch's gradings each take a connection of their own to the batch's
    zygote (`Connection.connect`): sandboxes start through it, and the zygote
    stays until every connection is closed."""
    started = start_zygote(1)
    pid = started.popen.pid
    joined = zygote.Zygote.joined(started.connections[0].connect())
    assert_sandboxes_fork_through(joined.connections[0], probe)
    started.close(wait=False)  # the first connection closed: the joined one keeps the zygote
    time.sleep(0.2)
    assert started.popen.poll() is None
    joined.close()  # not its owner: closes the connection, never waits
    started.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
