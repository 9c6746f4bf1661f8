"""Start sandbox workers by forking a process that has imported numpy once.

A worker started by exec costs an interpreter and `import numpy`, about
0.1 s of CPU; a grading run starts several (the student's, the reference's,
the finite-difference witness's, in each grading process). `Zygote` starts
`worker.py --zygote` once (same interpreter, flags and clean environment as
a worker, as the judge's user: root when grading), which imports numpy and
then only forks: each child turns itself into a worker exactly as an exec'd
one (`worker.bootstrap`: namespaces, guard, private mounts, limits, its own
uid). What a worker may see of the zygote is only what an exec'd worker
sees of its own start: the zygote runs no student code, was given no
secret, and its sockets are closed in every child before `bootstrap`.

    with Zygote.start(interpreter, connections=2) as zygote:
        use(zygote.connections[0])       # this process's sandboxes fork from it
        ...

A `Sandbox` whose interpreter is the zygote's starts its worker through the
connection set by `use` (`current()`); any other starts by exec, as without
a zygote. One connection serves one process (a forked grading process takes
its own); calls on it are serialised by a lock (sandboxes start in threads).
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

from . import runtime
from .runtime import Interpreter

WORKER_SOURCE = Path(__file__).with_name("worker.py")
SPAWN_FDS = 7  # worker.SPAWN_FDS: request, reply, progress, stack, lifeline, stdout, stderr

_current: Connection | None = None


def use(connection: Connection | None) -> None:
    """Let this process's sandboxes start from `connection` (None: by exec)."""
    global _current
    _current = connection


def current() -> Connection | None:
    """The connection set by `use` in this process, if its zygote still runs."""
    return _current if _current is not None and not _current.closed else None


class ZygoteError(RuntimeError):
    """The zygote is gone or answered nonsense; the sandbox falls back to exec."""


class Connection:
    """One process's end of the zygote's sockets."""

    def __init__(self, interpreter: Interpreter, sock: socket.socket):
        self.interpreter = interpreter
        self.sock = sock
        self.lock = threading.Lock()
        self.closed = False

    def _ask(self, request: dict, fds: tuple[int, ...] = (), answered_with: int = 0) -> tuple[dict, list[int]]:
        """(the zygote's reply to `request`, sent with the descriptors `fds`;
        the descriptors it answered with, at most `answered_with`, which the
        caller then owns). Raises ZygoteError."""
        with self.lock:
            if self.closed:
                raise ZygoteError("the zygote connection is closed")
            try:
                socket.send_fds(self.sock, [json.dumps(request).encode()], list(fds))
                data, given, _, _ = socket.recv_fds(self.sock, 1 << 16, answered_with)
            except OSError as exc:
                self.closed = True
                raise ZygoteError(f"the zygote is gone ({exc})") from exc
        if not data:
            self.closed = True
            raise ZygoteError("the zygote is gone")
        reply = json.loads(data)
        if "error" in reply:
            for fd in given:
                os.close(fd)
            raise ZygoteError(reply["error"])
        return reply, given

    def spawn(self, config: dict, env: dict, cwd: str, fds: tuple[int, ...]) -> ForkedWorker:
        """A worker forked from the zygote: `config` as `worker.py CONFIG`
        takes it (its fd numbers are replaced by the child's own), `fds` as
        SPAWN_FDS says (the caller keeps and closes its own copies)."""
        if len(fds) != SPAWN_FDS:
            raise ValueError(f"spawn needs {SPAWN_FDS} descriptors, got {len(fds)}")
        reply, _ = self._ask({"op": "spawn", "config": config, "env": env, "cwd": cwd}, fds)
        return ForkedWorker(self, int(reply["pid"]))

    def status(self, pid: int, reap: bool) -> int | str | None:
        """The child's returncode (-signal when killed), None while it runs,
        "gone" once reaped; `reap` False leaves a dead child unreaped (its pid
        cannot be reused before the sandbox's processes are swept)."""
        return self._ask({"op": "status", "pid": pid, "reap": reap})[0]["status"]

    def connect(self) -> Connection:
        """A new connection to the same zygote (for another judge process: a
        batch's gradings share the batch's zygote). Raises ZygoteError."""
        _, given = self._ask({"op": "connect"}, answered_with=1)
        if len(given) != 1:
            for fd in given:
                os.close(fd)
            raise ZygoteError("the zygote answered a connect without a connection")
        return Connection(self.interpreter, socket.socket(fileno=given[0]))

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.sock.close()


class ForkedWorker:
    """What the sandbox client uses of `subprocess.Popen`, for a child of the zygote."""

    def __init__(self, connection: Connection, pid: int):
        self.connection = connection
        self.pid = pid
        self.returncode: int | None = None

    def exit_status(self, reap: bool = False) -> int | None:
        """The returncode once the worker has exited, else None."""
        if self.returncode is not None:
            return self.returncode
        try:
            status = self.connection.status(self.pid, reap)
        except ZygoteError:
            return -9  # the zygote died, and with it our view of the child: treat it as killed
        if status == "gone":
            return self.returncode if self.returncode is not None else -9
        if status is not None and reap:
            self.returncode = int(status)
        return None if status is None else int(status)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.exit_status(reap=True)
            if status is not None:
                return status
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired("zygote worker", timeout)
            time.sleep(0.005)


class Zygote:
    """The zygote process and its connections (one per judge process that will use it)."""

    def __init__(self, popen: subprocess.Popen | None, connections: list[Connection]):
        self.popen = popen
        self.connections = connections

    @classmethod
    def start(cls, interpreter: Interpreter, env: dict, connections: int = 1) -> Zygote:
        """Start `worker.py --zygote` with `interpreter` and the clean `env`
        (a worker's environment without its own HOME and TMPDIR; see
        `start_zygote`, which computes both)."""
        ours, theirs = [], []
        for _ in range(connections):
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            ours.append(a)
            theirs.append(b)
        setup = {"fds": [b.fileno() for b in theirs], "paths": sorted({str(Path(p).parent) for p in interpreter.packages})}
        try:
            popen = subprocess.Popen(
                [interpreter.executable, "-I", "-S", "-B", "-u", str(WORKER_SOURCE), "--zygote", json.dumps(setup)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=[b.fileno() for b in theirs],
                env=env,
                cwd="/",
                start_new_session=True,
            )
        finally:
            for b in theirs:
                b.close()
        return cls(popen, [Connection(interpreter, a) for a in ours])

    @classmethod
    def joined(cls, connection: Connection) -> Zygote:
        """A zygote another process started and reaps (a batch's), reached
        through `connection`: closing it closes the connection only."""
        return cls(None, [connection])

    def close(self, wait: bool = True) -> None:
        """Close every connection of this process (the zygote leaves when every
        process has closed its own) and, with `wait`, reap it (when it is ours)."""
        for connection in self.connections:
            connection.close()
        if not wait or self.popen is None:
            return
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - it reads nothing else
            self.popen.kill()
            self.popen.wait()

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def enabled() -> bool:
    """Whether sandboxes may start from a zygote (GRADECHECK_ZYGOTE=off: by exec, always)."""
    return os.environ.get("GRADECHECK_ZYGOTE", "on") != "off"


def start_zygote(connections: int = 1, packages: tuple[str, ...] = ("numpy",)) -> Zygote:
    """A zygote for the sandboxes this process (and `connections` - 1 forks of
    it) will start with the default `user` and `packages`. Raises OSError or
    SandboxError when it cannot start."""
    switches = runtime.Identity(0 if os.getuid() == 0 else None, None)  # only `switches` matters here
    interpreter = runtime.prepare_interpreter(tuple(packages), switches)
    return Zygote.start(interpreter, runtime.worker_environment(interpreter), connections)


# ---------------------------------------------------------------- started early
#
# The zygote's `import numpy` (~0.1 s of CPU) need not wait for the judge's own
# imports (numpy, pytest, the harness: ~0.2 s on one core): `python -m harness
# grade` starts it first thing (`prestart`, before importing anything heavy; this
# module imports no numpy), so the two overlap on two cores, and the grading run
# takes it (`take_prestarted`) when its sandboxes are about to start.

_prestarted: Zygote | None = None


def adopt(started: Zygote) -> None:
    """Take `started` as if `prestart` had started it (a batch's grading takes
    the batch's zygote through a connection of its own: `Zygote.joined`)."""
    global _prestarted
    _prestarted = started


def prestart(connections: int) -> None:
    """Start this process's zygote now (if allowed), for `connections` grading
    processes at most; closed at exit unless taken. Never raises: a zygote that
    cannot start is started again (and its failure met) when the run needs it."""
    global _prestarted
    if _prestarted is not None or not enabled():
        return
    try:
        _prestarted = start_zygote(connections)
    except (OSError, runtime.SandboxError):
        return
    atexit.register(_close_prestarted, os.getpid())


def take_prestarted(connections: int) -> Zygote | None:
    """The zygote `prestart` started, with exactly `connections` connections
    (those beyond are closed), or None (none started, too few connections, or
    gone); the caller closes it. Once."""
    global _prestarted
    started, _prestarted = _prestarted, None
    if started is None:
        return None
    if len(started.connections) < connections or (started.popen is not None and started.popen.poll() is not None):
        started.close()
        return None
    for extra in started.connections[connections:]:
        extra.close()
    started.connections = started.connections[:connections]
    return started


def _close_prestarted(owner: int) -> None:
    if os.getpid() == owner and _prestarted is not None:  # not in a forked child that exits normally
        _prestarted.close()
