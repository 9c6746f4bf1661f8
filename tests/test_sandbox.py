"""The sandbox: ordinary use, then every way a submission can misbehave.

Each test writes a tiny fake submission; none needs the real beras/bgd.
"""

import json
import os
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from harness.sandbox import (
    KiB,
    Limits,
    MiB,
    Over,
    ProtocolError,
    Ref,
    RemoteError,
    Sandbox,
    SandboxError,
    StaleRefError,
    process,
    wire,
)

IS_ROOT = os.getuid() == 0

LAYERS = """
import weakref

import numpy as np


class Tensor(np.ndarray):
    def __new__(cls, x):
        return np.asarray(x).view(cls)

    def __array_finalize__(self, obj):
        self.trainable = getattr(obj, "trainable", True)


class Dense:
    def __init__(self, n_in, n_out):
        self.w = np.arange(n_in * n_out, dtype=float).reshape(n_in, n_out) / 10
        self.b = np.zeros((1, n_out))

    def get_parameters(self):
        return (self.w, self.b)

    @property
    def weights(self):
        return [Tensor(self.w), Tensor(self.b)]

    def forward(self, x):
        self.x = x
        return Tensor(x @ self.w + self.b)

    def backward(self, err):
        return err @ self.w.T, (self.x.T @ err, err.sum(0, keepdims=True))

    def todo(self):
        raise NotImplementedError("Dense.todo: TODO write me")


class Dropout:
    def __init__(self, keep=0.5):
        self.keep = keep

    def forward(self, x):
        return x * (np.random.rand(*x.shape) < self.keep) / self.keep


def say(text):
    print(text)
    return len(text)


class Observer:
    # What a forward can see of the arrays it gets (the tests of replay).

    last = None  # a weak reference to the previous call's output

    def forward(self, x, again):
        seen = [
            x.flags.owndata, x.flags.c_contiguous, x.flags.writeable, x.dtype == np.float64,
            x is not again and np.array_equal(x, again),  # a fresh copy at each use
            Observer.last is not None and Observer.last() is not None,  # the previous output still held?
        ]
        x[...] = -1.0  # scribbling on what it was given changes nothing anyone else gets
        out = np.array(seen, dtype=float)
        Observer.last = weakref.ref(out)
        return out

    def fail_on_negative(self, x):
        if (x < 0).any():
            raise ValueError("negative")
        return x
"""

# Misbehaviour, called by name from the tests.
EVIL = """
import os, signal, struct, sys, time, json
import numpy as np


def spin():
    while True:
        pass


def fork_and_hang():
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    time.sleep(60)


def escape_and_hang():
    pid = os.fork()
    if pid == 0:
        os.setsid()
        grandchild = os.fork()
        if grandchild == 0:
            time.sleep(60)
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
    time.sleep(60)


def background_sleep():
    import subprocess
    return subprocess.Popen(["sleep", "60"]).pid


def fork_many(n):
    pids = []
    try:
        for _ in range(n):
            pid = os.fork()
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            pids.append(pid)
    except OSError as exc:
        return {"pids": pids, "error": str(exc)}
    return {"pids": pids, "error": ""}


def hog_numpy():
    chunks = []
    while True:
        chunks.append(np.ones(10_000_000))


def hog_python():
    return "x" * (10 ** 11)


def shout(megabytes):
    line = "y" * 1023 + "\\n"
    for _ in range(megabytes * 1024):
        sys.stdout.write(line)
    sys.stderr.write("e" * 200_000)
    return "done"


def do_exit(how):
    if how == "sys.exit":
        sys.exit(0)
    if how == "os._exit":
        os._exit(0)
    if how == "SIGKILL":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "KeyboardInterrupt":
        raise KeyboardInterrupt
    if how == "SystemExit":
        raise SystemExit("bye")
    if how == "close-all-fds":
        os.closerange(3, 1024)
        return 1


def fake_protocol():
    body = json.dumps({"id": 1, "index": 0, "ok": True, "value": 100,
                       "elapsed": 0, "stdout": [0, 0], "stderr": [0, 0]}).encode()
    frame = b"SBX1" + struct.pack("<QQ", len(body), 0) + body
    sys.stdout.buffer.write(frame)
    sys.stdout.flush()
    os.write(1, frame)
    os.write(2, frame)
    return 7


def close_std():
    os.close(1)
    os.close(2)
    try:
        print("into the void")
    except OSError:
        pass
    return 1


def write_results():
    score = {"score": 100, "tests": []}
    for path in ("results.json", os.path.join(os.environ["HOME"], "results.json")):
        with open(path, "w") as f:
            json.dump(score, f)
    os._exit(0)


def try_imports():
    import importlib
    found = {}
    for name in ("harness", "harness.sandbox", "reference", "nnmath", "pytest", "numpy"):
        try:
            importlib.import_module(name)
            found[name] = "ok"
        except Exception as exc:
            found[name] = type(exc).__name__
    return {"imports": found, "path": sys.path, "cwd": os.getcwd()}


def environment():
    return dict(os.environ)


def connect():
    import socket
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=2).close()
    except OSError as exc:
        return type(exc).__name__
    return "connected"


def object_array():
    return np.array([object(), 1], dtype=object)


def big_array(n):
    return np.zeros(n)


class BadMessage(Exception):
    def __str__(self):
        raise SystemExit("no message for you")


def bad_message():
    raise BadMessage()


def _forge(blob, value):
    import __main__
    worker = __main__.WORKER
    frame = {"id": worker.request_id, "index": 0, "ok": True, "value": value,
             "elapsed": 0.0, "stdout": [0, 0], "stderr": [0, 0]}
    body = json.dumps(frame).encode()
    worker.channel.send_parts([struct.pack("<4sQQ", b"SBX2", len(body), len(blob)), body, blob])
    time.sleep(30)


def forge_pickle(marker):
    import pickle

    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + marker,))

    data = pickle.dumps(np.array([Boom(), 1], dtype=object))
    head = json.dumps([["a0", "|O", [2]]]).encode()
    _forge(struct.pack("<I", len(head)) + head + data, {"$array": "a0"})


def forge_huge():
    import __main__
    os.write(__main__.WORKER.channel.fd_out, struct.pack("<4sQQ", b"SBX2", 2 ** 40, 0))
    time.sleep(30)
"""


def write_tree(root: Path, files: dict) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def make_submission(root: Path, extra: dict | None = None) -> Path:
    files = {"pkg/__init__.py": "", "pkg/layers.py": LAYERS, "pkg/evil.py": EVIL}
    files.update(extra or {})
    return write_tree(root, files)


def is_dead(pid: int, wait: float = 3.0) -> bool:
    """Gone, or a zombie nobody reaped yet, within `wait` seconds."""
    deadline = time.monotonic() + wait
    while process.is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    with Sandbox(make_submission(tmp_path_factory.mktemp("sub")), Limits(timeout=10)) as sandbox:
        yield sandbox


def small_sandbox(tmp_path, **limits) -> Sandbox:
    return Sandbox(make_submission(tmp_path / "sub"), Limits(**limits))


# ------------------------------------------------------------- ordinary use


def test_new_call_getattr_and_remote_types(sb):
    layer = sb.new("pkg.layers.Dense", 3, 4)
    assert isinstance(layer, Ref) and layer.type == "pkg.layers.Dense"
    x = np.ones((2, 3))
    y = layer.forward(x)
    assert type(y) is np.ndarray  # the Tensor subclass arrives as a plain array
    np.testing.assert_allclose(y, x @ (np.arange(12.0).reshape(3, 4) / 10))
    [result] = sb.run([{"op": "getattr", "target": layer, "name": "weights"}])
    w, b = result.value
    assert w.shape == (3, 4) and b.shape == (1, 4) and type(w) is np.ndarray
    assert result.type_of(0) == "pkg.layers.Tensor"
    assert sb.getattr(layer, "w.shape") == (3, 4)
    sb.setattr(layer, "b", np.full((1, 4), 5.0))
    np.testing.assert_allclose(layer.forward(np.zeros((1, 3))), np.full((1, 4), 5.0))
    scalar = sb.call("numpy.float32", 1.5)
    assert isinstance(scalar, np.ndarray) and scalar.shape == () and scalar.dtype == np.float32
    assert sb.call("pkg.layers.say", "hi") == 2


def test_keep_items_and_assign_write_the_live_parameters(sb):
    layer = sb.new("pkg.layers.Dense", 3, 4)
    w, b = sb.keep_items(layer.get_parameters)
    assert isinstance(w, Ref) and w.type == "numpy.ndarray"
    sb.assign(w, np.ones((3, 4)))
    sb.assign(b, np.full((1, 4), 2.0))
    np.testing.assert_allclose(layer.forward(np.ones((1, 3))), np.full((1, 4), 5.0))
    with pytest.raises(RemoteError, match="shape"):
        sb.assign(w, np.ones((4, 3)))


def test_batch_is_one_request_with_names_pick_and_keep(sb):
    x, err = np.ones((2, 3)), np.ones((2, 4))
    requests_before = sb._request_id
    with sb.batch() as batch:
        layer = batch.new("pkg.layers.Dense", 3, 4)
        params = layer.get_parameters()
        batch.assign(params[0], np.eye(3, 4))
        out = layer.forward(x)
        signal_back = layer.backward(err).pick(0)
        grads = layer.backward(err).pick(1)
        kept = batch.getattr(layer, "w").keep()
    assert sb._request_id == requests_before + 1
    np.testing.assert_allclose(out.value, x @ np.eye(3, 4))
    np.testing.assert_allclose(signal_back.value, err @ np.eye(3, 4).T)
    grad_w, grad_b = grads.value
    np.testing.assert_allclose(grad_w, x.T @ err)
    np.testing.assert_allclose(grad_b, err.sum(0, keepdims=True))
    assert isinstance(kept.value, Ref)
    np.testing.assert_allclose(sb.call("numpy.copy", kept.value), np.eye(3, 4))
    with pytest.raises(SandboxError, match="kept"):
        sb.call("numpy.copy", out)  # not kept: cannot be used after its batch


def test_raw_ops_with_as_names_and_unpacking(sb):
    results = sb.run(
        [
            {"op": "new", "class": "pkg.layers.Dense", "args": [2, 2], "as": "layer"},
            {"op": "call", "target": {"$ref": "layer"}, "method": "get_parameters", "as": ["W", "B"]},
            {"op": "assign", "target": {"$ref": "W"}, "value": np.eye(2)},
            {"op": "call", "target": {"$ref": "layer"}, "method": "forward", "args": [np.ones((1, 2))]},
            {"op": "call", "function": "pkg.layers.say", "args": ["x"], "quiet": True},
        ]
    )
    assert all(r.ok for r in results), [r.error for r in results]
    np.testing.assert_allclose(results[3].value, [[1.0, 1.0]])
    assert results[4].value is None and results[4].stdout == "x\n"
    [bad] = sb.run([{"op": "call", "target": {"$ref": "layer"}, "method": "forward", "args": [1]}])
    assert not bad.ok and bad.error.kind == "request"  # names live for one request only


def test_map_over_an_argument_and_seeds(sb):
    layer = sb.new("pkg.layers.Dense", 3, 2)
    stack = np.random.default_rng(0).normal(size=(5, 4, 3))
    mapped = sb.map(layer.forward, Over(stack))
    assert mapped.shape == (5, 4, 2)
    for k in range(5):
        np.testing.assert_allclose(mapped[k], layer.forward(stack[k]))
    dropout = sb.new("pkg.layers.Dropout", 0.5)
    same = np.ones((4, 3, 8))
    with sb.batch() as batch:
        seeded = batch.map(dropout.forward, Over(same)).seed(3)
        unseeded = batch.map(dropout.forward, x=Over(same))
    assert all(np.array_equal(seeded.value[0], s) for s in seeded.value)
    assert not all(np.array_equal(unseeded.value[0], s) for s in unseeded.value)


def test_map_into_perturbs_a_parameter_and_restores_it(sb):
    with sb.batch() as batch:
        layer = batch.new("pkg.layers.Dense", 2, 2)
        params = layer.get_parameters()
        batch.assign(params[0], np.zeros((2, 2)))
        stack = np.stack([np.eye(2) * k for k in range(4)])
        mapped = batch.map_into(params[0], stack, layer.forward, np.ones((1, 2)))
        after = batch.getattr(layer, "w")
    assert mapped.ok, mapped.result.error
    np.testing.assert_allclose(mapped.value[:, 0, :], [[k, k] for k in range(4)])
    np.testing.assert_allclose(after.value, np.zeros((2, 2)))


def test_map_reports_bad_evaluations(sb):
    [r] = sb.run(
        [
            {
                "op": "map",
                "target": None,
                "function": "numpy.array_repr",
                "args": [None],
                "stack": np.ones((2, 1, 2)),
                "arg_index": 0,
            }
        ]
    )
    assert not r.ok and "not an array of numbers" in r.error.message
    [r] = sb.run(
        [
            {
                "op": "map",
                "target": None,
                "function": "numpy.ones",
                "args": [None],
                "stack": np.array([1, 2]),
                "arg_index": 0,
            }
        ]
    )
    assert not r.ok and "shape" in r.error.message


def test_replay_runs_its_ops_once_per_slice_as_a_request_would(sb):
    """Each slice: its own object, the slice as a fresh, owned, C-contiguous,
    writable float64 array at every use, nothing of the earlier slices held."""
    stack = np.random.default_rng(0).normal(size=(5, 3, 2))

    def record(body, slot):
        observer = body.new("pkg.layers.Observer")
        return [observer.forward(slot, slot), body.call("numpy.array", slot), body.new("pkg.layers.Observer")]

    with sb.batch() as batch:
        replayed = batch.replay(stack, record)
    assert replayed.ok, replayed.result.error
    assert len(replayed.value) == 5
    for k, (seen, value, observer) in enumerate(replayed.value):
        np.testing.assert_array_equal(seen, [1, 1, 1, 1, 1, 0])
        np.testing.assert_array_equal(value, stack[k])
        assert isinstance(observer, Ref)  # objects are kept, as a request keeps them
    assert len({observer.handle for _, _, observer in replayed.value}) == 5


def test_replay_fails_with_the_first_error_of_an_evaluation(sb):
    stack = np.stack([np.ones((2, 2)), -np.ones((2, 2)), np.ones((2, 2))])
    with sb.batch() as batch:
        replayed = batch.replay(stack, lambda body, slot: [body.new("pkg.layers.Observer").fail_on_negative(slot)])
        after = batch.call("numpy.array", 1.0)
    assert not replayed.ok and replayed.result.error.type == "ValueError"
    assert replayed.result.error.where.endswith("Observer.fail_on_negative")
    assert after.result.skipped


def test_not_implemented_error_reaches_the_judge_intact(sb):
    layer = sb.new("pkg.layers.Dense", 2, 2)
    first, second = sb.run(
        [
            {"op": "call", "target": layer, "method": "todo"},
            {"op": "call", "target": layer, "method": "forward", "args": [np.ones((1, 2))]},
        ]
    )
    assert not first.ok
    assert first.error.type == "NotImplementedError"
    assert first.error.message == "Dense.todo: TODO write me"
    assert first.error.kind == "exception"
    assert 'File "pkg/layers.py"' in first.error.traceback
    assert "worker.py" not in first.error.traceback
    assert second.skipped and not second.ok
    with pytest.raises(RemoteError, match="NotImplementedError: Dense.todo"):
        layer.todo()


def test_an_exception_whose_message_fails_is_still_an_error(sb):
    [r] = sb.run([{"op": "call", "function": "pkg.evil.bad_message"}])
    assert not r.ok and r.error.type.endswith("BadMessage")


def test_output_is_captured_per_op(sb):
    a, b = sb.run(
        [
            {"op": "call", "function": "pkg.layers.say", "args": ["first"]},
            {"op": "call", "function": "pkg.layers.say", "args": ["second"]},
        ]
    )
    assert (a.stdout, b.stdout) == ("first\n", "second\n")


def test_refs_are_stale_after_a_restart(sb):
    layer = sb.new("pkg.layers.Dense", 2, 2)
    sb.restart()
    with pytest.raises(StaleRefError):
        layer.forward(np.ones((1, 2)))
    assert sb.new("pkg.layers.Dense", 2, 2).generation == layer.generation + 1


def test_startup_and_round_trip_time(sb, capsys):
    sb.restart()
    startup = sb.start()
    x = np.random.default_rng(1).normal(size=(100, 100))
    times = []
    for _ in range(30):
        started = time.perf_counter()
        back = sb.call("numpy.asarray", x)
        times.append(time.perf_counter() - started)
    np.testing.assert_array_equal(back, x)
    with capsys.disabled():
        print(
            f"\nsandbox: startup {startup * 1e3:.0f} ms, "
            f"100x100 float64 round trip {np.median(times) * 1e3:.2f} ms (median)"
        )
    assert startup < 10 and np.median(times) < 0.05


# -------------------------------------------------------------- isolation


def test_worker_cannot_import_the_project_or_the_judges_packages(sb):
    found = sb.call("pkg.evil.try_imports")
    assert found["imports"] == {
        "harness": "ModuleNotFoundError",
        "harness.sandbox": "ModuleNotFoundError",
        "reference": "ModuleNotFoundError",
        "nnmath": "ModuleNotFoundError",
        "pytest": "ModuleNotFoundError",
        "numpy": "ok",
    }
    project = str(Path(__file__).resolve().parents[1])
    assert not any(p.startswith(project) or "site-packages" in p for p in found["path"])
    assert found["cwd"] == str(sb.workdir)


def test_environment_is_scrubbed(tmp_path, monkeypatch):
    monkeypatch.setenv("JUDGE_SECRET", "hunter2")
    with small_sandbox(tmp_path) as sandbox:
        env = sandbox.call("pkg.evil.environment")
    assert "JUDGE_SECRET" not in env
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["HOME"].startswith(str(Path(sandbox.workdir).parent))


@pytest.mark.skipif(not IS_ROOT, reason="privileges are only dropped when the judge is root")
def test_runs_unprivileged_without_network(sb):
    assert sb.worker_info["uid"] != 0
    assert sb.call("os.getuid") != 0 and sb.call("os.getgroups") == []
    assert sb.worker_info["network_isolated"]
    assert sb.call("pkg.evil.connect") != "connected"


@pytest.mark.skipif(not IS_ROOT, reason="the project is hidden in a mount namespace, which needs root")
def test_the_project_is_hidden_even_from_an_explicit_path(sb):
    """Not only `import harness`: no read of the reference solutions at all."""
    project = Path(__file__).resolve().parents[1]
    sb.start()
    assert sb.worker_info["paths_hidden"]
    # An empty tmpfs lists as empty; in a private (0700) clone the unprivileged
    # worker cannot even enter the folder above it: hidden just as well.
    [listing] = sb.run([{"op": "call", "function": "os.listdir", "args": [str(project)]}])
    # A clone under the temp dir is not even there (the worker's temp dir is its own).
    assert (listing.ok and listing.value == []) or (
        not listing.ok and listing.error.type in ("PermissionError", "FileNotFoundError")
    )
    [read] = sb.run([{"op": "call", "function": "io.open", "args": [str(project / "reference" / "nnmath.py")]}])
    assert not read.ok and read.error.type in ("FileNotFoundError", "PermissionError")
    sb.call("sys.path.append", str(project))
    [imported] = sb.run([{"op": "import", "module": "harness.numerics"}])
    assert not imported.ok and imported.error.type == "ModuleNotFoundError"


def test_student_results_json_stays_in_the_sandbox(tmp_path, monkeypatch):
    judge_dir = tmp_path / "judge"
    judge_dir.mkdir()
    monkeypatch.chdir(judge_dir)
    with small_sandbox(tmp_path) as sandbox:
        [r] = sandbox.run([{"op": "call", "function": "pkg.evil.write_results"}])
        if IS_ROOT:  # the worker's copy of the submission is read-only to it (and, in a mount namespace, every disk)
            assert not r.ok and (r.error.type == "PermissionError" or "Read-only file system" in r.error.message)
        else:  # it may write its own copy, and nothing else
            assert not r.ok and r.error.kind == "crash"
            assert (sandbox.workdir / "results.json").exists()
    assert list(judge_dir.iterdir()) == []


def test_symlinks_and_caches_in_a_submission_are_not_copied(tmp_path):
    secret = tmp_path / "judge-secret.txt"
    secret.write_text("answers")
    root = make_submission(tmp_path / "sub")
    (root / "pkg" / "secret.txt").symlink_to(secret)
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "layers.cpython-311.pyc").write_bytes(b"junk")
    (root / "pkg" / "__pycache__" / "planted.cpython-311.pyc").write_bytes(b"junk")
    with Sandbox(root) as sandbox:
        assert not (sandbox.workdir / "pkg" / "secret.txt").exists()
        # Only the judge's own bytecode of the copied sources (runtime.compile_beside), none of the submission's.
        cached = sandbox.workdir / "pkg" / "__pycache__"
        assert {p.name for p in cached.iterdir()} <= {f"{s.stem}.{sys.implementation.cache_tag}.pyc"
                                                      for s in (sandbox.workdir / "pkg").glob("*.py")}
        assert all(p.read_bytes() != b"junk" for p in cached.iterdir())
        assert sandbox.new("pkg.layers.Dense", 1, 1).type == "pkg.layers.Dense"
    with pytest.raises(SandboxError, match="larger"):
        Sandbox(root, Limits(submission_bytes=100))


def test_only_the_graded_packages_and_what_they_import_are_copied(tmp_path):
    """A scratch random.py beside the packages must not shadow the standard library;
    a top-level helper module that a graded package imports comes along."""
    root = make_submission(tmp_path / "sub")
    (root / "random.py").write_text("raise RuntimeError('a scratch file')\n")
    (root / "notes.txt").write_text("not code")
    (root / "helper.py").write_text("import json\nTWICE = 2\n")
    (root / "pkg" / "uses_helper.py").write_text("import helper\n\ndef twice(x):\n    return helper.TWICE * x\n")
    with Sandbox(root, graded=("pkg",)) as sandbox:
        assert sorted(p.name for p in sandbox.workdir.iterdir() if p.name != "__pycache__") == ["helper.py", "pkg"]
        assert sandbox.call("pkg.uses_helper.twice", 3) == 6
        assert 0 <= sandbox.call("random.random") < 1  # numpy.random and the stdlib's, not the scratch file


def test_an_error_names_the_submission_function_it_arose_in(sb):
    layer = sb.new("pkg.layers.Dense", 2, 3)
    [r] = sb.run([{"op": "call", "target": layer, "method": "todo"}])
    assert not r.ok and r.error.where == "pkg.layers:Dense.todo", r.error


# --------------------------------------------------------------- limits


def test_infinite_loop_times_out_and_the_next_request_works(tmp_path):
    with small_sandbox(tmp_path, timeout=1.0) as sandbox:
        layer = sandbox.new("pkg.layers.Dense", 2, 2)
        old_pid = sandbox.worker_pid
        started = time.monotonic()
        first, second = sandbox.run(
            [
                {"op": "call", "function": "pkg.evil.spin"},
                {"op": "call", "function": "pkg.layers.say", "args": ["never"]},
            ]
        )
        assert time.monotonic() - started < 3
        assert first.error.kind == "timeout" and "1 s" in first.error.message
        assert second.skipped
        assert is_dead(old_pid)
        assert sandbox.call("pkg.layers.say", "again") == 5
        assert sandbox.worker_pid != old_pid
        with pytest.raises(StaleRefError):
            layer.forward(np.ones((1, 2)))


def test_a_crash_is_blamed_on_the_op_that_was_running(tmp_path):
    """Replies travel together at the end of a request; a worker that dies
    mid-request still names the op it died in (the progress file)."""
    with small_sandbox(tmp_path, timeout=1.0) as sandbox:
        results = sandbox.run(
            [
                {"op": "call", "function": "pkg.layers.say", "args": ["first"]},
                {"op": "call", "function": "pkg.layers.say", "args": ["second"]},
                {"op": "call", "function": "pkg.evil.spin"},
                {"op": "call", "function": "pkg.layers.say", "args": ["never"]},
            ]
        )
    assert [r.error.kind for r in results] == ["skipped", "skipped", "timeout", "skipped"]
    assert "lost" in results[0].error.message and "op 2" in results[0].error.message


@pytest.mark.parametrize("function", ["fork_and_hang", "escape_and_hang"])
def test_timeout_kills_the_processes_the_student_started(tmp_path, function):
    with small_sandbox(tmp_path, timeout=1.5) as sandbox:
        worker = sandbox.start() and sandbox.worker_pid
        started = len(processes_of(sandbox))
        seen = set()

        def watch():  # the student's processes, as the judge's machine sees them, while they live
            while not r_box:
                seen.update(processes_of(sandbox))
                time.sleep(0.05)

        r_box = []
        watcher = threading.Thread(target=watch)
        watcher.start()
        r_box += sandbox.run([{"op": "call", "function": f"pkg.evil.{function}"}])
        watcher.join()
        assert r_box[0].error.kind == "timeout"
        assert len(seen) > started  # the child (or grandchild) was there
        assert is_dead(worker) and all(is_dead(pid) for pid in seen)
        assert sandbox.call("pkg.layers.say", "ok") == 2


def processes_of(sandbox):
    """Host pids of the worker's processes: its guard and every descendant
    (in a PID namespace, every process of it: orphans go to its init)."""
    return process.sandbox_processes(sandbox.worker_pid) if sandbox.worker_pid else set()


def test_background_processes_die_with_the_sandbox(tmp_path):
    with small_sandbox(tmp_path) as sandbox:
        sandbox.start()
        before = processes_of(sandbox)
        sandbox.call("pkg.evil.background_sleep")
        alive = processes_of(sandbox)
        assert len(alive) > len(before)
    assert all(is_dead(pid) for pid in alive)


def test_memory_hog_gets_a_memory_error(tmp_path):
    with small_sandbox(tmp_path, memory_bytes=512 * MiB) as sandbox:
        pid = sandbox.start() and sandbox.worker_pid
        for hog in ("hog_numpy", "hog_python"):
            [r] = sandbox.run([{"op": "call", "function": f"pkg.evil.{hog}"}])
            assert not r.ok and r.error.kind == "memory" and r.error.type.endswith("MemoryError")
            assert "memory limit is 512 MiB" in r.error.message
        assert sandbox.call("pkg.layers.say", "fine") == 4
        assert sandbox.worker_pid == pid  # a MemoryError does not even cost a restart


def test_cpu_limit(tmp_path):
    with small_sandbox(tmp_path, cpu_seconds=1, timeout=20) as sandbox:
        started = time.monotonic()
        [r] = sandbox.run([{"op": "call", "function": "pkg.evil.spin"}])
        assert r.error.kind == "cpu" and "CPU" in r.error.message
        assert time.monotonic() - started < 6
        assert sandbox.call("pkg.layers.say", "ok") == 2


def test_fork_bomb_is_bounded_by_the_process_limit(tmp_path):
    with small_sandbox(tmp_path, max_processes=20) as sandbox:
        outcome = sandbox.call("pkg.evil.fork_many", 200)
        assert 0 < len(outcome["pids"]) < 20
        assert "Resource temporarily unavailable" in outcome["error"]
        alive = processes_of(sandbox)
        assert len(alive) > len(outcome["pids"])
    assert all(is_dead(pid) for pid in alive)


def test_huge_output_is_capped(tmp_path):
    with small_sandbox(tmp_path, output_bytes=64 * KiB) as sandbox:
        [r] = sandbox.run([{"op": "call", "function": "pkg.evil.shout", "args": [5]}])
        assert r.ok and r.value == "done"
        assert len(r.stdout) == 64 * KiB and r.stdout_dropped == 5 * MiB - 64 * KiB
        assert len(r.stderr) == 64 * KiB and r.stderr_dropped == 200_000 - 64 * KiB
    with small_sandbox(tmp_path, file_size_bytes=1 * MiB) as sandbox:
        [r] = sandbox.run([{"op": "call", "function": "pkg.evil.shout", "args": [5]}])
        assert not r.ok and "File too large" in r.error.message
        assert len(r.stdout) == 64 * KiB
        assert sandbox.call("pkg.layers.say", "ok") == 2


# ----------------------------------------------------- exits and attacks

EXITS = ["sys.exit", "os._exit", "SIGKILL", "KeyboardInterrupt", "SystemExit", "close-all-fds"]


@pytest.mark.parametrize("how", EXITS)
def test_exiting_inside_a_call_is_an_error_not_a_pass(sb, how):
    r1, r2 = sb.run(
        [
            {"op": "call", "function": "pkg.evil.do_exit", "args": [how]},
            {"op": "call", "function": "pkg.layers.say", "args": ["after"]},
        ]
    )
    assert not r1.ok and r2.skipped
    expected = {
        "sys.exit": "SystemExit",
        "SystemExit": "SystemExit",
        "KeyboardInterrupt": "KeyboardInterrupt",
    }
    if how in expected:
        assert r1.error.type == expected[how] and r1.error.kind == "exception"
    else:
        assert r1.error.kind in ("crash", "protocol")
    assert sb.call("pkg.layers.say", "next") == 4


@pytest.mark.parametrize(
    "code, kind",
    [
        ("import sys; sys.exit(0)", "exception"),
        ("import os; os._exit(0)", "crash"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "crash"),
        ("raise ImportError('broken on purpose')", "exception"),
    ],
)
def test_exiting_at_import_time_is_an_error(tmp_path, code, kind):
    root = make_submission(tmp_path / "sub", {"beras/__init__.py": code, "bgd/__init__.py": ""})
    with Sandbox(root) as sandbox:
        status = sandbox.probe_packages()
        assert not status["beras"].ok and status["beras"].error.kind == kind
        assert status["bgd"].ok
        [r] = sandbox.run([{"op": "new", "class": "beras.layers.Dense"}])
        assert not r.ok and r.error.kind == kind


def test_fake_protocol_bytes_on_stdout_are_just_output(sb):
    [r] = sb.run([{"op": "call", "function": "pkg.evil.fake_protocol"}])
    assert r.ok and r.value == 7
    assert r.stdout.startswith("SBX1") and "SBX1" in r.stderr


def test_closing_stdout_and_stderr_does_not_hang(sb):
    started = time.monotonic()
    assert sb.call("pkg.evil.close_std") == 1
    assert sb.run([{"op": "call", "function": "pkg.layers.say", "args": ["back"]}])[0].stdout == "back\n"
    assert time.monotonic() - started < 3


def test_object_and_oversized_results_are_refused_cleanly(tmp_path):
    with small_sandbox(tmp_path, message_bytes=1 * MiB) as sandbox:
        pid = sandbox.start() and sandbox.worker_pid
        [r] = sandbox.run([{"op": "call", "function": "pkg.evil.object_array"}])
        assert not r.ok and r.error.kind == "result" and "object" in r.error.message
        [r] = sandbox.run([{"op": "call", "function": "pkg.evil.big_array", "args": [300_000]}])
        assert not r.ok and r.error.kind == "result" and "too large" in r.error.message
        assert sandbox.call("pkg.evil.big_array", 10).shape == (10,)
        assert sandbox.worker_pid == pid


def test_a_forged_reply_with_pickled_objects_is_rejected_unopened(sb, tmp_path):
    marker = tmp_path / "unpickled"
    started = time.monotonic()
    [r] = sb.run([{"op": "call", "function": "pkg.evil.forge_pickle", "args": [str(marker)]}])
    assert not r.ok and r.error.kind == "protocol" and "object" in r.error.message
    assert time.monotonic() - started < 5
    assert not marker.exists()
    assert sb.call("pkg.layers.say", "ok") == 2


def test_a_huge_announced_reply_is_rejected_at_once(sb):
    started = time.monotonic()
    [r] = sb.run([{"op": "call", "function": "pkg.evil.forge_huge"}])
    assert not r.ok and r.error.kind == "protocol" and "limit" in r.error.message
    assert time.monotonic() - started < 5
    assert sb.call("pkg.layers.say", "ok") == 2


# ------------------------------------------------------------ wire format


def blob_with(toc, data=b"") -> bytes:
    head = json.dumps(toc).encode()
    return struct.pack("<I", len(head)) + head + data


def test_wire_accepts_numeric_arrays_only():
    good = {"a": np.arange(6.0).reshape(2, 3), "b": np.array([True]), "c": np.arange(3, dtype=">i4"), "d": np.ones((0, 4), np.float32)}
    loaded = wire.load_arrays(wire.pack_arrays(good))
    for key, array in good.items():
        np.testing.assert_array_equal(loaded[key], array)
        assert loaded[key].shape == array.shape
    assert loaded["c"].dtype == np.dtype("int32") and loaded["c"].flags.writeable
    eight = np.zeros(1).tobytes()
    bad = [
        blob_with([["a", "|O", [1]]], eight),  # objects: would need pickle
        blob_with([["a", "<U1", [2]]], eight),  # text
        blob_with([["a", "|V8", [1]]], eight),  # void / structured
        blob_with([["a", "<c16", [1]]], eight * 2),  # complex
        blob_with([["a", "<f8", [2]]], eight),  # claims more than it holds
        blob_with([["a", "<f8", [1]]], eight * 2),  # bytes nobody claims
        blob_with([["a", "<f8", [-1]]], eight),  # negative shape
        blob_with([["a", "<f8", [1.5]]], eight),  # non-integer shape
        blob_with({"a": 1}),  # not a list
        blob_with([["a", "<f8"]], eight),  # malformed entry
        wire.pack_arrays({"a": np.zeros(10)})[:-8],  # truncated
        b"PK",  # shorter than the header
        struct.pack("<I", 1000) + b"[]",  # table of contents past the end
    ]
    for blob in bad:
        with pytest.raises(ProtocolError):
            wire.load_arrays(blob)
    with pytest.raises(ProtocolError, match="limit"):
        wire.parse_header(struct.pack("<4sQQ", b"SBX2", 2**40, 0), 256 * MiB)


def test_wire_decodes_values_strictly():
    def make_ref(handle, type_name):
        return ("ref", handle, type_name)

    node = {"$tuple": [1, {"$ref": 3, "type": "m.C"}, {"$dict": {"$x": [None, "s"]}}]}
    assert wire.decode_value(node, {}, make_ref) == (1, ("ref", 3, "m.C"), {"$x": [None, "s"]})
    for bad in ({"$array": "missing"}, {"$ref": -1}, {"$ref": "name"}, {"$tuple": 5}):
        with pytest.raises(ProtocolError):
            wire.decode_value(bad, {}, make_ref)
    deep = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ProtocolError):
        wire.decode_value(deep, {}, make_ref)
    assert json.loads(json.dumps(wire.encode_value(np.float64(2.0), {}))) == {"$array": "a0", "scalar": True}
    with pytest.raises(TypeError):
        wire.encode_value(np.array([object()]), {})


def test_a_worker_that_cannot_start_is_a_sandbox_error(tmp_path):
    with small_sandbox(tmp_path, memory_bytes=30 * MiB) as sandbox:
        with pytest.raises(SandboxError, match="did not start.*memory limit: 30 MiB"):
            sandbox.start()


def test_the_import_scan_finds_what_a_full_walk_of_the_tree_finds(tmp_path):
    """runtime.import_statements walks statement lists only; it must miss no
    import: every .py file of the project, and imports in every place a
    statement can be."""
    import ast

    from harness.sandbox.runtime import import_statements

    tricky = tmp_path / "tricky.py"
    tricky.write_text(textwrap.dedent("""
        import a
        if x:
            import b
        else:
            from c import d
        for i in y:
            import e
        else:
            import f
        while z:
            import g
        try:
            import h
        except ImportError:
            import i
        else:
            import j
        finally:
            import k
        with w:
            import l
        class C:
            import m
            def method(self):
                import n
                async def inner():
                    import o
                    async with v:
                        import p
                    async for q in r:
                        import s
        match thing:
            case 1:
                import t
        f = lambda: __import__("not_a_statement")
        from . import relative
    """))
    root = Path(__file__).resolve().parents[1]
    files = [tricky, *root.glob("harness/**/*.py"), *root.glob("reference/**/*.py"), *root.glob("tests/**/*.py")]
    for path in files:
        tree = ast.parse(path.read_bytes())
        everywhere = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
        found = list(import_statements(tree))
        assert sorted(map(id, found)) == sorted(map(id, everywhere)), path
    assert len(list(import_statements(ast.parse(tricky.read_text())))) == 18


def test_the_bytecode_the_judge_writes_is_used_and_never_outlives_its_source(tmp_path):
    """runtime.compile_beside writes checked-hash .pyc files (PEP 552): an
    interpreter run as a worker is (-I -S -B) takes them while the source is
    the one they were made from, and compiles the source itself once it changes."""
    import importlib.util
    import marshal

    from harness.sandbox.runtime import compile_beside

    module = tmp_path / "mod.py"
    module.write_text('WHO = "source"\n')
    compile_beside(tmp_path, None)
    cached = Path(importlib.util.cache_from_source(str(module)))
    header = cached.read_bytes()[:16]
    assert header[:4] == importlib.util.MAGIC_NUMBER and header[8:] == importlib.util.source_hash(module.read_bytes())

    def imported():
        code = "import sys; sys.path.insert(0, sys.argv[1]); import mod; print(mod.WHO)"
        return subprocess.run([sys.executable, "-I", "-S", "-B", "-c", code, str(tmp_path)], capture_output=True,
                              text=True, check=True).stdout.strip()

    assert imported() == "source"
    # Bytecode that says otherwise, for the same source: taken (so the judge's is the one a worker runs) ...
    cached.write_bytes(header + marshal.dumps(compile('WHO = "bytecode"', str(module), "exec")))
    assert imported() == "bytecode"
    # ... until the source changes: then the source wins.
    module.write_text('WHO = "changed"\n')
    assert imported() == "changed"


def test_every_checkout_of_the_project_is_among_the_hidden_folders(tmp_path):
    # Each git worktree of the repository holds the same reference/: all are hidden, not only the judge's own.
    import subprocess

    from harness.sandbox.client import project_checkouts

    main = tmp_path / "main"
    main.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", str(main)], check=True)
    subprocess.run([*git, "-C", str(main), "commit", "-q", "--allow-empty", "-m", "start"], check=True)
    subprocess.run([*git, "-C", str(main), "worktree", "add", "-q", "--detach", str(tmp_path / "linked")], check=True)
    both = {str((tmp_path / "main").resolve()), str((tmp_path / "linked").resolve())}
    assert set(project_checkouts(main)) == both
    assert set(project_checkouts(tmp_path / "linked")) == both
    assert project_checkouts(tmp_path) == (str(tmp_path.resolve()),)  # no checkout: itself alone
