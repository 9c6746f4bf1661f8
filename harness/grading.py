"""One grading run: the check catalog over one submission, in this process.

`run_checks` runs pytest on `harness/catalog` with our plugin and returns
the outcomes; the submission itself only ever runs inside the sandbox.
"""

import contextlib
import ctypes
import dataclasses
import importlib
import json
import os
import pathlib
import signal
import tempfile
import time

import pytest

from . import timing
from .plugin import CATALOG_DIR, Collector
from .results import CheckOutcome
from .sandbox import Limits, SandboxError, cleanup, zygote
from .sandbox.runtime import submission_files
from .submission import ASSIGNMENTS

PR_SET_PDEATHSIG = 1
# Grading processes of one run (without xdist), each with its own sandboxes and
# its part of the checks (plugin.partition): much of a process's time is waiting
# for its sandboxes' answers, so two keep two cores busy. GRADECHECK_PROCESSES=1
# grades in one process (e.g. when many runs share the cores already).
PROCESSES = 2


def processes():
    """How many grading processes a run uses: GRADECHECK_PROCESSES, else PROCESSES."""
    try:
        return max(1, int(os.environ.get("GRADECHECK_PROCESSES", PROCESSES)))
    except ValueError:
        return PROCESSES


class HarnessError(Exception):
    """The catalog could not run (a bug or a broken installation): exit 2."""


def run_checks(
    submission, assignments, run_seed, public_only=False, keyword=None, workers=0, reference=None,
    catalog=CATALOG_DIR, timeout=timing.DEFAULT_TIMEOUT, budget=timing.DEFAULT_BUDGET, stats=None, names=None,
    reproducers=None, record_expected=None,
):
    """Outcomes of the selected checks of `catalog`, in its order, and the seconds taken.

    `timeout`: seconds per call into student code; `budget`: seconds the
    submission's sandbox may spend in the whole run (SPEC 5, harness/timing.py).
    `stats`, a dict, receives "student_seconds": what the submission spent.
    `keyword` selects checks as pytest's -k does (by test function and
    parameters); `names`, as `check -k` does: by the names printed for them
    (`harness.selection`). `reproducers`: the folder under which each failed
    public check's reproducer is written (`check` only: harness/reproducers.py).
    `reference`: where expected values come from (a reference submission or a
    recording; default: the plugin's, see `expected.default_source`);
    `record_expected`: a folder where the reference's answers are recorded
    (`harness bundle`).

    Raises SubmissionRefused (harness.sandbox) before any check runs when the
    submission cannot be copied into a sandbox (too deep, too many files, too
    large; the message is for the student), HarnessError when the catalog
    could not run.
    """
    # What the plugin's sandboxes will copy (every graded package, default
    # limits), looked at once here: a refusal then reaches the caller as
    # itself, in every mode (forked processes, xdist workers), before any
    # sandbox starts.
    submission_files(pathlib.Path(submission), ASSIGNMENTS, Limits.submission_bytes)
    with tempfile.TemporaryDirectory(prefix="gradecheck-budget-") as budget_dir:
        time_args = ["--call-timeout", repr(float(timeout)), "--budget", repr(float(budget)), "--budget-dir", budget_dir]
        if reproducers is not None:
            time_args += ["--reproducers", str(reproducers)]
        if reference is not None:
            time_args.append(f"--reference={reference}")
        if record_expected is not None:
            time_args.append(f"--record-expected={record_expected}")

        def run(part, report=None):
            return _run_checks(
                submission, assignments, run_seed, public_only, keyword, names, workers, reference, catalog,
                [*time_args, f"--part={part}"], report,
            )

        count = processes() if not workers and hasattr(os, "fork") else 1
        with _forking_sandboxes(count, enabled=not workers) as connections:
            if count > 1:
                outcomes, elapsed = _each_in_parallel([f"{k}/{count}" for k in range(1, count + 1)], run, connections)
            else:
                outcomes, elapsed, order = run("1/1")
                outcomes = in_order(outcomes, order)
        if stats is not None:
            stats["student_seconds"] = timing.spent_in(budget_dir)
    return outcomes, elapsed


def _run_checks(submission, assignments, run_seed, public_only, keyword, names, workers, reference, catalog, time_args,
                report=None):
    """(outcomes, seconds, order): the selected checks run by pytest in this
    process (`Collector.order`: every selected check's name, in the order
    outcomes are shown). `report`, if given, is called with the same (or with
    the HarnessError) as soon as the last check has run, before the sandboxes
    are closed. Raises HarnessError when the catalog could not run."""
    start = time.perf_counter()

    def finished(collector, status):
        if collector.errors:
            raise HarnessError("\n".join(collector.errors))
        if status not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
            raise HarnessError(f"the check catalog could not run (pytest exit status {int(status)})")
        return collector.ordered(), time.perf_counter() - start, collector.order

    def on_finish(collector, status):
        try:
            report(finished(collector, status))
        except HarnessError as error:
            report(error)

    collector = Collector(submission, on_finish=on_finish if report else None)
    args = [
        str(catalog),
        "-p", "harness.plugin",
        "-p", "no:cacheprovider",
        "-p", "no:randomly",
        "-c", os.devnull,  # none of the project's pytest settings
        "--rootdir", str(catalog),
        "-p", "no:terminal",
        "-p", "no:unraisableexception",  # its gc.collect() at the end costs ~0.2 s; the judge raises none
        "--assert=plain",  # checks explain failures themselves; rewriting costs ~0.2 s
        f"--submission={submission}",
        f"--run-seed={run_seed}",
        f"--assignments={','.join(assignments)}",
        *time_args,
    ]
    if public_only:
        args.append("--public-only")
    if keyword:
        args += ["-k", keyword]
    if names:
        args.append(f"--check-names={names}")
    if workers:
        args += ["-p", "xdist", "-n", str(workers)]
    # Only the plugins named above: whatever else is installed (and its
    # import time) has no business in a grading run.
    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        status = pytest.main(args, plugins=[collector])
    finally:
        if saved is None:
            del os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"]
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved
    return finished(collector, status)


def warm_up():
    """Import now what a grading process imports on its way (the catalog's
    modules, pytest's own plugins, numpy.random), so that the processes forked
    from this one inherit them rather than each importing them again: every
    grading of a batch (~0.05 s of CPU each; a `grade` run forks its second
    process before these imports, which the two then do at the same time).
    A module that fails to import here is left to fail where it is needed,
    and said there."""
    from _pytest.config import default_plugins  # what pytest.main loads first

    names = [f"_pytest.{name}" for name in default_plugins] + ["numpy.random"]
    # The catalog's modules, by the names pytest imports them by (it then finds them imported).
    names += [f"{__package__}.{CATALOG_DIR.name}.{path.stem}" for path in sorted(CATALOG_DIR.glob("test_*.py"))]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001
            pass


@contextlib.contextmanager
def _forking_sandboxes(processes, enabled=True):
    """Sandboxes of this run start by forking a zygote that imported numpy
    once (harness/sandbox/zygote.py): a connection per grading process, the
    first set here. Without one (xdist workers, a zygote that cannot start,
    GRADECHECK_ZYGOTE=off) they start by exec, as before."""
    forking = None
    if enabled and zygote.enabled():
        try:
            forking = zygote.take_prestarted(processes) or zygote.start_zygote(processes)
        except (OSError, SandboxError):
            forking = None
    if forking is None:
        yield [None] * processes
        return
    zygote.use(forking.connections[0])
    try:
        yield forking.connections
    finally:
        zygote.use(None)
        # The zygote leaves once the forked grading processes have closed their
        # connections too (they may still be closing their sandboxes): reaped
        # once the results are written.
        forking.close(wait=False)
        cleanup.after(forking.close)


def _die_with(parent):
    """In a forked grading process: be killed when `parent` dies, however (an
    autograder that kills the judge's pid alone): its sandboxes' lifelines and
    its connection to the zygote close with it. Linux only; elsewhere a no-op."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the signal was armed
        os._exit(1)


def _each_in_parallel(parts, run, connections=None):
    """run(part) for every part ("K/N"), the first here and the others in
    forked children, all at once: much of a run is one process waiting for a
    sandbox's answer, so two processes take little more than one. The
    children share this process's imports (fork), the seed (so outcomes equal
    a single process's) and the budget folder (`timing.Budget`), and send
    their outcomes back as JSON as soon as their last check has run; they
    close their sandboxes and remove their folders meanwhile, and are reaped
    once the results are written (`cleanup.after`). Outcomes come in catalog
    order, whichever part ran them.
    """
    started = time.perf_counter()
    children = []
    parent = os.getpid()
    for part in parts[1:]:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: grade one part, report, leave without running the parent's exit handlers
            _die_with(parent)
            os.close(read_end)
            if connections is not None:  # its own connection to the zygote
                zygote.use(connections[len(children) + 1])
            _grade_part_and_report(run, part, write_end)
            os._exit(0)
        os.close(write_end)
        children.append((pid, read_end))
    errors, order = [], []
    try:
        outcomes, _, order = run(parts[0])
    except HarnessError as error:
        outcomes, errors = [], [str(error)]
    for pid, read_end in children:  # always reaped, whatever happened here
        with os.fdopen(read_end, encoding="utf-8") as pipe:
            text = pipe.read()
        cleanup.after(lambda pid=pid: os.waitpid(pid, 0))
        try:
            message = json.loads(text)
        except ValueError:
            message = {"error": "a grading process ended without reporting (killed?)"}
        if "error" in message:
            errors.append(message["error"])
        else:
            outcomes += [CheckOutcome(**o) for o in message["outcomes"]]
    if errors:
        raise HarnessError("\n".join(dict.fromkeys(errors)))  # a catalog bug shows in every process: once
    return in_order(outcomes, order), time.perf_counter() - started


def _grade_part_and_report(run, part, write_end):
    """In a forked grading process: run(part), its outcomes (or its error) sent
    as JSON through `write_end` as soon as they are known, then its own
    sandbox folders removed (the parent's deferred removal is not this
    process's: it inherited the list, not the duty)."""
    inherited = len(cleanup.queued())
    pipe = os.fdopen(write_end, "w", encoding="utf-8")

    def report(finished):
        if pipe.closed:
            return
        if isinstance(finished, BaseException):
            message = {"error": str(finished) if isinstance(finished, HarnessError)
                       else f"grading part {part} failed: {type(finished).__name__}: {finished}"}
        else:
            message = {"outcomes": [dataclasses.asdict(o) for o in finished[0]]}
        with pipe:
            json.dump(message, pipe)

    try:
        report(run(part, report))
    except BaseException as error:  # noqa: BLE001 - whatever it is, the parent must hear of it
        report(error)
    for folder in cleanup.queued()[inherited:]:
        cleanup.remove_tree(folder)


def in_order(outcomes, order):
    """`outcomes` in `order` (check names: by assignment, then as collected;
    `Collector.order`), whichever process graded them."""
    rank = {name: index for index, name in enumerate(order)}
    return sorted(outcomes, key=lambda outcome: rank.get(outcome.name, len(rank)))
