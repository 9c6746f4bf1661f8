"""The reference engine in the judge's own process.

The reference is the instructor's solution: trusted code, which needs no
sandbox. Running it here instead of in a worker of its own saves, in every
grading process, a worker's start (a fork, namespaces, a copy of the
sources) and its CPU, and the pipe round trip of every request to it.

What it answers is what its sandbox answered, because the same code does
the same work on the same data:
  - the ops run in `worker.Worker` (the sandbox worker's own interpreter of
    ops, without its process-level parts: progress file, watchdog, limits);
  - requests are encoded and replies decoded by the code that talks to a
    sandbox (`wire`, `client.result_from_reply`): the reference never holds
    an array of the judge's, nor the judge one of the reference's;
  - only the graded packages of the reference folder (and the top-level
    modules they import, `runtime.submission_entries`) and the harness's
    shipped scenario code are importable by their names.

Those modules live in a namespace of their own: they are in `sys.modules`
only while one of this engine's requests runs, so the judge's process may
hold other modules of the same names (the test suite imports students'
`beras`), and two engines of different references do not share them.
Whatever the reference prints goes to the results (`Result.stdout`), never
to the judge's terminal. Nothing here limits its time or memory: the
reference is trusted not to hang, and what it is given is bounded by the
same message limit as a sandbox's requests.
"""

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import json
import pathlib
import sys
import threading

import numpy as np

from .sandbox import Batch, Limits, Sandbox, SandboxError, StaleRefError, runtime, wire
from .sandbox import worker as worker_code
from .sandbox.client import Ref, checked_ops, result_from_reply

worker_code.np = np  # set by the worker's bootstrap in a sandbox

# A request changes what the whole process shares (sys.modules, sys.meta_path,
# sys.stdout, sys.stderr) and puts it back after: the requests of every engine
# of the process take turns, so that each puts back what it found (two
# engines' requests overlapping on two threads swapped their modules and left
# the process's streams pointing at a finished request's capture).
_PROCESS_WIDE = threading.Lock()


class InProcessEngine:
    """A reference submission run in this process, with the part of the
    Sandbox interface that checks use of the reference: `run`, `batch`,
    `start`, `close`, `restart`.

    `submission`: the reference folder (holding beras/ and/or bgd/);
    `graded`: its packages that may be imported (None: every top-level
    entry); `shipped`: (folder, import name) pairs of the harness's own code,
    as for a Sandbox. Raises SandboxError if `submission` is not a folder."""

    def __init__(self, submission, limits=None, graded=None, shipped=()):
        self.limits = limits or Limits()
        self.folder = pathlib.Path(submission).resolve()
        if not self.folder.is_dir():
            raise SandboxError(f"submission {self.folder} is not a directory")
        entries = runtime.submission_entries(self.folder, graded)
        self._finder = _Finder(
            {entry.name.removesuffix(".py"): entry.parent for entry in entries},
            {name: pathlib.Path(folder) for folder, name in shipped},
            missing=set(graded or ()),
        )
        self.generation = 0
        self.refused = set()  # as a Sandbox's; nothing is ever refused to the reference
        self._lock = threading.Lock()
        self._request_id = 0
        self._new_worker()

    def _new_worker(self):
        self.generation += 1
        self._modules = {}  # the reference's modules, out of sys.modules between requests
        self._worker = _Worker(self.folder, self.limits.message_bytes)

    # -- the Sandbox interface

    def batch(self, timeout=None):
        return Batch(self, timeout)

    def start(self):
        return 0.0

    def restart(self):
        """Forget every object and module of the reference (as a fresh worker would)."""
        with self._lock:
            self._new_worker()

    def close(self):
        self._worker = None
        self._modules = {}

    # A Ref of the reference calls its methods through these, as a sandbox's does (one request each).
    _one, new, call, keep, keep_items = Sandbox._one, Sandbox.new, Sandbox.call, Sandbox.keep, Sandbox.keep_items
    getattr, setattr, assign, map, map_into = Sandbox.getattr, Sandbox.setattr, Sandbox.assign, Sandbox.map, Sandbox.map_into

    def release(self, *refs):
        """Forget kept objects of the reference (refs from before a restart are ignored)."""
        live = [ref.handle for ref in refs if ref.generation == self.generation]
        if live and self._worker is not None:
            self.run([{"op": "release", "handles": live}])

    def run(self, ops, timeout=None):
        """One Result per op, as `Sandbox.run` (`timeout` is ignored: the reference has no limit)."""
        ops = checked_ops(ops)
        if not ops:
            return []
        with self._lock:
            if self._worker is None:
                raise SandboxError("the engine is closed")
            # What an interrupted request sent before it ended (a reply over
            # 64 KiB goes at once) is not this request's.
            self._worker.channel.take()
            arrays = {}
            encoded = [wire.encode_value(op, arrays) for op in ops]
            self._request_id += 1
            # Through JSON, as a worker reads it (tuples become lists); the
            # worker copies every array it decodes.
            message = json.loads(json.dumps({"id": self._request_id, "ops": encoded}))
            size = sum(array.nbytes for array in arrays.values())
            if size > self.limits.message_bytes:
                raise SandboxError(f"request of {size} bytes exceeds the {self.limits.message_bytes}-byte limit")
            with _PROCESS_WIDE, self._namespace(), self._worker.capturing() as (stdout, stderr):
                self._worker.run_request(message, arrays)
            return self._results(self._worker.channel.take(), stdout.getvalue(), stderr.getvalue())

    def _check_ref(self, ref):
        if ref._sandbox is not self or ref.generation != self.generation:
            raise StaleRefError(f"{ref!r} belongs to another engine, or to this one before a restart")

    def _make_ref(self, handle, type_name):
        return Ref(handle, type_name, self.generation, self)

    # -- inside

    @contextlib.contextmanager
    def _namespace(self):
        """The reference's modules in sys.modules (and its finder first on
        sys.meta_path) for the time of one request; whatever held those names
        before is put back after."""
        others = self._take_owned()
        sys.modules.update(self._modules)
        sys.meta_path.insert(0, self._finder)
        try:
            yield
        finally:
            sys.meta_path.remove(self._finder)
            self._modules = self._take_owned()
            sys.modules.update(others)

    def _take_owned(self):
        """The modules of sys.modules named as the reference's are (`_Finder.names`), taken out of it.
        (Twice a request over every module of the process: no call per module.)"""
        names = self._finder.names
        return {name: sys.modules.pop(name) for name in [n for n in sys.modules if n.partition(".")[0] in names]}

    def _results(self, parts, stdout, stderr):
        """The Results of one request's reply frames (`parts`, as the worker sends them)."""
        results = []
        for body, blob in zip(parts[1::3], parts[2::3]):
            message = json.loads(body)
            result = result_from_reply(message, wire.load_arrays(blob), self._make_ref)
            for name, text in (("stdout", stdout), ("stderr", stderr)):
                start, end = message[name]
                printed = text[start:end]
                setattr(result, name, printed[: self.limits.output_bytes])
                setattr(result, f"{name}_dropped", max(0, len(printed) - self.limits.output_bytes))
            results.append(result)
        return results


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the reference's top-level modules where they are, and no other
    module by their names (a missing graded package is missing, not found
    elsewhere on sys.path)."""

    def __init__(self, entries, shipped, missing):
        self.entries = entries  # top-level name -> the folder holding it
        self.shipped = shipped  # import name -> the folder that is that package
        self.names = set(entries) | set(shipped) | set(missing)

    def find_spec(self, name, path=None, target=None):
        if "." in name or name not in self.names:
            return None  # submodules are found through their package's __path__
        if name in self.shipped:
            folder = self.shipped[name]
            return importlib.util.spec_from_file_location(
                name, folder / "__init__.py", submodule_search_locations=[str(folder)]
            )
        if name in self.entries:
            spec = importlib.machinery.PathFinder.find_spec(name, [str(self.entries[name])])
            if spec is not None:
                return spec
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)


class _Replies:
    """The worker's channel: replies are kept, in the parts the worker writes."""

    pack = staticmethod(worker_code.Channel.pack)

    def __init__(self):
        self.parts = []

    def send_parts(self, parts):
        self.parts.extend(bytes(part) for part in parts)

    def take(self):
        """Every reply frame of the request as its three parts (header, JSON, arrays)."""
        parts, self.parts = self.parts, []
        return parts


class _Worker(worker_code.Worker):
    """The sandbox worker's interpreter of ops, in this process: no progress
    file, no watchdog, no limits, no file descriptors of its own."""

    def __init__(self, workdir, message_bytes):
        config = {"workdir": str(workdir),
                  "limits": {"message_bytes": message_bytes, "cpu_seconds": None, "memory_bytes": None}}
        super().__init__(config, _Replies(), None, None, None)
        self._streams = None

    @contextlib.contextmanager
    def capturing(self):
        """What the ops print, kept in two strings (`output_sizes` gives each op's span).
        Only what this thread prints: the judge's other threads print where they did."""
        self._streams = (io.StringIO(), io.StringIO())
        thread = threading.get_ident()
        saved = sys.stdout, sys.stderr
        routed = tuple(_ThreadStream(kept, other, thread) for kept, other in zip(self._streams, saved))
        sys.stdout, sys.stderr = routed
        try:
            yield self._streams
        finally:
            # Put back only what is still ours (another thread may have set its own meanwhile).
            if sys.stdout is routed[0]:
                sys.stdout = saved[0]
            if sys.stderr is routed[1]:
                sys.stderr = saved[1]
            self._streams = None

    def output_sizes(self):
        return [stream.tell() for stream in self._streams]

    def progress(self, index, evaluation=-1, when=None, only_if=None):
        pass

    def describe(self, exc, kind=None):
        if isinstance(exc, KeyboardInterrupt):  # the judge's own Ctrl-C, not an op's failure
            raise exc
        return super().describe(exc, kind)


class _ThreadStream(io.TextIOBase):
    """A process-wide stream for the time of a request: what the request's own
    `thread` writes is `kept`; what any other thread writes goes to `other`
    (the stream it replaced)."""

    def __init__(self, kept, other, thread):
        super().__init__()
        self._kept, self._other, self._thread = kept, other, thread

    def _target(self):
        return self._kept if threading.get_ident() == self._thread else self._other

    def writable(self):
        return True

    def write(self, text):
        return self._target().write(text)

    def flush(self):
        target = self._target()
        if target is not None:
            target.flush()

    # What a caller asks of a stream is asked of the one this thread writes to.
    @property
    def encoding(self):
        return getattr(self._target(), "encoding", None)

    @property
    def errors(self):
        return getattr(self._target(), "errors", None)

    def fileno(self):
        return self._target().fileno()

    def isatty(self):
        return self._target().isatty()
