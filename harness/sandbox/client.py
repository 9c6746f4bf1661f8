"""The judge's side of the sandbox: start a worker, send ops, read results.

See `harness/sandbox/__init__.py` for the API and the op format, and
`worker.py` for what happens on the other side.
"""

from __future__ import annotations

import fcntl
import functools
import json
import math
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import cleanup, process, runtime, stack, wire, zygote
from .limits import Limits
from .runtime import SandboxError

OPS = frozenset({"new", "call", "getattr", "setattr", "assign", "map", "replay", "import", "release"})
# The array key that stands for a replay's slice in its body (see worker.SLOT).
SLOT = "$slot"
ERROR_KINDS = frozenset(
    {
        "exception",  # the student's code raised
        "memory",  # ... a MemoryError (usually the memory limit)
        "result",  # the value could not be sent back (dtype, size)
        "request",  # the judge's op was invalid (unknown handle, bad op)
        "timeout",  # wall-clock limit; worker killed
        "cpu",  # CPU-time limit; worker killed
        "crash",  # the worker died (signal, os._exit)
        "protocol",  # the worker sent garbage or closed the channel; worker killed
        "skipped",  # an earlier op of the request failed
    }
)
F_SETPIPE_SZ = 1031
# What the worker writes before each op and each evaluation of a map (see
# worker.PROGRESS): request id, op index, evaluation (-1: none), start time.
PROGRESS = struct.Struct("<QQqd")
STALLED = -2  # the evaluation field of a record: one call of a many-call op ran past the per-call limit
REFUSED = -3  # ...: the op entered a function of `Sandbox.refused`
# A request's own limit is the sum of its calls' limits plus this much (the
# arrays' way there and back); each call is held to its own limit anyway.
REQUEST_SLACK = 0.5
# How long a stopped worker may take to write its stack (it is a signal handler's work).
STACK_WAIT = 0.5


def calls_of(op: dict) -> int:
    """How many calls into student code one op makes (one evaluation, for a
    map): its "calls" field (a scenario, a training run), else 1."""
    calls = op.get("calls", 1)
    return calls if type(calls) is int and calls >= 1 else 1


def evaluations_of(op: dict) -> int:
    """1, or the number of slices a map or a replay evaluates."""
    if op.get("op") not in ("map", "replay"):
        return 1
    shape = np.shape(op.get("stack"))
    return max(1, int(shape[0])) if shape else 1


def request_calls(ops: list[dict]) -> int:
    """The calls into student code a request makes: its ops (a map: one per slice), by their `calls`."""
    return sum(calls_of(op) * evaluations_of(op) for op in ops)


def seconds(value: float) -> str:
    """A duration for messages: "0.52", "5.1", "20"."""
    return f"{value:.2g}" if value < 10 else f"{value:.0f}"


class StaleRefError(SandboxError):
    """A Ref from a worker that has since been restarted (or from another sandbox)."""


class RemoteError(Exception):
    """An op failed in the sandbox; `.result` has the details."""

    def __init__(self, result: Result, op: dict | None = None):
        self.result = result
        self.error = result.error
        self.op = op  # the op that failed, when known
        super().__init__(str(result.error))


@dataclass(frozen=True)
class ErrorInfo:
    type: str  # e.g. "NotImplementedError", "beras.core.MyError", "Timeout"
    message: str
    traceback: str = ""  # frames inside the submission only
    kind: str = "exception"  # one of ERROR_KINDS
    where: str = ""  # "beras.layers:Dense.call": the submission's innermost function in the traceback
    limit: str = ""  # a timeout's limit: "5 s per call × 4 calls"
    stalled: bool = False  # a timeout where one activation of `where` ran the whole per-call limit by itself

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type


@dataclass
class Result:
    """The outcome of one op."""

    ok: bool
    value: Any = None  # numpy arrays, Python data, Ref
    error: ErrorInfo | None = None
    stdout: str = ""  # what the op printed (first Limits.output_bytes bytes)
    stderr: str = ""
    stdout_dropped: int = 0  # bytes printed beyond the cap
    stderr_dropped: int = 0
    elapsed: float = 0.0  # seconds, measured in the worker (wall clock for a killed op)
    raw: Any = field(default=None, repr=False)  # the value as sent (has the remote types)

    @property
    def skipped(self) -> bool:
        return self.error is not None and self.error.kind == "skipped"

    def type_of(self, *path: int | str) -> str | None:
        """Remote type of the value, or of the part at `path` (e.g. "beras.core.Tensor").

        Arrays arrive as plain ndarrays; this is where their original class is kept.
        """
        if not self.ok:
            return None
        return wire.type_at(self.raw, path)

    def unwrap(self) -> Any:
        """The value, or raise RemoteError."""
        if not self.ok:
            raise RemoteError(self)
        return self.value


# ------------------------------------------------------------------ handles


def checked_ops(ops: Any) -> list[dict]:
    """`ops` as a list, each one an op (a dict naming one of OPS); ValueError otherwise."""
    ops = list(ops)
    for op in ops:
        if not isinstance(op, dict) or op.get("op") not in OPS:
            raise ValueError(f"not an op: {op!r}")
    return ops


def result_from_reply(message: dict, arrays: dict[str, np.ndarray], make_ref: Callable[[int, str], Any]) -> Result:
    """The Result of one reply frame: its JSON `message` (checked already) and
    its `arrays`; `make_ref(handle, type name)` makes the Ref of a kept object."""
    if message.get("ok"):
        raw = message.get("value")
        result = Result(ok=True, value=wire.decode_value(raw, arrays, make_ref), raw=raw)
    else:
        result = Result(ok=False, error=Sandbox._error_from_wire(message.get("error")))
    result.elapsed = float(message.get("elapsed", 0.0))
    return result


class Ref:
    """An object kept in the worker. `ref.name(*args)` calls its method there.

    Attribute access yields a method caller (use `Sandbox.getattr` to read an
    attribute). `handle`, `type` and `generation` are the Ref's own fields.
    A Ref dies with its worker: after a restart, using it raises StaleRefError.
    """

    __slots__ = ("handle", "type", "generation", "_sandbox")

    def __init__(self, handle: int, type: str, generation: int, sandbox: Sandbox):
        self.handle = handle
        self.type = type
        self.generation = generation
        self._sandbox = sandbox

    def __getattr__(self, name: str) -> Method:
        if name.startswith("__"):
            raise AttributeError(name)
        return Method(self, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._sandbox.call(self, *args, **kwargs)

    def _call_method(self, name: str, args: tuple, kwargs: dict) -> Any:
        return self._sandbox.call(Method(self, name), *args, **kwargs)

    def _wire_node(self) -> dict:
        self._sandbox._check_ref(self)
        return {"$ref": self.handle}

    def __repr__(self) -> str:
        return f"<Ref #{self.handle} {self.type} (worker {self.generation})>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ref) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple:
        return (id(self._sandbox), self.generation, self.handle)


class Method:
    """`target.name`, not yet called: call it, or pass it to `call`/`map`."""

    def __init__(self, target: Any, name: str):
        self.target = target
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.target._call_method(self.name, args, kwargs)

    def __repr__(self) -> str:
        return f"<Method {self.name} of {self.target!r}>"


class Over:
    """Marks the argument that `map` replaces by each slice of `stack` in turn."""

    def __init__(self, stack: Any):
        self.stack = np.asarray(stack)
        if self.stack.ndim == 0:
            raise ValueError("Over() needs a stack of shape (K, ...)")


class Slot:
    """Stands, in the ops of a replay (`Batch.replay`), for the array that each
    evaluation replaces by its slice of the stack: shaped and typed as a slice."""

    def __init__(self, shape: tuple, dtype: Any):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    def _wire_node(self) -> dict:
        return {"$array": SLOT}

    def __repr__(self) -> str:
        return f"<each slice: {self.dtype} array {self.shape}>"


def callable_fields(fn: Any) -> dict:
    """The op fields naming what to call: a "module.function" path, a Ref/Pending, or a Method."""
    if isinstance(fn, str):
        return {"target": None, "function": fn, "method": None}
    if isinstance(fn, Method):
        return {"target": fn.target, "method": fn.name}
    return {"target": fn, "method": None}


def map_fields(args: tuple, kwargs: dict) -> dict:
    """args/kwargs of a map op with the single Over() placeholder taken out."""
    positions = [i for i, a in enumerate(args) if isinstance(a, Over)]
    names = [k for k, v in kwargs.items() if isinstance(v, Over)]
    if len(positions) + len(names) != 1:
        raise ValueError("map needs exactly one Over(stack) argument")
    fields: dict[str, Any] = {
        "args": [None if isinstance(a, Over) else a for a in args],
        "kwargs": {k: v for k, v in kwargs.items() if not isinstance(v, Over)},
    }
    if positions:
        fields["stack"] = args[positions[0]].stack
        fields["arg_index"] = positions[0]
    else:
        fields["stack"] = kwargs[names[0]].stack
        fields["arg_name"] = names[0]
    return fields


# -------------------------------------------------------------------- batch


class Pending:
    """The future result of one op in a Batch.

    Inside the batch it can be passed to later ops (as an argument, a target,
    `pending[i]` for an item); its methods can be called (`layer.forward(x)`
    records a call). After the batch has run: `.result`, `.value`, `.ok`.
    Options: `.keep()`, `.keep_items()`, `.pick(*path)`, `.seed(n)`, `.quiet()`,
    `.calls(n)`.
    """

    def __init__(self, batch: Batch, index: int):
        self._batch = batch
        self._index = index

    @property
    def _op(self) -> dict:
        return self._batch._ops[self._index]

    def keep(self) -> Pending:
        """Return a Ref to the value instead of a copy of it."""
        self._op["keep"] = True
        return self

    def keep_items(self) -> Pending:
        """Return a list of Refs, one per item of a tuple/list value."""
        self._op["keep"] = "items"
        return self

    def pick(self, *path: int | str) -> Pending:
        """Keep only value[i][j]... (str steps: dict keys or attributes)."""
        self._op["pick"] = list(path)
        return self

    def seed(self, seed: int) -> Pending:
        """np.random.seed(seed) before the op (before every evaluation of a map)."""
        self._op["seed"] = int(seed)
        return self

    def quiet(self) -> Pending:
        """Send no value back (the op still runs and may be used by later ops)."""
        self._op["quiet"] = True
        return self

    def calls(self, count: int) -> Pending:
        """The op makes about `count` calls into student code (a training run,
        a scenario): its time limit is `count` times the per-call limit (for a
        map: per evaluation)."""
        if type(count) is not int or count < 1:
            raise ValueError(f"calls must be a positive int, not {count!r}")
        self._op["calls"] = count
        return self

    @property
    def result(self) -> Result:
        if self._batch.results is None:
            raise RuntimeError("the batch has not run yet")
        return self._batch.results[self._index]

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def value(self) -> Any:
        """The value, or RemoteError for the op that failed: this one, or the
        earlier op of the batch whose failure made this one skipped."""
        result = self.result
        if result.skipped:
            failed = next((r for r in self._batch.results if not r.ok and not r.skipped), result)
            raise RemoteError(failed, op=self._batch._ops[self._batch.results.index(failed)])
        if not result.ok:
            raise RemoteError(result, op=self._op)
        return result.value

    def __getitem__(self, step: int | str) -> Item:
        return Item(self, (step,))

    def __getattr__(self, name: str) -> Method:
        if name.startswith("__"):
            raise AttributeError(name)
        return Method(self, name)

    def _call_method(self, name: str, args: tuple, kwargs: dict) -> Pending:
        return self._batch.call(Method(self, name), *args, **kwargs)

    def _wire_node(self) -> dict:
        if self._batch.results is None:
            return {"$ref": self._batch._name(self._index)}
        value = self.result.value if self.result.ok else None
        if isinstance(value, Ref):
            return value._wire_node()
        raise SandboxError(
            "the result of an op from a batch that has run can only be used "
            "again if it was kept (.keep()) and succeeded"
        )

    def __repr__(self) -> str:
        return f"<Pending op {self._index} {self._op['op']}>"


class Item:
    """`pending[i]`: a part of an op's value, usable as an argument or target."""

    def __init__(self, base: Pending, path: tuple):
        self._base = base
        self._path = path

    def __getitem__(self, step: int | str) -> Item:
        return Item(self._base, self._path + (step,))

    def __getattr__(self, name: str) -> Method:
        if name.startswith("__"):
            raise AttributeError(name)
        return Method(self, name)

    def _call_method(self, name: str, args: tuple, kwargs: dict) -> Pending:
        return self._base._batch.call(Method(self, name), *args, **kwargs)

    def _wire_node(self) -> dict:
        node = dict(self._base._wire_node())
        node["path"] = list(node.get("path", [])) + list(self._path)
        return node


class Batch:
    """Records ops and sends them as ONE request when the `with` block ends.

        with sb.batch() as b:
            layer = b.new("bgd.layers.fc.FullyConnected", 3, 4)
            params = layer.get_parameters()
            b.assign(params[0], w)
            out = layer.forward(x)
            fd = b.map(layer.forward, Over(x_stack))
        out.value, fd.value

    Each op's value is bound to a private name for the later ops of the batch.
    If an op fails, the later ops are skipped (their results say so).
    """

    _serial = 0

    def __init__(self, sandbox: Sandbox, timeout: float | None = None):
        Batch._serial += 1
        self._prefix = f"%{Batch._serial}."
        self._sandbox = sandbox
        self._timeout = timeout
        self._ops: list[dict] = []
        self.results: list[Result] | None = None

    def _name(self, index: int) -> str:
        return f"{self._prefix}{index}"

    def _record(self, op: dict) -> Pending:
        if self.results is not None:
            raise RuntimeError("this batch has already run")
        op["as"] = self._name(len(self._ops))
        self._ops.append(op)
        return Pending(self, len(self._ops) - 1)

    def new(self, cls: str, *args: Any, **kwargs: Any) -> Pending:
        """Instantiate "package.module.Class"; the value is a Ref."""
        return self._record({"op": "new", "class": cls, "args": list(args), "kwargs": kwargs})

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Pending:
        """Call a "module.function" path, a remote object, or a Method (`layer.forward`)."""
        op = {"op": "call", **callable_fields(fn), "args": list(args), "kwargs": kwargs}
        return self._record(op)

    def method(self, target: Any, name: str, *args: Any, **kwargs: Any) -> Pending:
        """target.name(*args, **kwargs), for method names a Pending/Ref would shadow."""
        return self.call(Method(target, name), *args, **kwargs)

    def getattr(self, target: Any, name: str) -> Pending:
        """target.name (dots allowed: "a.b")."""
        return self._record({"op": "getattr", "target": target, "name": name})

    def setattr(self, target: Any, name: str, value: Any) -> Pending:
        return self._record({"op": "setattr", "target": target, "name": name, "value": value})

    def assign(self, target: Any, value: Any) -> Pending:
        """target[...] = value for a remote ndarray (same shape required)."""
        return self._record({"op": "assign", "target": target, "value": value})

    def import_module(self, name: str) -> Pending:
        return self._record({"op": "import", "module": name})

    def map(self, fn: Any, *args: Any, **kwargs: Any) -> Pending:
        """Call fn once per slice of the one `Over(stack)` argument; value is the (K, ...) stack."""
        return self._record({"op": "map", **callable_fields(fn), **map_fields(args, kwargs)})

    def map_into(self, target: Any, stack: Any, fn: Any, *args: Any, **kwargs: Any) -> Pending:
        """For each k: target[...] = stack[k], then fn(*args, **kwargs); target restored after.

        `target` is a remote ndarray, e.g. a layer parameter (`params[0]`).
        """
        op = {
            "op": "map",
            **callable_fields(fn),
            "args": list(args),
            "kwargs": kwargs,
            "stack": np.asarray(stack),
            "write_into": target,
        }
        return self._record(op)

    def replay(self, stack: Any, record: Any) -> Pending:
        """Run the ops that `record(body, slot)` records in `body` (a Batch of
        its own, never run by itself) once per slice of `stack`, `slot` standing
        for the slice wherever the ops take it as an argument; `record` returns
        the Pendings of `body` whose values to collect. The value: one list of
        those values per slice. Each evaluation runs its ops as a request of
        them alone would (see worker.Worker.replay), with a time limit of one
        call per op."""
        stack = np.asarray(stack)
        if stack.ndim == 0:
            raise ValueError("replay needs a stack of shape (K, ...)")
        body = Batch(self._sandbox)
        collected = record(body, Slot(stack.shape[1:], stack.dtype))
        if not body._ops or any(p._batch is not body for p in collected):
            raise ValueError("replay: record() must record ops in the body and return some of their Pendings")
        return self._record({
            "op": "replay",
            "body": body._ops,
            "stack": stack,
            "collect": [p._index for p in collected],
            "calls": sum(calls_of(op) for op in body._ops),
        })

    def run(self) -> list[Result]:
        if self.results is None:
            self.results = self._sandbox.run(self._ops, timeout=self._timeout)
        return self.results

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.run()


# ------------------------------------------------------------------- worker


class _ExecWorker(subprocess.Popen):
    """A worker started by exec (not forked from the zygote); `exit_status` as
    `zygote.ForkedWorker`'s, so the client treats both alike."""

    def exit_status(self, reap: bool = False) -> int | None:
        """The returncode once the worker has exited (-signal if killed), else
        None; `reap` False (WNOWAIT) leaves a dead worker unreaped."""
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | (0 if reap else os.WNOWAIT))
        except ChildProcessError:  # already reaped
            return self.returncode
        if info is None:
            return None
        status = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        if reap:
            self.returncode = status
        return status


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, popen: _ExecWorker | zygote.ForkedWorker, request_fd: int, reply_fd: int, max_bytes: int, lifeline: int | None = None):
        self.popen = popen
        self.request_fd = request_fd
        self.reply_fd = reply_fd
        self.lifeline = lifeline  # closing it makes the worker's guard kill the worker
        self.max_bytes = max_bytes
        try:
            self.pidfd: int | None = os.pidfd_open(popen.pid)
        except (AttributeError, OSError):
            self.pidfd = None
        self.buffer = bytearray()  # reply bytes not yet consumed
        self.announced: tuple[int, int] | None = None  # (json_len, blob_len) of the frame at the buffer's start
        self.info: dict = {}

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _pump(self, frames: list, wanted: int, budget: wire.ReplyBudget, deadline: float = math.inf) -> bool:
        """Read what the reply pipe holds, cutting complete frames off the buffer
        into `frames`, until it holds `wanted` frames, the pipe is empty or
        `deadline` has passed (a worker that writes without pause cannot keep
        the judge here). True at end of file. Raises ProtocolError."""
        while len(frames) < wanted and time.monotonic() < deadline:
            try:
                chunk = os.read(self.reply_fd, 1 << 20)
            except BlockingIOError:
                return False
            if not chunk:
                return True
            self.buffer += chunk
            self._take_frames(frames, wanted, budget)
            if len(self.buffer) > self.max_bytes + wire.HEADER.size:
                raise wire.ProtocolError("the worker sent more than the message limit")
        return False

    def _take_frames(self, frames: list, wanted: int, budget: wire.ReplyBudget) -> None:
        """Move complete frames from the buffer to `frames` (at most `wanted`).

        A frame's announced size is charged to the request's budget as soon
        as its header arrives: a frame over it is refused (ProtocolError)
        before its bytes are read. Frames are (json bytes, blob memoryview,
        arrival time); the blob is a view of the frame, not a copy of it.
        """
        while len(frames) < wanted:
            if self.announced is None:
                if len(self.buffer) < wire.HEADER.size:
                    return
                json_len, blob_len = wire.parse_header(bytes(self.buffer[: wire.HEADER.size]), self.max_bytes)
                budget.spend("bytes", wire.HEADER.size + json_len + blob_len)
                budget.require("json_bytes", json_len)
                self.announced = (json_len, blob_len)
            json_len, blob_len = self.announced
            end = wire.HEADER.size + json_len + blob_len
            if len(self.buffer) < end:
                return
            if 2 * end >= len(self.buffer):  # most of the buffer: it becomes the frame, the rest is copied
                frame, self.buffer = self.buffer, self.buffer[end:]
                del frame[end:]
            else:  # a small frame before others: it is copied
                frame = self.buffer[:end]
                del self.buffer[:end]
            self.announced = None
            view = memoryview(frame)
            body = bytes(view[wire.HEADER.size : wire.HEADER.size + json_len])  # small: JSON is budgeted
            frames.append((body, view[wire.HEADER.size + json_len :], time.monotonic()))

    def exit_status(self, wait: float = 0.0) -> int | None:
        """The worker's returncode once it has exited (-signal if killed), else None.

        Uses WNOWAIT: the dead worker is not reaped here, so its pid (which is
        also its session id) cannot be reused before kill() has swept the session.
        """
        deadline = time.monotonic() + wait
        while True:
            status = self.popen.exit_status(reap=False)
            if status is not None:
                return status
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)

    def exchange(
        self,
        payload: bytes,
        wanted: int,
        deadline: float,
        watch: _CallWatch | None = None,
        budget: wire.ReplyBudget | None = None,
    ) -> tuple[list, str | None, str]:
        """Send `payload`, collect `wanted` reply frames before `deadline`, and
        (with `watch`) before the call running in the worker uses up its own limit.

        `budget`: what the request's replies may cost (wire.ReplyBudget; by
        default one for `wanted` replies); the frames' sizes are charged to it.
        Returns (frames, failure, detail); failure is None, "timeout" (detail
        "call" when a call ran out of its limit), "exited", "closed" or
        "protocol". Frames are (json bytes, blob memoryview, arrival time).
        """
        if budget is None:
            budget = wire.ReplyBudget(self.max_bytes, wanted)
        frames: list = []
        pending = memoryview(payload)
        poller = select.poll()
        poller.register(self.reply_fd, select.POLLIN)
        if self.pidfd is not None:
            poller.register(self.pidfd, select.POLLIN)
        if pending:
            poller.register(self.request_fd, select.POLLOUT)
        try:
            self._take_frames(frames, wanted, budget)
            while len(frames) < wanted:
                now = time.monotonic()
                if now >= deadline:
                    return frames, "timeout", ""
                if watch is not None and now >= watch.next_check and watch.expired(now):
                    return frames, "timeout", "call"
                wake = deadline if watch is None else min(deadline, watch.next_check)
                remaining = min(wake - now, 60.0)
                if self.pidfd is None:
                    remaining = min(remaining, 0.05)
                events = poller.poll(max(1, math.ceil(remaining * 1000)))
                exited = self.pidfd is None and self.exit_status() is not None
                for fd, _ in events:
                    if fd == self.request_fd:
                        try:
                            pending = pending[os.write(fd, pending[: 1 << 20]) :]
                        except BlockingIOError:
                            continue
                        except OSError:  # the worker is gone; its exit shows up next
                            pending = pending[:0]
                        if not pending:
                            poller.unregister(fd)
                    elif fd == self.reply_fd:
                        at_end = self._pump(frames, wanted, budget, deadline)
                        if at_end and len(frames) < wanted:
                            failure = "closed" if self.exit_status(wait=0.5) is None else "exited"
                            return frames, failure, ""
                    elif fd == self.pidfd:
                        exited = True
                if exited:
                    self._pump(frames, wanted, budget)  # what the pipe still holds (no writer: it ends)
                    if len(frames) < wanted:
                        return frames, "exited", ""
            return frames, None, ""
        except wire.ProtocolError as exc:
            return frames, "protocol", str(exc)

    def has_leftovers(self) -> bool:
        """Bytes beyond the expected replies: the worker is out of step.
        (One read at most: what they say does not matter.)"""
        if self.buffer:
            return True
        try:
            return bool(os.read(self.reply_fd, 1 << 16))  # b"": the worker closed the pipe, nothing is left
        except BlockingIOError:
            return False

    def kill(self, grace: float, owner: int | None = None) -> None:
        """Kill the worker's processes (`owner`: the sandbox's own uid: all of its processes)."""
        process.kill_sandbox(self.popen.pid, grace, owner)
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL was sent
            pass
        for fd in (self.request_fd, self.reply_fd, self.pidfd, self.lifeline):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass


class _CallWatch:
    """Holds every call of one request to its own limit.

    The worker writes (request, op, evaluation, start time) to the progress
    file before each op and each evaluation of a map; the judge looks when the
    running call's limit is due: a hung call costs its own limit, not the
    whole request's. An op that makes many calls (`calls` > 1: a training
    run, a scenario) has that many limits, and the worker's watchdog reports
    (STALLED) when one call inside it runs longer than one limit: the judge
    looks every half limit during such an op. Records are the worker's word
    (student code could rewrite them): they can only move a call's deadline,
    never the request's.
    """

    def __init__(self, read, request_id: int, per_call: float, ops: list[dict], started: float, refusing: bool = False):
        self.read = read  # () -> (request id, op, evaluation, started) or None
        self.refusing = refusing  # the worker watches every op for refused functions
        self.refused_at: float | None = None
        self.request_id = request_id
        self.per_call = per_call
        self.calls = [calls_of(op) for op in ops]
        self.evaluations = [evaluations_of(op) for op in ops]
        self.started = started
        self.record: tuple | None = None
        self.op, self.evaluation, self.began = 0, -1, started
        self.stalled: float | None = None  # when the call that ran too long began
        self.graced = False
        self.deadline = started + per_call * self.calls[0]
        self.next_check = self._next(started)

    def _next(self, now: float) -> float:
        if self.graced or self.refusing or self.calls[self.op] > 1:  # the worker's watchdog may have something to say
            return min(self.deadline, now + min(0.1, max(0.02, self.per_call / 4)))
        return self.deadline

    def expired(self, now: float) -> bool:
        """Whether the call running now has used up its limit (else `next_check` moves on)."""
        record = self.read()
        if record is not None and record != self.record and record[0] == self.request_id:
            _, op, evaluation, began = record
            if 0 <= op < len(self.calls) and math.isfinite(began):
                self.record = record
                began = min(max(began, self.started), now)
                if op != self.op:  # a new op began (its own record may have been overwritten since)
                    self.op, self.evaluation, self.began, self.stalled = op, -1, began, None
                    self.deadline = began + self.per_call * self.calls[op]
                if evaluation == STALLED:
                    self.stalled = began
                    self.deadline = min(self.deadline, began + self.per_call)
                elif evaluation == REFUSED:
                    self.refused_at = self.deadline = now
                else:
                    self.evaluation, self.began, self.stalled = evaluation, began, None
                    self.deadline = began + self.per_call * self.calls[op]
        if now >= self.deadline and (self.graced or self.stalled is not None or self.refused_at is not None):
            return True
        if now >= self.deadline:
            # A moment more, for the watchdog to tell whether one activation of
            # a function ran the whole limit by itself (then it is refused from now on).
            self.graced = True
            self.deadline = now + 2.5 * min(0.1, max(0.01, self.per_call / 4))  # 2.5 of its looks
        self.next_check = self._next(now)
        return False

    def limit_text(self) -> str:
        """"5 s per call × 4 calls", "0.5 s per call; evaluation 3 of 20"."""
        calls = self.calls[self.op]
        text = f"{self.per_call:g} s per call" + (f" × {calls} calls" if calls > 1 else "")
        if self.evaluations[self.op] > 1 and self.evaluation >= 0:
            text += f"; evaluation {self.evaluation + 1} of {self.evaluations[self.op]}"
        return text

    def message(self, now: float) -> str:
        text = f"timed out after {seconds(now - self.began)} s (limit: {self.limit_text()})"
        if self.stalled is not None and self.calls[self.op] > 1:
            text += f": one call ran for {seconds(now - self.stalled)} s"
        return text


class _Resources:
    """What must be released even if the Sandbox is never closed explicitly."""

    def __init__(self, root: Path, grace: float, identity: runtime.Identity | None = None):
        self.root = root
        self.grace = grace
        self.identity = identity  # its uid lease ends with the sandbox
        self.worker: _Worker | None = None
        self.capture_fds: tuple[int, ...] = ()
        self.progress_fd: int | None = None  # the worker writes PROGRESS records here
        self.stack_fd: int | None = None  # the worker's faulthandler writes its stacks here (SIGUSR1)

    def stop_worker(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            leased = self.identity is not None and self.identity.lease is not None
            worker.kill(self.grace, self.identity.uid if leased else None)

    def close(self) -> None:
        """Kill the worker, close the files, remove the folder. Never raises:
        it runs at the end of a grading run (and from a finalizer)."""
        try:
            self.stop_worker()
        except Exception as error:  # noqa: BLE001 - the folder must still go
            print(f"harness: stopping a sandbox worker failed: {error}", file=sys.stderr)
        for fd in (*self.capture_fds, self.progress_fd, self.stack_fd):
            try:
                if fd is not None:
                    os.close(fd)
            except OSError:
                pass
        self.capture_fds, self.progress_fd, self.stack_fd = (), None, None
        if self.identity is not None and self.identity.lease is not None:
            # Its processes are gone: take back what its uid owned (its HOME),
            # so that the uid can go to another sandbox before the folder does.
            try:
                os.chown(self.root / "tmp", os.getuid(), os.getgid())
                os.chmod(self.root / "tmp", 0o700)
            except OSError:
                pass
            self.identity.release()
        # Whatever the worker left there (any depth, any mode): removed now,
        # or after the reports are written (cleanup.deferred); never raises.
        cleanup.discard(self.root)


# ------------------------------------------------------------------ sandbox


# The project (the harness and the reference solutions) is hidden from the
# worker where the system allows it (see worker.hide_paths).
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@functools.lru_cache(maxsize=None)
def project_checkouts(root: Path = PROJECT_ROOT) -> tuple[str, ...]:
    """`root` and every other git worktree of its repository (the main
    checkout and `git worktree add` ones), as real paths: each holds the same
    reference/ (a worker read it from a second checkout on a developer's
    machine, and a stub took its points). Read from the repository's files,
    not by running git (absent from grading images, and wary of a repository
    root does not own); `root` alone when it is no checkout."""
    found = [os.path.realpath(root)]
    try:
        dot_git = root / ".git"
        if dot_git.is_file():  # a linked worktree: "gitdir: <common>/worktrees/<name>"
            own = Path(dot_git.read_text().partition("gitdir:")[2].strip())
            own = own if own.is_absolute() else root / own
            common_file = own / "commondir"
            common = own / common_file.read_text().strip() if common_file.is_file() else own
        elif dot_git.is_dir():
            common = dot_git
        else:
            return tuple(found)
        common = Path(os.path.realpath(common))
        if common.name == ".git":  # not bare: its parent is the main checkout
            found.append(str(common.parent))
        worktrees = common / "worktrees"
        for entry in sorted(worktrees.iterdir()) if worktrees.is_dir() else ():
            gitdir = entry / "gitdir"  # "<checkout>/.git"
            if gitdir.is_file():
                found.append(os.path.realpath(Path(gitdir.read_text().strip()).parent))
    except (OSError, UnicodeDecodeError):
        pass
    return tuple(dict.fromkeys(path for path in found if os.path.isdir(path)))


def _widen_pipe(fd: int) -> None:
    """Ask for a 1 MiB pipe buffer (Linux; 64 KiB by default): a stack of
    perturbed inputs then crosses in a few writes instead of dozens of
    64 KiB rounds between the two processes. Best effort."""
    try:
        fcntl.fcntl(fd, F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass


class Sandbox:
    """Runs a submission's code in a separate, limited, unprivileged process.

    The worker starts on first use and is reused for every request; after a
    timeout, crash or protocol violation it is killed and a fresh one starts
    with the next request (Refs of the old one are then stale). Not thread-safe.
    """

    def __init__(
        self,
        submission_dir: str | os.PathLike,
        limits: Limits | None = None,
        *,
        packages: tuple[str, ...] = ("numpy",),
        user: str | int | None = runtime.FRESH,
        graded: tuple[str, ...] | None = None,
        shipped: tuple[tuple[str | os.PathLike, str], ...] = (),
        budget: Any = None,
        hide: tuple[str | os.PathLike, ...] = (),
    ):
        """`packages`: installed packages the worker may import (numpy);
        `graded`: the submission's top-level packages to copy (with the modules
        they import; None copies everything); `shipped`: (folder, import name)
        of the harness's own code to run in the worker (see harness/scenarios);
        `budget`: the time this sandbox may still spend, shared with others
        (an object with `total`, `remaining()` and `charge(seconds)`, e.g.
        `harness.timing.Budget`): every request is charged its wall-clock
        time, cut off when the budget runs out, and not sent once it has;
        `hide`: folders the worker must not see, besides the project and its
        other checkouts (as root: an empty tmpfs over each, see worker.hide_paths)."""
        self.limits = limits or Limits()
        self._hidden = [*project_checkouts(), *(os.path.realpath(path) for path in hide)]
        self.budget = budget
        # "module:qualname" of submission functions that may not run: a
        # request that enters one is stopped at once (see _CallWatch).
        self.refused: set[str] = set()
        self.identity = runtime.Identity.lookup(user)
        self._interpreter = runtime.prepare_interpreter(tuple(packages), self.identity)
        try:
            self._layout = runtime.create_sandbox_dir(
                Path(submission_dir).resolve(),
                self._interpreter,
                self.identity,
                self.limits.submission_bytes,
                graded,
                tuple((Path(folder), name) for folder, name in shipped),
            )
        except BaseException:
            self.identity.release()
            raise
        self._resources = _Resources(self._layout.root, self.limits.kill_grace, self.identity)
        self._finalizer = weakref.finalize(self, self._resources.close)
        flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC
        self._resources.capture_fds = tuple(
            os.open(self._layout.out / name, flags, 0o600) for name in ("stdout", "stderr")
        )
        self._resources.progress_fd = os.open(
            self._layout.out / "progress", os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600
        )
        self._resources.stack_fd = os.open(self._layout.out / "stack", flags, 0o600)
        self.generation = 0  # increases with every worker started
        self.startup_time: float | None = None  # seconds the last worker took to start
        self._request_id = 0

    # -- lifecycle

    @property
    def workdir(self) -> Path:
        """The worker's copy of the submission (its cwd)."""
        return self._layout.work

    @property
    def worker_pid(self) -> int | None:
        worker = self._resources.worker
        return worker.pid if worker is not None else None

    @property
    def worker_info(self) -> dict:
        """What the worker reported at startup (pid, uid, python, numpy, network_isolated, paths_hidden)."""
        worker = self._resources.worker
        return dict(worker.info) if worker is not None else {}

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Kill the worker and everything it started; delete the sandbox directory."""
        self._finalizer()

    def restart(self) -> None:
        """Start afresh with the next request (e.g. to isolate a check from earlier state)."""
        self._resources.stop_worker()

    def start(self) -> float:
        """Start the worker now if none is running; returns the startup time in seconds."""
        if self._resources.worker is None:
            self._start_worker()
        return self.startup_time or 0.0

    def _environment(self) -> dict[str, str]:
        return runtime.worker_environment(self._interpreter, self._layout.tmp)

    def _start_worker(self) -> None:
        if self._finalizer.alive is False:
            raise SandboxError("the sandbox is closed")
        limits = self.limits
        started = time.monotonic()
        nproc = limits.max_processes
        if nproc is not None and not self.identity.switches:
            nproc += process.count_user_threads(os.getuid())
        request_r, request_w = os.pipe2(os.O_CLOEXEC)
        reply_r, reply_w = os.pipe2(os.O_CLOEXEC)
        # The worker's guard kills it when this pipe ends: when we die, however.
        lifeline_r, lifeline_w = os.pipe2(os.O_CLOEXEC)
        for fd in (request_w, reply_w):
            _widen_pipe(fd)
        config = {
            "fd_in": request_r,
            "fd_out": reply_w,
            "fd_progress": self._resources.progress_fd,
            "fd_stack": self._resources.stack_fd,
            "workdir": str(self._layout.work),
            "sitedir": str(self._layout.site),
            "uid": self.identity.uid,
            "own_uid": self.identity.lease is not None,  # no other sandbox runs as it
            "gid": self.identity.gid,
            "lifeline": lifeline_r,
            "hide": self._hidden,
            "tmp_root": os.path.realpath(tempfile.gettempdir()),
            "keep": self._kept_paths(),
            "sandbox_tmp": str(self._layout.tmp),
            "nproc": nproc,
            "limits": limits.to_wire(),
        }
        argv = [self._interpreter.executable, "-I", "-S", "-B", "-u"]
        argv += [str(self._layout.worker), json.dumps(config)]
        stdout_fd, stderr_fd = self._resources.capture_fds
        for fd in (stdout_fd, stderr_fd):
            os.ftruncate(fd, 0)
        fds = (request_r, reply_w, self._resources.progress_fd, self._resources.stack_fd, lifeline_r)
        popen = None
        forking = zygote.current()
        if forking is not None and forking.interpreter == self._interpreter:
            try:  # the same worker, forked from a process that has numpy already (harness/sandbox/zygote.py)
                popen = forking.spawn(config, self._environment(), str(self._layout.work), (*fds, stdout_fd, stderr_fd))
            except zygote.ZygoteError:
                popen = None  # started by exec below
        try:
            if popen is None:
                popen = _ExecWorker(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=stdout_fd,
                    stderr=stderr_fd,
                    pass_fds=fds,
                    cwd=self._layout.work,
                    env=self._environment(),
                    start_new_session=True,
                )
        except OSError as exc:
            for fd in (request_r, request_w, reply_r, reply_w, lifeline_r, lifeline_w):
                os.close(fd)
            raise SandboxError(f"could not start the sandbox worker: {exc}") from exc
        os.close(request_r)
        os.close(reply_w)
        os.close(lifeline_r)
        os.set_blocking(request_w, False)
        os.set_blocking(reply_r, False)
        worker = _Worker(popen, request_w, reply_r, limits.message_bytes, lifeline_w)
        self._resources.worker = worker
        self.generation += 1
        frames, failure, detail = worker.exchange(b"", 1, started + limits.startup_timeout)
        info = wire.load_json(frames[0][0]) if frames and not failure else None
        if not isinstance(info, dict) or info.get("ready") is not True:
            self._resources.stop_worker()
            reason = " ".join(filter(None, [failure or "no ready message", detail]))
            memory = f"{limits.memory_bytes // 2**20} MiB" if limits.memory_bytes else "none"
            raise SandboxError(
                f"the sandbox worker did not start ({reason}; memory limit: {memory}, which "
                f"must leave room for Python and numpy). Its stderr ends with:\n"
                f"{self._read_tail(stderr_fd)}"
            )
        worker.info = info
        self.startup_time = time.monotonic() - started

    def _kept_paths(self) -> list[str]:
        """What the worker must still see where its temp dir is replaced by a
        private one: its sandbox folder, and the interpreter, standard
        library and packages when they live there too (a venv in a clone
        under /tmp, the runtime mirror). The worker binds back those under it."""
        interpreter = self._interpreter
        paths = [self._layout.root, *interpreter.roots, *interpreter.packages, runtime.stdlib_dir()]
        paths.append(os.path.dirname(os.path.realpath(interpreter.executable)))
        return list(dict.fromkeys(os.path.realpath(p) for p in paths))

    @staticmethod
    def _read_tail(fd: int, size: int = 4000) -> str:
        end = os.fstat(fd).st_size
        data = os.pread(fd, size, max(0, end - size))
        return data.decode("utf-8", "replace")

    # -- requests

    def _check_ref(self, ref: Ref) -> None:
        if ref._sandbox is not self:
            raise StaleRefError(f"{ref!r} belongs to another sandbox")
        if ref.generation != self.generation or self._resources.worker is None:
            raise StaleRefError(
                f"{ref!r} belongs to a worker that was restarted (after a timeout, "
                "crash or restart()); create the object again"
            )

    def _make_ref(self, handle: int, type_name: str) -> Ref:
        return Ref(handle, type_name, self.generation, self)

    def run(self, ops: list[dict], timeout: float | None = None) -> list[Result]:
        """Run ops (dicts, see the package docs) as one request; one Result per op.

        Arrays go in as numpy arrays, remote objects as Refs. A failing op
        skips the rest. Only the sandbox's own trouble raises (SandboxError);
        whatever the student's code does becomes error results.

        Time: every call into student code (an op, `calls` times for an op
        that says it makes several; each evaluation of a map) has
        `limits.timeout` seconds; `timeout` instead gives the whole request one
        limit of its own. With a budget, the request is charged its time, cut
        off when the budget runs out, and not sent once it has.
        """
        ops = checked_ops(ops)
        if not ops:
            return []
        budget = self.budget
        if budget is not None and budget.remaining() <= 0:
            return self._not_run(ops, budget)
        started = time.monotonic()
        try:
            return self._run(ops, timeout, budget)
        finally:
            if budget is not None:
                budget.charge(time.monotonic() - started)

    def _run(self, ops: list[dict], timeout: float | None, budget: Any) -> list[Result]:
        if self._resources.worker is None:
            self._start_worker()  # before encoding: a Ref of a dead worker is stale
        arrays: dict[str, np.ndarray] = {}
        encoded = [wire.encode_value(op, arrays) for op in ops]
        self._request_id += 1
        calls = request_calls(ops)
        message: dict[str, Any] = {"id": self._request_id, "ops": encoded}
        if self.refused:
            message["refused"] = sorted(self.refused)
        if self.limits.cpu_seconds is not None:
            message["cpu_seconds"] = self.limits.cpu_seconds * calls
        payload = wire.pack_frame(message, arrays)
        if len(payload) > self.limits.message_bytes:
            raise SandboxError(
                f"request of {len(payload)} bytes exceeds the {self.limits.message_bytes}-byte limit"
            )
        per_call = self.limits.timeout
        if timeout is None and per_call is not None:
            limit = per_call * calls + REQUEST_SLACK
        else:
            limit = timeout if timeout is not None else math.inf
        cause = "request"
        if budget is not None:
            left = budget.remaining()
            if left < limit:
                limit, cause = max(left, 0.0), "budget"
        started = time.monotonic()
        watch = None
        if timeout is None and per_call is not None:
            watch = _CallWatch(self._read_progress, self._request_id, per_call, ops, started, bool(self.refused))
        return self._exchange(payload, len(ops), limit, watch, cause)

    def _not_run(self, ops: list[dict], budget: Any) -> list[Result]:
        """The results of a request that the exhausted budget does not let run."""
        error = ErrorInfo(
            "TimeBudget", f"not run: the time budget of {budget.total:g} s for this submission ran out", kind="timeout"
        )
        skipped = ErrorInfo("Skipped", "not run: the time budget ran out", kind="skipped")
        return [Result(ok=False, error=error)] + [Result(ok=False, error=skipped) for _ in ops[1:]]

    def _exchange(
        self, payload: bytes, count: int, timeout: float, watch: _CallWatch | None = None, cause: str = "request"
    ) -> list[Result]:
        worker = self._resources.worker
        assert worker is not None
        for fd in self._resources.capture_fds:
            os.ftruncate(fd, 0)
        started = time.monotonic()
        # Everything the replies may cost the judge, all of them together (see wire.ReplyBudget):
        # the exchange charges their sizes, decoding what their JSON and arrays may build.
        budget = wire.ReplyBudget(self.limits.message_bytes, count)
        try:
            frames, failure, detail = worker.exchange(payload, count, started + timeout, watch, budget)
        except BaseException:  # e.g. KeyboardInterrupt in the judge: the worker is out of step
            self._resources.stop_worker()
            raise
        results: list[Result] = []
        offsets = [0, 0]
        last_arrival = started
        for index in range(len(frames)):
            body, blob, arrival = frames[index]
            frames[index] = None  # a frame's bytes can go once it is decoded
            try:
                results.append(self._decode_frame(body, blob, index, offsets, budget))
            except wire.ProtocolError as exc:
                failure, detail = "protocol", str(exc)
                break
            last_arrival = arrival
        if failure is None and worker.has_leftovers():
            self._resources.stop_worker()  # out of step: start afresh next time
        if failure is None:
            return results
        if failure == "timeout":
            stopped = time.monotonic()
            dump = self._stack_dump(worker)
            self._resources.stop_worker()  # before reading the files the dump names
            where, trace = self._locate(dump)
            error = self._timeout(detail or cause, watch, timeout, stopped - started, stopped, where, trace)
        else:
            error = self._failure(failure, detail, worker, timeout)
        self._resources.stop_worker()
        # The worker sends a request's replies together at its end; the op it
        # was running when it died is in the progress file. The ops before it
        # finished, but their replies were lost with the worker.
        running = self._running_op(count)
        lost = ErrorInfo("Lost", f"finished, but its reply was lost when the worker died in op {running}", kind="skipped")
        results += [Result(ok=False, error=lost) for _ in range(len(results), running)]
        if len(results) < count:
            failed = self._result_for_failure(error, offsets, time.monotonic() - last_arrival)
            results.append(failed)
        skipped = ErrorInfo(
            "Skipped", f"not run: op {len(results) - 1} of this request failed", kind="skipped"
        )
        results += [Result(ok=False, error=skipped) for _ in range(count - len(results))]
        return results

    def _read_progress(self) -> tuple | None:
        """The worker's last PROGRESS record, or None."""
        try:
            return PROGRESS.unpack(os.pread(self._resources.progress_fd, PROGRESS.size, 0))
        except (OSError, struct.error, TypeError):
            return None

    def _running_op(self, count: int) -> int:
        """The index of the op the worker last started in this request (0 if unknown)."""
        record = self._read_progress()
        if record is None:
            return 0
        request_id, index = record[0], record[1]
        return index if request_id == self._request_id and 0 <= index < count else 0

    def _stack_dump(self, worker: _Worker) -> str:
        """Every thread's stack, asked of the worker's faulthandler (SIGUSR1)
        before it is killed; "" if it does not answer."""
        fd = self._resources.stack_fd
        if fd is None or worker.exit_status() is not None:
            return ""
        try:
            os.ftruncate(fd, 0)
            os.kill(worker.pid, signal.SIGUSR1)
        except OSError:
            return ""
        deadline = time.monotonic() + STACK_WAIT
        size = 0
        while time.monotonic() < deadline:
            time.sleep(0.01)
            now_size = os.fstat(fd).st_size
            if now_size and now_size == size:
                break
            size = now_size
        return os.pread(fd, 256 * 1024, 0).decode("utf-8", "replace")

    def _locate(self, dump: str) -> tuple[str, str]:
        """(where, traceback) of the submission's code in a stack dump."""
        try:
            return stack.locate(dump, self._layout.work, self._layout.worker)
        except Exception:  # a dump we cannot read names nothing
            return "", ""

    def _timeout(
        self, cause: str, watch: _CallWatch | None, limit: float, elapsed: float, now: float, where: str, trace: str
    ) -> ErrorInfo:
        """The error of a request stopped for time: which limit, after how long, and what was running."""
        kind, stalled = "Timeout", False
        method = where.partition(":")[2] or where
        if cause == "call" and watch is not None and watch.refused_at is not None:
            allowed = f"{watch.per_call:g} s per call"
            return ErrorInfo(
                kind,
                f"stopped after {seconds(now - watch.began)} s: it called {method or 'a function'}, which timed out "
                f"earlier in this run (limit: {allowed}): not called again",
                traceback=trace, kind="timeout", where=where, limit=allowed,
            )
        if cause == "call" and watch is not None:
            allowed = watch.limit_text()
            message = watch.message(now)
            stalled = watch.stalled is not None
        elif cause == "budget":
            kind, allowed = "TimeBudget", ""
            total = getattr(self.budget, "total", 0)
            message = f"stopped after {seconds(elapsed)} s: the time budget of {total:g} s for this submission ran out"
        else:
            allowed = f"{limit:g} s for the request"
            message = f"no result within {limit:g} s (wall clock)"
        if where:
            message += f"; the student method running at the time: {method}"
        return ErrorInfo(kind, message, traceback=trace, kind="timeout", where=where, limit=allowed, stalled=stalled)

    def _result_for_failure(self, error: ErrorInfo, offsets: list[int], elapsed: float) -> Result:
        result = Result(ok=False, error=error, elapsed=elapsed)
        self._attach_output(result, [offsets[0], 1 << 62], [offsets[1], 1 << 62], offsets)
        return result

    def _failure(self, failure: str, detail: str, worker: _Worker, timeout: float) -> ErrorInfo:
        limits = self.limits
        if failure == "protocol":
            return ErrorInfo("ProtocolError", f"invalid reply from the worker: {detail}", kind="protocol")
        if failure == "closed":
            return ErrorInfo("ProtocolError", "the worker closed its reply channel", kind="protocol")
        code = worker.exit_status(wait=1.0)
        if code is None or code >= 0:
            return ErrorInfo(
                "WorkerExited",
                f"the worker process exited (status {code}) while running this op, "
                "e.g. os._exit() or a fatal error",
                kind="crash",
            )
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if -code == signal.SIGXCPU:
            return ErrorInfo(
                "CPUTimeLimit",
                f"the CPU time limit ({limits.cpu_seconds} s per request) was exceeded; "
                "the worker was killed",
                kind="cpu",
            )
        if -code == signal.SIGKILL:
            message = "the worker was killed by SIGKILL (by the code itself, or the system ran out of memory)"
        elif -code in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGILL, signal.SIGFPE):
            memory = f"{limits.memory_bytes // 2**20} MiB" if limits.memory_bytes else "no"
            message = (
                f"the worker crashed with {name} (a fault in native code, or memory "
                f"exhaustion: the limit is {memory})"
            )
        else:
            message = f"the worker was killed by {name}"
        return ErrorInfo("WorkerCrashed", message, kind="crash")

    def _decode_frame(
        self, body: bytes, blob: bytes, index: int, offsets: list[int], budget: wire.ReplyBudget | None = None
    ) -> Result:
        """The Result of reply frame number `index` of the current request: its JSON
        `body` and array `blob` (bytes or a memoryview), charged to `budget` (the
        request's; a fresh one if None). `offsets`: how far each capture file
        (stdout, stderr) has been handed out. Raises wire.ProtocolError for any
        reply that is malformed, belongs elsewhere or is over budget."""
        if budget is None:
            budget = wire.ReplyBudget(self.limits.message_bytes)
        message = wire.load_json(body, budget)
        if not isinstance(message, dict):
            raise wire.ProtocolError("a reply frame is not an object")
        if type(message.get("id")) is not int or message["id"] != self._request_id:
            raise wire.ProtocolError("a reply belongs to another request")
        if type(message.get("index")) is not int or message["index"] != index:
            raise wire.ProtocolError("replies arrived out of order")
        ok = message.get("ok")
        elapsed = message.get("elapsed", 0.0)
        # Seconds: a finite float (float() of a huge JSON int would overflow).
        if not isinstance(ok, bool) or type(elapsed) not in (int, float) or not 0 <= elapsed < 1e9:
            raise wire.ProtocolError("malformed reply frame")
        result = result_from_reply(message, wire.load_arrays(blob, budget), self._make_ref)
        self._attach_output(result, message.get("stdout"), message.get("stderr"), offsets)
        return result

    @staticmethod
    def _error_from_wire(node: Any) -> ErrorInfo:
        if not isinstance(node, dict):
            raise wire.ProtocolError("malformed error in a reply")
        kind = node.get("kind", "exception")
        if not isinstance(kind, str):  # e.g. a list: unhashable, no kind at all
            raise wire.ProtocolError("malformed error in a reply")
        return ErrorInfo(
            type=wire.clean_text(node.get("type", "?"), limit=200),
            message=wire.clean_text(node.get("message", "")),
            traceback=wire.clean_text(node.get("traceback", "")),
            kind=kind if kind in ERROR_KINDS else "exception",
            where=wire.clean_text(node.get("where", ""), limit=300),
        )

    def _attach_output(self, result: Result, out: Any, err: Any, offsets: list[int]) -> None:
        """Read the op's byte ranges of the capture files (clamped: the worker may lie)."""
        for stream, span in enumerate((out, err)):
            if not (isinstance(span, list) and len(span) == 2 and all(type(n) is int for n in span)):
                raise wire.ProtocolError("malformed output range in a reply")
            if span[1] <= max(span[0], offsets[stream]):  # the op printed nothing here
                continue
            fd = self._resources.capture_fds[stream]
            size = os.fstat(fd).st_size
            start = min(max(span[0], offsets[stream]), size)
            end = min(max(span[1], start), size)
            keep = min(end - start, self.limits.output_bytes)
            text = os.pread(fd, keep, start).decode("utf-8", "replace") if keep else ""
            dropped = (end - start) - keep
            offsets[stream] = end
            if stream == 0:
                result.stdout, result.stdout_dropped = text, dropped
            else:
                result.stderr, result.stderr_dropped = text, dropped

    # -- conveniences (each is one request)

    def batch(self, timeout: float | None = None) -> Batch:
        """Record ops and send them as one request at the end of a `with` block."""
        return Batch(self, timeout)

    def _one(self, op: dict) -> Any:
        return self.run([op])[0].unwrap()

    def new(self, cls: str, *args: Any, **kwargs: Any) -> Ref:
        """A Ref to a new instance of "package.module.Class"."""
        return self._one({"op": "new", "class": cls, "args": list(args), "kwargs": kwargs})

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a "module.function" path, a Ref, or a Method (`layer.forward`); return the value."""
        return self._one({"op": "call", **callable_fields(fn), "args": list(args), "kwargs": kwargs})

    def keep(self, fn: Any, *args: Any, **kwargs: Any) -> Ref:
        """Like call, but return a Ref to the value (e.g. a parameter array to assign into)."""
        op = {"op": "call", **callable_fields(fn), "args": list(args), "kwargs": kwargs}
        return self._one({**op, "keep": True})

    def keep_items(self, fn: Any, *args: Any, **kwargs: Any) -> list[Ref]:
        """Like call, but return one Ref per item of the tuple/list value (`get_parameters()`)."""
        op = {"op": "call", **callable_fields(fn), "args": list(args), "kwargs": kwargs}
        return self._one({**op, "keep": "items"})

    def getattr(self, target: Any, name: str, *, keep: bool = False) -> Any:
        """target.name (dots allowed), as a value or (keep=True) a Ref."""
        return self._one({"op": "getattr", "target": target, "name": name, "keep": keep})

    def setattr(self, target: Any, name: str, value: Any) -> None:
        self._one({"op": "setattr", "target": target, "name": name, "value": value})

    def assign(self, target: Any, value: Any) -> None:
        """target[...] = value in the worker (target: a Ref to an ndarray)."""
        self._one({"op": "assign", "target": target, "value": value})

    def map(self, fn: Any, *args: Any, **kwargs: Any) -> np.ndarray:
        """fn evaluated once per slice of the Over(stack) argument; the (K, ...) results."""
        return self._one({"op": "map", **callable_fields(fn), **map_fields(args, kwargs)})

    def map_into(self, target: Any, stack: Any, fn: Any, *args: Any, **kwargs: Any) -> np.ndarray:
        """For each k: target[...] = stack[k]; fn(*args, **kwargs). Target restored afterwards."""
        op = {"op": "map", **callable_fields(fn), "args": list(args), "kwargs": kwargs}
        return self._one({**op, "stack": np.asarray(stack), "write_into": target})

    def release(self, *refs: Ref) -> None:
        """Forget kept objects in the worker (stale refs are ignored)."""
        live = [ref.handle for ref in refs if ref.generation == self.generation]
        if live and self._resources.worker is not None:
            self.run([{"op": "release", "handles": live}])

    def probe_packages(self, names: tuple[str, ...] = ("beras", "bgd")) -> dict[str, Result]:
        """name -> Result of importing it (ok, or the import error). One request each,
        so a package that kills the worker at import does not hide the other."""
        return {name: self.run([{"op": "import", "module": name}])[0] for name in names}
