"""Grading a whole class (SPEC 1, instructor rows; SPEC 5, batch OUTDIR files).

    python -m harness batch SUBMISSIONS_DIR --out OUTDIR [-n WORKERS] [--shard K/N] [--force] [--seed N]
    python -m harness merge OUT1 OUT2 ... --out OUTDIR

Every direct subfolder of SUBMISSIONS_DIR is one submission, its name the
submission's id. Each is graded by its own `python -m harness grade`
process (`grade_command`; run as a fork of the batch, which has imported the
harness already: `_ForkedGrading`), in one grading process
(GRADECHECK_PROCESSES=1), at most WORKERS at a time, which writes
`OUTDIR/<id>/results.json` and `report.html`. One submission cannot stop or
spoil the others: its grading process has a wall-clock limit (`--limit`,
by default `default_limit(budget)`), after which it and everything it
started are killed (`sandbox.process.kill_tree`); its output is kept in a
file and only the tail is read; whatever way it ends, the batch goes on.

Each results.json gets `extra_data.status` (`STATUSES`):
- "graded": grade ran and wrote its results (exit status 0 or 1);
- "refused": grade could not grade the folder and said why (exit status 2:
  no package, too large, ...), score 0; when what grade said is that the
  grader itself failed (`extra_data.error`), "crashed";
- "timeout": the grading process outlived its limit and was killed;
- "crashed": it died without results (a signal, the OOM killer, a bug).
For the last two the batch writes results.json itself
(`results.refused_results`: score 0, the reason) and report.html. The
status is written last, atomically, so a results.json that has one is
complete: a batch run again with the same OUTDIR skips those submissions
(unless `--force`) and an interrupted batch resumes where it stopped.

Seeds: each submission's run seed is `submission_seed(batch_seed, id)`, so a
shard, a resumed run and a whole batch grade a submission identically. The
batch seed is `--seed`, else the one already recorded in OUTDIR
(`extra_data.batch_seed`), else a fresh random one; shards must be given
`--seed` (or each would draw its own).

`OUTDIR/grades.csv` (`write_grades`) and the class report `index.html`
(`harness/class_report.py`, when present) are pure functions of the
complete `OUTDIR/*/results.json`, which is what lets `merge` rebuild
exactly what one batch would have written from the shards' folders.
"""

from __future__ import annotations

import csv
import ctypes
import dataclasses
import hashlib
import heapq
import importlib.util
import io
import json
import math
import os
import pathlib
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import report, results
from .sandbox import SandboxError, cleanup, zygote
from .sandbox.process import kill_tree
from .text import printable

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]  # the folder holding this harness package
RESULTS, REPORT = "results.json", "report.html"
GRADES, CLASS_REPORT = "grades.csv", "index.html"
STATUSES = ("graded", "timeout", "crashed", "refused")
GRADED, TIMEOUT, CRASHED, REFUSED = STATUSES
OUTPUT_TAIL_CHARS = 4000  # what a crashed grade printed last, kept in its results.json for the instructor
POLL_SECONDS = 0.05
KILL_GRACE_SECONDS = 1.0  # SIGTERM first (grade's sandboxes go quietly), SIGKILL after this
# A grade process that ended by these was interrupted (Ctrl-C, a scheduler's
# SIGTERM), not broken: it is left ungraded, for the next run to grade.
INTERRUPTIONS = {-signal.SIGINT, -signal.SIGTERM, -signal.SIGHUP, 128 + signal.SIGINT, 128 + signal.SIGTERM}
SEED_RANGE = 2**31  # as grade's own seeds


class BatchError(Exception):
    """The batch or merge cannot run as asked (exit status 2); the message says why."""


class Interrupted(Exception):
    """The batch was stopped by SIGINT or SIGTERM; what was complete stays."""


def default_limit(budget):
    """Wall-clock seconds a submission's whole grading process may take: the
    student's `budget`, as long again for the reference and the judge
    (which the budget does not count, and which a loaded machine slows),
    and a minute for starting up."""
    return 2 * budget + 60


def usable_cores():
    """The cores this process may run on: the default number of workers."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def submission_seed(batch_seed, submission_id):
    """The run seed of one submission in a batch: a function of the batch seed
    and the id only (not of the shard, the order or the worker), in grade's
    range [0, 2**31)."""
    digest = hashlib.sha256(f"{batch_seed}\0{submission_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % SEED_RANGE


@dataclasses.dataclass(frozen=True)
class Shard:
    """Part `index` (1-based) of `count`: the submissions at positions i
    (0-based, ids sorted) with i % count == index - 1."""

    index: int
    count: int

    @classmethod
    def parse(cls, text):
        """argparse `type` of --shard: "K/N" with 1 <= K <= N."""
        import argparse

        try:
            index, count = (int(part) for part in str(text).split("/"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be K/N (e.g. 2/4), not {text!r}") from None
        if not 1 <= index <= count:
            raise argparse.ArgumentTypeError(f"K/N needs 1 <= K <= N, not {text!r}")
        return cls(index, count)

    def select(self, items):
        return [item for position, item in enumerate(items) if position % self.count == self.index - 1]

    def __str__(self):
        return f"{self.index}/{self.count}"


def find_submissions(folder):
    """The submissions of SUBMISSIONS_DIR `folder`: its direct subfolders, sorted
    by name (hidden ones and `__MACOSX/` aside), and notes on what was left
    out (a zip file: it must be unpacked first). Raises BatchError when the
    folder does not exist."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise BatchError(f"{folder}: no such folder")
    found, notes = [], []
    for entry in sorted(folder.iterdir(), key=lambda path: path.name):
        if entry.name.startswith(".") or entry.name == "__MACOSX":
            continue
        if entry.is_dir():
            found.append(entry)
        elif entry.suffix.lower() == ".zip":
            notes.append(f"{entry.name}: a zip file, not a folder: unpack it into a folder of its own to grade it")
    return found, notes


def read_complete(folder):
    """The results.json document of `folder` when the batch finished with it
    (a status recorded and its report.html written), else None."""
    try:
        document = json.loads((pathlib.Path(folder) / RESULTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    extra = document.get("extra_data") if isinstance(document, dict) else None
    if not isinstance(extra, dict) or extra.get("status") not in STATUSES:
        return None
    if not (pathlib.Path(folder) / REPORT).is_file():
        return None
    return document


def completed(outdir):
    """{id: results.json document} of every complete submission folder in `outdir`, by id."""
    outdir = pathlib.Path(outdir)
    if not outdir.is_dir():
        return {}
    found = {}
    for folder in sorted(outdir.iterdir(), key=lambda path: path.name):
        if folder.is_dir():
            document = read_complete(folder)
            if document is not None:
                found[folder.name] = document
    return found


# ------------------------------------------------------------------ grades.csv


def check_columns(documents):
    """The check names of all `documents` (results.json), in catalog order.

    Every results.json lists its tests in catalog order, some only a part
    of it (one assignment, a refusal): the order is the one all of them
    agree on (a topological merge of their lists), ties and anything they
    do not order broken by name. It depends on the set of documents only,
    not on their order.
    """
    names, after, before_count = set(), {}, {}
    for document in documents:
        listed = [test["name"] for test in document.get("tests", [])]
        names.update(listed)
        for first, second in zip(listed, listed[1:]):
            if second not in after.setdefault(first, set()):
                after[first].add(second)
                before_count[second] = before_count.get(second, 0) + 1
    ready = [name for name in names if not before_count.get(name)]
    heapq.heapify(ready)
    order = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for successor in after.get(name, ()):
            before_count[successor] -= 1
            if not before_count[successor]:
                heapq.heappush(ready, successor)
    placed = set(order)
    return order + sorted(names - placed)  # a cycle (lists that disagree): by name


def _number(value):
    """A score as grades.csv writes it: "3", "2.5"; "" when there is none."""
    if value is None:
        return ""
    value = float(value)
    if not math.isfinite(value):
        return ""
    value = round(value, 6)
    return str(int(value)) if value.is_integer() else repr(value)


def grades_table(documents):
    """grades.csv as rows: a header (id, score, max_score, one column per check,
    status), then one row per submission, by id. `documents`: {id: results.json}.
    A check a submission was not graded on (the other assignment, a refusal) is
    an empty cell; so is the max_score of a submission not graded."""
    columns = check_columns(documents.values())
    rows = [["id", "score", "max_score", *columns, "status"]]
    for submission_id in sorted(documents):
        document = documents[submission_id]
        extra = document.get("extra_data", {})
        scores = {test["name"]: test.get("score") for test in document.get("tests", [])}
        rows.append([
            submission_id,
            _number(document.get("score", 0)),
            _number(extra.get("max_score")),
            *(_number(scores.get(name)) for name in columns),
            extra.get("status", ""),
        ])
    return rows


def write_grades(outdir):
    """Write OUTDIR/grades.csv from the complete results.json files there; return its path."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(grades_table(completed(outdir)))
    path = pathlib.Path(outdir) / GRADES
    results.write_atomically(path, buffer.getvalue())
    return path


def write_class_report(outdir):
    """OUTDIR/index.html by `harness.class_report.write_class_report` when this
    version has it: (its path, "") or (None, a note saying it was skipped or
    why it failed: grades.csv and the students' reports stand without it)."""
    if importlib.util.find_spec("harness.class_report") is None:
        return None, "class report skipped: harness/class_report.py is not in this version of the harness"
    try:
        from .class_report import write_class_report as write

        return pathlib.Path(write(pathlib.Path(outdir))), ""
    except Exception as error:  # noqa: BLE001 - said, and the exit status says it too
        return None, f"the class report could not be written: {type(error).__name__}: {error}"


# ------------------------------------------------------------------ grading processes


# `python -m harness`, except that the import path starts with this harness's
# folder rather than the working directory: grade runs in SUBMISSIONS_DIR (so
# that what it writes names the submission by its id, never by where the
# instructor keeps it), and nothing there may be imported into the judge.
_RUN_HARNESS = "import runpy, sys; sys.path[0] = sys.argv.pop(1); runpy.run_module('harness', run_name='__main__')"


def grade_command(source, destination, seed, timeout, budget):
    """The command line that grades the submission `source` into the folder
    `destination`; it runs in `source`'s parent folder (`_Running`)."""
    return [
        sys.executable, "-c", _RUN_HARNESS, str(PROJECT_ROOT), "grade", source.name,
        "--results", str(destination / RESULTS), "--html", str(destination / REPORT),
        "--seed", str(seed), "--timeout", repr(float(timeout)), "--budget", repr(float(budget)),
    ]


# How `grade_command` starts this harness: such a command runs as a fork of
# the batch (`_ForkedGrading`), any other (a test's stand-in) as a process.
_OWN_HARNESS = [sys.executable, "-c", _RUN_HARNESS, str(PROJECT_ROOT)]


class _ForkedGrading:
    """`python -m harness ARGS` (a `grade_command`) as a fork of this batch
    process, which imported the harness, numpy and pytest already: each
    submission saves their start (~0.25 s of CPU) but is otherwise the
    process `subprocess.Popen` would start: its own pid (its sandboxes are its
    children), stdin from /dev/null, stdout and stderr into `log`, `cwd` its
    folder, `environment` its environment, the harness's folder first on its
    import path (never the submissions', see `_RUN_HARNESS`), the default
    signal handlers, dead when the batch dies. What the batch uses of a Popen:
    `pid`, `poll()`, `wait()`, `returncode` (-signal when killed)."""

    def __init__(self, args, cwd, log, environment, connection=None):
        """`connection`: to the batch's zygote, for this grading's sandboxes (None: its own zygote)."""
        self.returncode = None
        log.flush()
        pid = os.fork()
        if pid == 0:
            status = 70  # EX_SOFTWARE: the child could not even start grading
            try:
                if connection is not None:
                    zygote.adopt(zygote.Zygote.joined(connection))
                status = _grade_in_fork(args, cwd, log.fileno(), environment, keep=connection)
            finally:
                os._exit(status)
        self.pid = pid
        if connection is not None:
            connection.close()  # the grading's own now

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self):
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def _connection_to(shared):
    """A new connection to the batch's zygote `shared` (a Zygote), or None (no
    zygote, or it is gone: the grading starts one of its own)."""
    if shared is None:
        return None
    try:
        return shared.connections[0].connect()
    except zygote.ZygoteError:
        return None


def _grade_in_fork(args, cwd, log_fd, environment, keep=None):
    """In the fork: become the grading process, run the command line, return its
    exit status. `keep`: a zygote connection whose descriptor stays open."""
    _die_with_parent()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    kept = keep.sock.fileno() if keep is not None else None
    for fd in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else map(str, range(3, 1024)):
        if int(fd) > 2 and int(fd) != kept:  # nothing of the batch's (other submissions' logs) stays open here
            try:
                os.close(int(fd))
            except OSError:
                pass
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(environment)
    sys.path[0] = str(PROJECT_ROOT)
    cleanup.forget_inherited()  # the batch's folders are the batch's to remove; this process removes its own
    from . import cli

    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    try:
        status = cli.main(list(args))
    except SystemExit as leaving:  # argparse's errors and the like: as `python -m harness` would end
        status = leaving.code if isinstance(leaving.code, int) else (0 if leaving.code is None else 2)
    sys.stdout.flush()
    sys.stderr.flush()
    return status or 0


def _die_with_parent():
    """preexec_fn of a grading process: it dies when the batch does (SIGKILL
    included), and its own children with it (the sandboxes' lifelines, the
    forked assignment's pipe). The batch is single-threaded, so this runs
    safely between fork and exec."""
    _PRCTL(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else (lambda *args: 0)


@dataclasses.dataclass
class Job:
    """One submission to grade: where it is, where its files go, its seed."""

    id: str
    source: pathlib.Path
    folder: pathlib.Path  # OUTDIR/<id>
    seed: int


@dataclasses.dataclass
class Finished:
    """How one submission's grading ended, for the progress line and the summary."""

    id: str
    status: str  # one of STATUSES, or "interrupted" (nothing recorded)
    score: float = 0.0
    max_score: float | None = None
    seconds: float = 0.0
    reason: str = ""


class _Running:
    """A grading process in flight, its output going to a file (never a pipe
    that could fill, never memory)."""

    def __init__(self, job, command, limit, log_folder, shared_zygote=None):
        self.job = job
        self.log = tempfile.TemporaryFile(dir=log_folder)
        self.started = time.monotonic()
        self.deadline = self.started + limit
        # One grading process per submission (GRADECHECK_PROCESSES=1): the
        # batch's workers are its parallelism, and a second process per
        # grading would only add its own start-up to every submission.
        environment = {**os.environ, "GRADECHECK_PROCESSES": "1"}
        if command[:len(_OWN_HARNESS)] == _OWN_HARNESS:
            self.process = _ForkedGrading(command[len(_OWN_HARNESS):], job.source.parent, self.log, environment,
                                          _connection_to(shared_zygote))
        else:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                cwd=job.source.parent, preexec_fn=_die_with_parent, env=environment,
            )

    def output_tail(self):
        self.log.seek(0, os.SEEK_END)
        size = self.log.tell()
        self.log.seek(max(0, size - OUTPUT_TAIL_CHARS))
        tail = self.log.read().decode("utf-8", "replace")
        return printable(tail if size <= OUTPUT_TAIL_CHARS else "..." + tail)

    def close(self):
        self.log.close()


def _describe_exit(returncode):
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = " (the out-of-memory killer sends it, among others)" if -returncode == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit status {returncode}"


def _record(job, document, status, batch_seed):
    """Mark `job`'s results.json complete: its status and the batch seed, written last, atomically."""
    document.setdefault("extra_data", {}).update({"status": status, "batch_seed": batch_seed})
    results.write_results(job.folder / RESULTS, document)


def _finish(running, returncode, timed_out, limit, batch_seed):
    """Turn a grading process's end into a complete results.json (or nothing,
    when it was interrupted) and say how it ended."""
    job = running.job
    seconds = time.monotonic() - running.started
    if not timed_out and returncode in INTERRUPTIONS:
        return Finished(job.id, "interrupted", seconds=seconds, reason=_describe_exit(returncode))
    document = None
    if not timed_out and returncode in (0, 1, 2):
        try:
            document = json.loads((job.folder / RESULTS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            document = None
    if isinstance(document, dict) and (job.folder / REPORT).is_file():
        extra = document.get("extra_data", {})
        if returncode in (0, 1):
            status = GRADED
        else:  # grade said why it graded nothing: the folder (refused) or the grader's own failure (crashed)
            status = CRASHED if "error" in extra else REFUSED
        _record(job, document, status, batch_seed)
        reason = "" if status == GRADED else str(extra.get("error") or extra.get("refused", ""))
        return Finished(job.id, status, float(document.get("score", 0)), extra.get("max_score"), seconds, reason)
    if timed_out:
        status = TIMEOUT
        reason = (f"grading it took longer than the batch's limit of {limit:g} s, so it was stopped "
                  "(your code may loop forever or be very slow); tell your instructor")
    else:
        status = CRASHED
        reason = (f"the grading process stopped without writing results ({_describe_exit(returncode)}); "
                  "tell your instructor")
    document = results.refused_results(reason, seconds, job.seed, {"grade_output": running.output_tail()})
    report.write_report(job.folder / REPORT, [], submission=job.id, seed=job.seed, refused=reason)
    _record(job, document, status, batch_seed)
    return Finished(job.id, status, 0.0, None, seconds, reason)


def _resolve_seed(outdir, seed, force, shard, selected_ids):
    """The batch seed (see the module's docstring); BatchError when it would
    mix runs graded with different seeds."""
    recorded = {}
    for submission_id, document in completed(outdir).items():
        recorded.setdefault(document["extra_data"].get("batch_seed"), []).append(submission_id)
    recorded.pop(None, None)
    if seed is None:
        if len(recorded) > 1:
            raise BatchError(f"{outdir} holds results of batches with different seeds ({', '.join(map(str, recorded))}): "
                             "give --seed (and --force to regrade the others with it), or use a new --out")
        if recorded:
            return next(iter(recorded))
        if shard is not None:
            raise BatchError("--shard needs --seed: every shard must grade with the same batch seed, "
                             "or merged shards would not equal one batch (e.g. --seed 2024)")
        return secrets.randbelow(SEED_RANGE)
    others = {value: ids for value, ids in recorded.items() if value != seed}
    stale = sorted(i for ids in others.values() for i in ids if not force or i not in selected_ids)
    if stale:
        raise BatchError(f"{outdir} already holds results graded with --seed {', '.join(map(str, others))} "
                         f"({', '.join(stale[:5])}{', ...' if len(stale) > 5 else ''}): re-run with that seed to "
                         "resume, or use a new --out")
    return seed


@dataclasses.dataclass
class Summary:
    """What a batch did."""

    outdir: pathlib.Path
    batch_seed: int
    selected: list  # ids of this run (the shard's, or all)
    skipped: list  # ids already complete in OUTDIR
    finished: list  # Finished, in the order they ended
    notes: list  # what was left out and why
    grades: pathlib.Path | None = None
    class_report: pathlib.Path | None = None

    @property
    def class_report_failed(self):
        return any(note.startswith("the class report could not") for note in self.notes)


class Progress:
    """Progress of a batch: a bar (tqdm) on a terminal, else one plain line per submission."""

    def __init__(self, total, stream=None):
        self.stream = stream or sys.stderr
        self.total = total
        self.done = 0
        self.bar = None
        if total and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=self.stream, unit="submission", dynamic_ncols=True)

    def update(self, finished):
        self.done += 1
        line = f"[{self.done:>{len(str(self.total))}}/{self.total}] {describe(finished)}"
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
            self.bar.update(1)
        else:
            print(line, file=sys.stdout, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def describe(finished):
    """One line about one submission's end: "alice: graded, 180/215 (3.2 s)"."""
    head = f"{finished.id}: {finished.status}"
    if finished.status == GRADED:
        total = "" if finished.max_score is None else f"/{_number(finished.max_score)}"
        return f"{head}, {_number(finished.score)}{total} ({finished.seconds:.1f} s)"
    reason = finished.reason.splitlines()[0][:160] if finished.reason else ""
    return f"{head} ({finished.seconds:.1f} s){': ' + reason if reason else ''}"


def run_batch(submissions_dir, outdir, *, workers=None, shard=None, force=False, seed=None,
              timeout=5.0, budget=600.0, limit=None, command=grade_command, progress=Progress):
    """Grade the submissions of `submissions_dir` into `outdir` (module docstring); return a Summary.

    `workers`: grading processes at once (default: the cores this process
    may use); `shard`: a `Shard` or None; `limit`: wall-clock seconds of
    each grading process (default `default_limit(budget)`); `command`:
    builds a grading command line as `grade_command` does (tests replace
    it). Raises BatchError when it cannot run (no such folder, a seed
    conflict), Interrupted on SIGINT or SIGTERM (kills its grading
    processes; complete results stay, the next run resumes).
    """
    outdir = pathlib.Path(outdir)
    workers = workers or usable_cores()
    limit = default_limit(budget) if limit is None else limit
    if outdir.resolve() == pathlib.Path(submissions_dir).resolve():
        raise BatchError("--out must not be SUBMISSIONS_DIR itself: give the results a folder of their own")
    sources, notes = find_submissions(submissions_dir)
    sources = [source for source in sources if source.resolve() != outdir.resolve()]  # --out inside it
    if shard is not None:
        sources = shard.select(sources)
    selected_ids = [source.name for source in sources]
    outdir.mkdir(parents=True, exist_ok=True)
    batch_seed = _resolve_seed(outdir, seed, force, shard, set(selected_ids))
    done_before = completed(outdir)
    jobs, skipped = [], []
    for source in sources:
        if source.name in done_before and not force:
            skipped.append(source.name)
            continue
        jobs.append(Job(source.name, source.resolve(), (outdir / source.name).resolve(),
                        submission_seed(batch_seed, source.name)))
    stale = sorted(set(done_before) - set(selected_ids))
    if stale and shard is None:
        notes.append(f"{outdir} also holds results of {len(stale)} folder(s) not in {submissions_dir} "
                     f"({', '.join(stale[:5])}{', ...' if len(stale) > 5 else ''}): grades.csv lists them too")
    summary = Summary(outdir, batch_seed, selected_ids, skipped, [], notes)
    _grade_all(jobs, summary, workers, timeout, budget, limit, command, progress)
    summary.grades = write_grades(outdir)
    summary.class_report, note = write_class_report(outdir)
    if note:
        summary.notes.append(note)
    return summary


def _warm_up():
    """What every forked grading would import and compile on its way (the
    catalog, pytest's plugins, the report's templates), done once here."""
    from .grading import warm_up

    warm_up()
    try:
        for name in ("report.html.j2", "fragment.html.j2", "report.css"):
            report.environment().get_template(name)
    except Exception:  # noqa: BLE001 - a grading that needs it says what is wrong
        pass


def _grade_all(jobs, summary, workers, timeout, budget, limit, command, progress):
    """Run the grading processes, `workers` at a time, until all ended."""
    pending = list(reversed(jobs))
    running = []
    meter = progress(len(jobs))
    previous = _interrupt_on_sigterm()
    # One zygote for every grading of the batch (each forked grading gets a
    # connection of its own): it imports numpy once for the whole class.
    shared = None
    if zygote.enabled():
        try:
            shared = zygote.start_zygote(1)
        except (OSError, SandboxError):
            shared = None
    _warm_up()
    try:
        with tempfile.TemporaryDirectory(prefix="gradecheck-batch-") as logs:
            try:
                while pending or running:
                    while pending and len(running) < workers:
                        job = pending.pop()
                        _clear(job.folder)
                        argv = command(job.source, job.folder, job.seed, timeout, budget)
                        running.append(_Running(job, argv, limit, logs, shared))
                    time.sleep(POLL_SECONDS)
                    for flight in list(running):
                        returncode = flight.process.poll()
                        timed_out = returncode is None and time.monotonic() > flight.deadline
                        if returncode is None and not timed_out:
                            continue
                        if timed_out:
                            kill_tree(flight.process.pid, KILL_GRACE_SECONDS)
                            returncode = flight.process.wait()
                        finished = _finish(flight, returncode, timed_out, limit, summary.batch_seed)
                        running.remove(flight)
                        flight.close()
                        summary.finished.append(finished)
                        meter.update(finished)
            except KeyboardInterrupt:
                for flight in running:  # nothing of theirs is recorded: the next run grades them
                    kill_tree(flight.process.pid, 0)
                    flight.process.wait()
                    flight.close()
                raise Interrupted() from None
    finally:
        meter.close()
        if shared is not None:
            shared.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt_on_sigterm():
    """SIGTERM (a scheduler's, `kill`) stops the batch as Ctrl-C does; returns the old handler."""
    try:
        return signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not the main thread: leave signals alone
        return None


def _clear(folder):
    """Empty a submission's OUTDIR folder before grading it: no file of an
    earlier, unfinished attempt may pass for this one's."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


# ------------------------------------------------------------------ merge


def merge(inputs, outdir):
    """Combine batch OUTDIRs (shards) into `outdir`: copy every complete
    submission folder, then write grades.csv and the class report from them,
    exactly as one batch over all of them would have. Returns a Summary.

    Raises BatchError, before writing anything, when `outdir` is not new or
    empty, an input is missing, holds an unfinished submission, two inputs
    hold the same id with different files, or they were graded with
    different batch seeds.
    """
    outdir = pathlib.Path(outdir)
    if outdir.exists() and (not outdir.is_dir() or any(outdir.iterdir())):
        raise BatchError(f"{outdir}: --out must be a new or empty folder")
    chosen, seeds = {}, {}
    for shard_dir in map(pathlib.Path, inputs):
        if not shard_dir.is_dir():
            raise BatchError(f"{shard_dir}: no such folder")
        for folder in sorted(path for path in shard_dir.iterdir() if path.is_dir()):
            if not (folder / RESULTS).exists():
                continue  # not a submission's folder (a class report's assets, say)
            document = read_complete(folder)
            if document is None:
                raise BatchError(f"{folder}: unfinished (its batch was interrupted): run that batch again "
                                 "with the same --out to finish it, then merge")
            seeds.setdefault(document["extra_data"].get("batch_seed"), []).append(str(folder))
            if folder.name in chosen:
                if not _same_files(chosen[folder.name], folder):
                    raise BatchError(f"submission {folder.name!r} is in {chosen[folder.name].parent} and in "
                                     f"{shard_dir} with different results: keep one of them (remove the other "
                                     "folder) and merge again")
                continue
            chosen[folder.name] = folder
    if len(seeds) > 1:
        where = "; ".join(f"--seed {seed}: {paths[0]}" for seed, paths in seeds.items())
        raise BatchError(f"the inputs were graded with different batch seeds ({where}): grade every shard "
                         "with the same --seed")
    outdir.mkdir(parents=True, exist_ok=True)
    for submission_id, folder in sorted(chosen.items()):
        shutil.copytree(folder, outdir / submission_id)
    summary = Summary(outdir, next(iter(seeds), None), sorted(chosen), [], [], [])
    summary.grades = write_grades(outdir)
    summary.class_report, note = write_class_report(outdir)
    if note:
        summary.notes.append(note)
    return summary


def _same_files(first, second):
    names = sorted(path.name for path in first.iterdir())
    if names != sorted(path.name for path in second.iterdir()):
        return False
    return all((first / name).read_bytes() == (second / name).read_bytes() for name in names if (first / name).is_file())


# ------------------------------------------------------------------ command line


def status_counts(outdir):
    """{status: how many} over the complete submissions of `outdir`."""
    counts = {}
    for document in completed(outdir).values():
        status = document["extra_data"]["status"]
        counts[status] = counts.get(status, 0) + 1
    return counts


def print_where(summary, stream=None):
    """The end of a batch's output: what happened and where the files are."""
    stream = stream or sys.stdout
    for note in summary.notes:
        print(f"note: {note}", file=stream)
    counts = status_counts(summary.outdir)
    told = ", ".join(f"{counts[status]} {status}" for status in STATUSES if counts.get(status))
    print(f"{sum(counts.values())} submission(s) in {summary.outdir}: {told or 'none'} (batch seed {summary.batch_seed})",
          file=stream)
    if summary.class_report is not None:
        print(f"class report: {summary.class_report}", file=stream)
    print(f"grades:       {summary.grades}", file=stream)
    print(f"per student:  {summary.outdir / '<id>' / REPORT} and {RESULTS}", file=stream)


def batch_command(args):
    """`python -m harness batch`: exit 0 when every selected submission has its
    results, 1 when some grading process was interrupted (run it again), 2 when
    the batch could not run, 130 when it was stopped (run it again to resume)."""
    try:
        summary = run_batch(
            args.submissions_dir, args.out, workers=args.workers, shard=args.shard, force=args.force, seed=args.seed,
            timeout=args.timeout, budget=args.budget, limit=args.limit,
        )
    except BatchError as error:
        print(f"harness: {error}", file=sys.stderr)
        return 2
    except Interrupted:
        print(f"\nharness: batch interrupted; what was graded is kept in {args.out}: run the same command "
              "again to grade the rest", file=sys.stderr)
        return 130
    skipped = f"; {len(summary.skipped)} already graded, skipped (--force regrades them)" if summary.skipped else ""
    shard = f" (shard {args.shard} of {len(summary.selected)} submissions)" if args.shard else ""
    print(f"graded {len(summary.finished)} submission(s){shard}{skipped}")
    print_where(summary)
    interrupted = [f.id for f in summary.finished if f.status == "interrupted"]
    if interrupted:
        print(f"harness: {len(interrupted)} grading process(es) were interrupted ({', '.join(interrupted)}): "
              "run the same command again to grade them", file=sys.stderr)
        return 1
    return 2 if summary.class_report_failed else 0


def merge_command(args):
    """`python -m harness merge`: exit 0 when merged, 2 when refused."""
    try:
        summary = merge(args.outdirs, args.out)
    except BatchError as error:
        print(f"harness: merge refused: {error}", file=sys.stderr)
        return 2
    print(f"merged {len(summary.selected)} submission(s) from {len(args.outdirs)} folder(s)")
    print_where(summary)
    return 2 if summary.class_report_failed else 0
