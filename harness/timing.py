"""Time limits of a grading run (SPEC 5).

- **Per call.** Every call into student code has `--timeout` seconds (5 by
  default): an op of a request, or one evaluation of a `map`; an op that makes
  many calls says so (`pending.calls(n)`, `play(..., calls=n)` for a scenario)
  and gets n times as long. The sandbox holds each call to its own limit
  (`harness/sandbox/client.py`), so a hung call costs its own limit, not the
  whole request's.
- **Per submission.** The student's sandbox has `--budget` seconds (600 by
  default) for the whole run, every assignment in it together, summed over
  the run's processes (`Budget`); the reference's time does not count. A
  request is cut off when the budget runs out, and once it has, every check
  not yet run fails at once, saying so.
- **Once.** A method that timed out is not called again in the run
  (`TimedSandbox`), by any of its processes (`RunTimeouts`): a later request
  that would call it fails at once, with the reason. Requests name the methods
  they call (`method_key`); a scenario function names none in advance, so the
  scenario itself (the same function on the same kind of arguments) is not
  played again.

Timeout messages name the method the judge called, what it cost and the limit,
and the student function that was running when it was stopped (read from the
worker's stack): "NeuralStack.train: timed out after 20 s (limit: 5 s per call
× 4 calls); the student method running at the time: Convolutional2D._forward".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pathlib
import secrets
import struct
import time

import numpy as np

from .ops import name_of, op_label, replayed
from .sandbox import ErrorInfo, Item, Pending, Ref, Result, Sandbox, Slot
from .scenarios import IMPORT_NAME  # harness/scenarios, as the worker imports it

PRINTED_CHARS = 4000  # what a check's diagnosis quotes of the student's prints, at most
DEFAULT_TIMEOUT = 5.0  # seconds per call into student code
DEFAULT_BUDGET = 600.0  # seconds for a whole submission
NOT_RUN = "not run: the time budget"  # how the summary of a check the budget did not let run starts
_SECONDS = struct.Struct("<d")


def positive_seconds(text):
    """argparse `type` of --timeout and --budget: a positive, finite number of seconds."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


class Budget:
    """The seconds a submission's sandbox may spend in one grading run.

    With `folder`, every process of the run (pytest-xdist workers) keeps its
    own spending in a file there and the budget is what all of them spent
    together; without, this process alone.
    """

    REREAD_SECONDS = 0.25  # how stale the other processes' spending may be (reading it costs a listdir)

    def __init__(self, total, folder=None):
        self.total = float(total)
        self.folder = pathlib.Path(folder) if folder else None
        self._own = 0.0
        self._fd = None
        self._others = (0.0, -math.inf)  # (their seconds, when read)

    def charge(self, seconds):
        self._own += max(0.0, float(seconds))
        if self.folder is not None:
            if self._fd is None:
                name = f"spent.{os.getpid()}.{secrets.token_hex(4)}"
                self._fd = os.open(self.folder / name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            os.pwrite(self._fd, _SECONDS.pack(self._own), 0)

    def spent(self):
        """Seconds spent so far (by every process of the run, with a folder)."""
        if self.folder is None:
            return self._own
        others, read_at = self._others
        if time.monotonic() - read_at > self.REREAD_SECONDS:
            others = max(0.0, spent_in(self.folder) - self._own)
            self._others = (others, time.monotonic())
        return self._own + others

    def remaining(self):
        return self.total - self.spent()

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def spent_in(folder):
    """Seconds spent by every process that charged a budget kept in `folder`."""
    total = 0.0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0.0
    for name in names:
        if not name.startswith("spent."):
            continue
        try:
            with open(os.path.join(folder, name), "rb") as handle:
                (seconds,) = _SECONDS.unpack(handle.read(_SECONDS.size))
        except (OSError, struct.error):
            continue
        if math.isfinite(seconds) and seconds > 0:
            total += seconds
    return total


class RunTimeouts:
    """What timed out in a grading run: `errors` (method_key -> the ErrorInfo
    of its timeout) and `refused` (the student functions that ran a whole
    per-call limit by themselves; `Sandbox.refused`, which the judge sends with
    every request). With `folder` (the run's budget folder), every process of
    the run learns what the others did: each writes what it learns there, one
    small JSON file per timeout, and `refresh` reads the new ones, at most
    REREAD_SECONDS late. The folder is the judge's own (0700): the student's
    code cannot write there."""

    REREAD_SECONDS = Budget.REREAD_SECONDS

    def __init__(self, folder=None):
        self.errors = {}
        self.refused = set()
        self.folder = pathlib.Path(folder) if folder else None
        self._known = set()  # file names already read or written here
        self._listed = (None, -math.inf)  # (the folder's mtime, when listed)

    def learn(self, key, error):
        """`key` timed out with `error` (the first timeout of a key counts)."""
        if key in self.errors:
            return
        self._take(key, error)
        if self.folder is not None:
            name = f"timeout.{os.getpid()}.{secrets.token_hex(6)}.json"
            self._known.add(name)
            partial = self.folder / f".{name}"
            try:
                partial.write_text(json.dumps({"key": key, "error": dataclasses.asdict(error)}), encoding="utf-8")
                partial.rename(self.folder / name)  # whole or not at all, for the other processes
            except OSError:
                pass  # the others call it once more and learn it themselves

    def refresh(self):
        """Take in what the run's other processes learnt since the last look."""
        if self.folder is None:
            return
        try:
            stamp = os.stat(self.folder).st_mtime_ns
        except OSError:
            return
        seen, listed_at = self._listed
        if stamp == seen and time.monotonic() - listed_at < self.REREAD_SECONDS:
            return
        self._listed = (stamp, time.monotonic())
        try:
            names = sorted(os.listdir(self.folder))
        except OSError:
            return
        for name in names:
            if not (name.startswith("timeout.") and name.endswith(".json")) or name in self._known:
                continue
            self._known.add(name)
            try:
                record = json.loads((self.folder / name).read_text(encoding="utf-8"))
                self._take(record["key"], ErrorInfo(**record["error"]))
            except (OSError, ValueError, TypeError, KeyError):
                continue

    def _take(self, key, error):
        self.errors.setdefault(key, error)
        if error.stalled and error.where:
            # One activation of this function ran the whole limit: later
            # requests that enter it, whatever they called, stop there.
            self.refused.add(error.where)


def not_run_summary(budget_total):
    return f"{NOT_RUN} of {budget_total:g} s for this submission ran out before this check"


def was_not_run(outcome):
    """Whether a check's outcome says the budget did not let it run."""
    return bool(outcome.details.get("not_run"))


def budget_note(outcomes, budget_total, public_only=True):
    """"The time budget of 600 s for this submission ran out; 12 checks were not run.", or ""."""
    skipped = [o for o in outcomes if was_not_run(o)]
    if not skipped:
        return ""
    counted = [o for o in skipped if o.visibility == "public"] if public_only else skipped
    what = "check was" if len(counted) == 1 else "checks were"
    visible = " public" if public_only and len(counted) != len(skipped) else ""
    return (
        f"The time budget of {budget_total:g} s for this submission ran out; "
        f"{len(counted)}{visible} {what} not run (a timeout costs the per-call limit once per method: "
        f"make the slow method faster)."
    )


# ------------------------------------------------------------------ methods


def _described(value):
    """A stable, data-free description of a scenario's argument (arrays by shape and dtype)."""
    if isinstance(value, (np.ndarray, Slot)):  # a replay's slot stands for an array of its shape
        return f"<{value.dtype} array {value.shape}>"
    if isinstance(value, (Ref, Pending, Item)):
        return f"<{name_of(value)}>"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_described(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_described(v)}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))) + "}"
    if isinstance(value, (float, np.floating)):
        return "<float>"  # drawn values vary from run to run; what the scenario does does not
    return repr(value)[:200]


def _owner(node):
    """The fully qualified class of an op's target where it is known ("beras.layers.Dense")."""
    if isinstance(node, Ref):
        return node.type
    if isinstance(node, Pending):
        op = node._op
        if op["op"] == "new":
            return op["class"]
        result = node.result if node._batch.results is not None else None
        if result is not None and result.ok and isinstance(result.value, Ref):
            return result.value.type
    return name_of(node)


def method_key(op):
    """What an op calls, the same in every request: "beras.layers.Dense.__call__",
    "bgd.layers.fc.FullyConnected.__init__", a function's path, or for a
    scenario function its name and the kind of its arguments; for a replay,
    what it is there for (`ops.replayed`: the forward of finite differences)."""
    kind = op.get("op")
    if kind == "replay":
        return method_key(replayed(op))
    if kind == "new":
        return f"{op['class']}.__init__"
    if kind in ("call", "map"):
        if op.get("target") is None:
            function = op.get("function") or ""
            if function.startswith(IMPORT_NAME + "."):
                return f"{function}{_described(tuple(op.get('args', ())))}{_described(op.get('kwargs', {}))}"
            return function
        return f"{_owner(op['target'])}.{op.get('method') or '__call__'}"
    return op_label(op)


def calls_made(op):
    """The ops whose methods an op calls: a replay's body, or the op itself."""
    return list(op["body"]) if op.get("op") == "replay" else [op]


def scenario_name(op):
    """"tape_chain" for a call of gradecheck_scenarios.beras_scenarios.tape_chain, else ""."""
    function = (op.get("function") or "") if op.get("target") is None else ""
    return function.rpartition(".")[2] if function.startswith(IMPORT_NAME + ".") else ""


def not_called_again(label, earlier):
    """The error of an op that would call a method that timed out earlier in the run."""
    running = earlier.where.partition(":")[2] or earlier.where
    limit = f"limit: {earlier.limit}" if earlier.limit else "its time limit"
    then = f"; the student method running then: {running}" if running and running != label else ""
    return ErrorInfo(
        "Timeout",
        f"timed out earlier in this run ({limit}{then}): not called again",
        traceback=earlier.traceback,
        kind="timeout",
        where=earlier.where,
        limit=earlier.limit,
    )


class TimedSandbox(Sandbox):
    """The student's sandbox in a grading run: a method that timed out once is
    not called again (see the module's docstring)."""

    def __init__(self, *args, timeouts=None, **kwargs):
        """`timeouts`: the run's `RunTimeouts` (shared with the run's other
        sandboxes of the submission); default: a new one, kept in the
        budget's folder when there is a budget."""
        super().__init__(*args, **kwargs)
        if timeouts is None:
            timeouts = RunTimeouts(getattr(self.budget, "folder", None))
        self.timeouts = timeouts
        self.refused = timeouts.refused  # the set the judge sends with each request, kept up to date by `timeouts`
        # What the student's code printed since the plugin last cleared it (at
        # the start of each check), for that check's diagnosis: at most
        # PRINTED_CHARS characters, then only counted.
        self.printed, self.printed_dropped = [], 0

    @property
    def timed_out(self):
        """method_key -> the ErrorInfo of its timeout, in this run."""
        return self.timeouts.errors

    def run(self, ops, timeout=None):
        ops = list(ops)
        self.timeouts.refresh()
        for index, op in enumerate(ops):
            calling = calls_made(op) if isinstance(op, dict) and "op" in op else []
            refused = next((o for o in calling if method_key(o) in self.timed_out), None)
            if refused is None:
                continue
            earlier = self.timed_out[method_key(refused)]
            results = self._run_and_learn(ops[:index], timeout) if index else []
            if all(result.ok for result in results):
                label = scenario_name(refused) or op_label(refused)
                results.append(Result(ok=False, error=not_called_again(label, earlier)))
                reason = f"op {index} of this request would call a method that timed out earlier"
            else:
                reason = "an earlier op of this request failed"
            skipped = ErrorInfo("Skipped", f"not run: {reason}", kind="skipped")
            return results + [Result(ok=False, error=skipped) for _ in range(len(ops) - len(results))]
        return self._run_and_learn(ops, timeout)

    def _run_and_learn(self, ops, timeout):
        results = super().run(ops, timeout)
        self._keep_printed(results)
        for op, result in zip(ops, results):
            error = result.error
            if not result.ok and error.kind == "timeout" and error.type == "Timeout":
                self.timeouts.learn(method_key(op), error)
        return results

    def _keep_printed(self, results):
        kept = sum(map(len, self.printed))
        for result in results:
            for text, dropped in ((result.stdout, result.stdout_dropped), (result.stderr, result.stderr_dropped)):
                if not text and not dropped:
                    continue
                room = max(0, PRINTED_CHARS - kept)
                self.printed.append(text[:room])
                kept += len(self.printed[-1])
                # characters cut here, bytes the sandbox dropped: a count for the student, not an account
                self.printed_dropped += len(text) - len(self.printed[-1]) + dropped

    def take_printed(self):
        """(what was printed since the last call, how much more was dropped), and forget it."""
        text, dropped = "".join(self.printed), self.printed_dropped
        self.printed, self.printed_dropped = [], 0
        return text, dropped


def training_calls(epochs, samples, batch_size, layers):
    """About how many calls into student code a training run makes: every
    batch, a forward and a backward of every layer, the cost and an optimizer
    step (for `pending.calls(...)`, `play(..., calls=...)`)."""
    batches = max(1, math.ceil(samples / max(1, batch_size)))
    return max(1, int(epochs)) * batches * (2 * max(1, layers) + 2)
