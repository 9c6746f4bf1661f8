"""Expected values without the reference: a recording of its answers.

Checks ask the reference engine for expected values through the sandbox
request interface (`engine.run(ops)`, `engine.batch()`). Almost every request
is self-contained (build an object, set its parameters, run it: see
`harness/drivers.py`), so it has a canonical key (`memo.request_key`), and
the reference's answer to it can be recorded once and replayed later.

- `Recorder(engine)`: wraps the live reference engine; answers as it does and
  remembers every keyed request's results. At the end of a run it writes them
  to a part file (`write_part`), one per process (a grading run may fork, and
  pytest-xdist has workers); `merge_parts` joins them into one recording.
- `RecordedEngine(path)`: stands in for the reference engine wherever no
  reference is installed (the student bundle, `harness bundle`). It answers a
  recorded request from the recording and raises `NotRecorded`, a failure of
  the check with a clear message, for any other: a request it cannot answer
  never passes.

A recording is a folder with `requests.json` (every request's results, with
arrays replaced by names) and `arrays.npz` (the arrays, read without pickle).
"""

import dataclasses
import json
import os
import pathlib
import uuid

import numpy as np

from .checks import CheckFailure, Diagnosis
from .memo import _NOT_REMEMBERED, _fresh, request_key
from .sandbox import Batch, ErrorInfo, Result

FORMAT = 1
REQUESTS = "requests.json"
ARRAYS = "arrays.npz"
# Where a bundle's harness keeps its recording (package data; absent in the project itself).
PACKAGED = pathlib.Path(__file__).resolve().parent / "expected_values"
OFFLINE_MESSAGE = "this check cannot be judged offline; it is graded by the autograder"


class NotRecorded(CheckFailure):
    """The reference's answer to a request is not in the recording: the check cannot be judged here."""

    def __init__(self, what="a request"):
        super().__init__(Diagnosis(
            summary=f"{OFFLINE_MESSAGE} (the expected values of {what} were not recorded in this bundle)",
        ))


def is_recording(path):
    """Whether `path` is a recording folder (rather than a reference submission)."""
    return (pathlib.Path(path) / REQUESTS).is_file()


# ------------------------------------------------------------------ recording


class Recorder:
    """A reference engine that remembers the answers to its keyed requests.

    `answers`: request key -> list of `Result`. A request that names an
    object of an earlier request has no key (`memo.request_key`) and is
    counted in `unkeyed`; answers that record a timeout or a crash are not
    kept (replayed, they would fail a check for the reference's trouble).
    """

    def __init__(self, engine):
        self.engine = engine
        self.answers = {}
        self.unkeyed = 0

    def batch(self, timeout=None):
        return Batch(self, timeout)

    def run(self, ops, timeout=None):
        results = self.engine.run(ops, timeout=timeout)
        key = request_key(ops)
        if key is None:
            self.unkeyed += 1
        elif not any(not r.ok and r.error.kind in _NOT_REMEMBERED for r in results):
            self.answers[key] = results
        return results

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def write_part(self, folder):
        """Write what was recorded to a new part file in `folder` (one per process)."""
        folder = pathlib.Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / f"part-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        save(part, self.answers, {"unkeyed": self.unkeyed})
        return part


def save(folder, answers, meta=None):
    """Write `answers` (key -> [Result]) as a recording in `folder`."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    requests = {key: [_encode_result(r, arrays) for r in results] for key, results in sorted(answers.items())}
    document = {"format": FORMAT, "meta": meta or {}, "requests": requests}
    (folder / REQUESTS).write_text(json.dumps(document, sort_keys=True, separators=(",", ":")), encoding="utf-8")
    # Compressed: a bundle carries it; most arrays are small and repetitive.
    np.savez_compressed(folder / ARRAYS, **arrays)


def load(folder):
    """(answers: key -> [Result], meta) of the recording in `folder`."""
    folder = pathlib.Path(folder)
    document = json.loads((folder / REQUESTS).read_text(encoding="utf-8"))
    if document.get("format") != FORMAT:
        raise ValueError(f"{folder}: not a recording of format {FORMAT}")
    with np.load(folder / ARRAYS, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    answers = {key: [_decode_result(node, arrays) for node in nodes] for key, nodes in document["requests"].items()}
    return answers, document.get("meta", {})


def merge_parts(parts, destination, meta=None):
    """Join recordings `parts` into one at `destination`; returns its number of requests.

    The same request recorded twice (two processes) must have the same answer:
    the reference is deterministic, and a check seeds what it draws."""
    answers = {}
    unkeyed = 0
    for part in parts:
        found, part_meta = load(part)
        answers.update(found)
        unkeyed += part_meta.get("unkeyed", 0)
    save(destination, answers, {**(meta or {}), "unkeyed": unkeyed})
    return len(answers)


class _Unsendable:
    """A recorded reply named an object kept by the reference's engine: it no longer exists."""

    def __init__(self, type_name):
        self.type_name = type_name

    def __repr__(self):
        return f"<recorded {self.type_name} object>"


def _encode_value(value, arrays):
    """A result value as JSON, arrays moved into `arrays` under fresh names."""
    if isinstance(value, (np.ndarray, np.generic)):
        name = f"a{len(arrays)}"
        arrays[name] = np.asarray(value)
        return {"$array": name}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {"$tuple": [_encode_value(v, arrays) for v in value]}
    if isinstance(value, list):
        return [_encode_value(v, arrays) for v in value]
    if isinstance(value, dict):
        return {"$dict": {str(k): _encode_value(v, arrays) for k, v in value.items()}}
    # A Ref to an object kept by the reference's engine (`new` always returns one).
    return {"$object": getattr(value, "type", type(value).__name__)}


def _decode_value(node, arrays):
    if isinstance(node, list):
        return [_decode_value(v, arrays) for v in node]
    if not isinstance(node, dict):
        return node
    if "$array" in node:
        return arrays[node["$array"]]
    if "$tuple" in node:
        return tuple(_decode_value(v, arrays) for v in node["$tuple"])
    if "$dict" in node:
        return {k: _decode_value(v, arrays) for k, v in node["$dict"].items()}
    return _Unsendable(node.get("$object", "?"))


def _encode_result(result, arrays):
    # `raw` (the value as the worker sent it) keeps the remote types that `Result.type_of` reads;
    # its array names belong to the reply and are never looked up.
    node = {"ok": result.ok, "value": _encode_value(result.value, arrays), "raw": result.raw}
    if result.error is not None:
        node["error"] = dataclasses.asdict(result.error)
    return node


def _decode_result(node, arrays):
    error = node.get("error")
    return Result(
        ok=node["ok"], value=_decode_value(node["value"], arrays),
        error=ErrorInfo(**error) if error else None, raw=node.get("raw"),
    )


# ------------------------------------------------------------------ replaying


class RecordedEngine:
    """The reference engine replayed from a recording (see the module's docstring).

    Has the part of the Sandbox interface that checks use of the reference:
    `run`, `batch`, `start`, `close`. Every answer is a fresh copy.
    """

    def __init__(self, folder):
        self.folder = pathlib.Path(folder)
        self.answers, self.meta = load(self.folder)
        self.missing = 0  # requests asked that the recording cannot answer

    def batch(self, timeout=None):
        return Batch(self, timeout)

    def run(self, ops, timeout=None):
        ops = list(ops)
        if not ops:
            return []
        key = request_key(ops)
        answer = self.answers.get(key) if key is not None else None
        if answer is None:
            self.missing += 1
            raise NotRecorded(_describe(ops))
        return [dataclasses.replace(r, value=_fresh(r.value)) for r in answer]

    def start(self):
        return 0.0

    def close(self):
        pass

    def restart(self):
        pass


def _describe(ops):
    """What a request asks, in a few words: "beras.layers.Dense", "a scenario (tape_chain)"."""
    for op in ops:
        if op.get("op") == "new":
            return str(op.get("class"))
        if op.get("op") == "call" and isinstance(op.get("function"), str):
            return f"{op['function'].rpartition('.')[2]}"
    return "a request"


def default_source(reference_dir):
    """Where expected values come from: the reference submission when it is
    installed beside the harness (the project), else the recording packaged
    with the harness (a student bundle), else `reference_dir` anyway (the
    sandbox then says it is missing)."""
    reference_dir = pathlib.Path(reference_dir)
    if reference_dir.is_dir():
        return reference_dir
    if is_recording(PACKAGED):
        return PACKAGED
    return reference_dir

