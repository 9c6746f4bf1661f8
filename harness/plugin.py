"""The pytest plugin that turns the check catalog into a grading run.

It names each check ("<class FQN>: <title>"), keeps only the checks asked
for (assignments present, public only for `check`), provides the fixtures
checks use, and reports each outcome to a `Collector` in the judge process
(with pytest-xdist, the controller's). Student code never runs here: the
`student` fixture is a sandbox process (and `student_fd`, the one that
evaluates finite differences of its forward, another).
"""

import dataclasses
import json
import math
import os
import pathlib
import sys
import threading
import zlib

import numpy as np
import pytest

from . import checks, expected, outcomes, play, reproducers, selection, timing
from .checks import HIDDEN, PUBLIC, CheckFailure, Diagnosis
from .drivers import GIVEN_CORE
from .in_process import InProcessEngine
from .ops import error_details, failure_summary, op_label, printed_by
from .results import CheckOutcome
from .sandbox import Batch, Limits, RemoteError, Sandbox
from .scenarios import IMPORT_NAME
from .submission import ASSIGNMENTS
from .text import without_sandbox_paths
from .vocabulary import CONTRACT, TIMEOUT

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE_DIR = ROOT / "reference"
CATALOG_DIR = pathlib.Path(__file__).resolve().parent / "catalog"
# The harness's own code that runs in the worker (probes, scenarios), and its import name there.
SCENARIOS = ((pathlib.Path(__file__).resolve().parent / "scenarios", IMPORT_NAME),)


def pytest_addoption(parser):
    group = parser.getgroup("harness")
    group.addoption("--submission", help="folder holding beras/ and/or bgd/")
    group.addoption("--reference", default=str(expected.default_source(REFERENCE_DIR)),
                    help="where the expected values come from: a reference submission, or a recording of its "
                    "answers (harness/expected.py; what a student bundle has instead)")
    group.addoption("--record-expected", metavar="FOLDER",
                    help="record the reference's answers into a part file in FOLDER (harness bundle)")
    group.addoption("--run-seed", type=int, default=0, help="seed of this run's hidden checks")
    group.addoption("--assignments", default="beras,bgd", help="comma-separated packages to check")
    group.addoption("--part", default="1/1", metavar="K/N",
                    help="run only part K of N of the selected checks (`partition`: a grading process each)")
    group.addoption("--public-only", action="store_true", help="only the public checks")
    group.addoption("--check-names", metavar="EXPR",
                    help="only the checks whose printed name matches EXPR (harness.selection: `check -k`)")
    # SPEC 5 (see harness/timing.py): a hung method costs the per-call limit
    # once; the budget bounds the whole submission (all its processes).
    group.addoption("--call-timeout", type=timing.positive_seconds, default=timing.DEFAULT_TIMEOUT,
                    help="seconds per call into student code (an op, one evaluation of a map; a scenario: per call it makes)")
    group.addoption("--budget", type=timing.positive_seconds, default=timing.DEFAULT_BUDGET,
                    help="seconds the submission's sandbox may spend in the whole run")
    group.addoption("--reproducers", metavar="FOLDER",
                    help="write each failed public check's reproducer under FOLDER/.harness/failures/ (`check`)")
    group.addoption("--budget-dir", help="folder where the run's processes share their spending (default: this process alone)")


def pytest_configure(config):
    config.addinivalue_line("markers", "check(target, title, points, visibility, tags): a graded check")
    # A failed check explains itself (its diagnosis); pytest's own account of
    # the failure, which it builds for every one anyway, is then used for its
    # last line at most (`_crash_message`). In its default style it re-parses
    # the source of every frame: ~60 ms per failed check (5 s of a grading
    # whose package does not import); Python's own traceback costs ~1 ms.
    # (`--tb` belongs to the terminal plugin, which a grading run leaves out.)
    config.option.tbstyle = "native"


def _refuse(config, message):
    """Stop the run: the catalog itself is wrong (the Collector reports why)."""
    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, Collector):
            plugin.errors.append(message)
    raise pytest.UsageError(message)


def check_info(item):
    """{name, target, points, visibility, tags, blame} of a collected check."""
    marker = item.get_closest_marker("check")
    if marker is None:
        _refuse(item.config, f"{item.nodeid}: a catalog test needs @check(...) (harness.checks.check)")
    params = getattr(getattr(item, "callspec", None), "params", {})
    fields = marker.kwargs
    try:
        target = fields["target"].format(**params)
        title = fields["title"].format(**params)
    except (KeyError, AttributeError, IndexError) as error:
        _refuse(item.config, f"{item.nodeid}: the check's name uses {error}, which is not one of its parameters")
    if target.split(".")[0] not in ASSIGNMENTS or "." not in target:
        _refuse(item.config, f"{item.nodeid}: a check's target is a class of {' or '.join(ASSIGNMENTS)}, not {target!r}")
    return {
        "name": f"{target}: {title}",
        "target": target,
        "points": float(fields["points"]),
        "visibility": fields["visibility"],
        "tags": list(fields["tags"]),
        # SPEC 5: every failure has a blame; the check's own unless its diagnosis tells better.
        "blame": fields.get("blame") or CONTRACT,
    }


def _runs_checks(config):
    """Whether this process runs checks on a submission (not an xdist controller)."""
    distributed = config.getoption("dist", "no") != "no" and not hasattr(config, "workerinput")
    return bool(config.getoption("submission")) and not distributed


def pytest_collection_modifyitems(config, items):
    assignments = set(config.getoption("assignments").split(","))
    public_only = config.getoption("public_only")
    selected, deselected, names, kept = [], [], {}, {}  # kept: a selected item's check info
    infos = [check_info(item) for item in items]
    visible = [not (public_only and info["visibility"] != PUBLIC) for info in infos]
    chosen = _chosen_by_name(config, [info["name"] for info, shown in zip(infos, visible) if shown])
    for item, info, shown in zip(items, infos, visible):
        if info["name"] in names:
            _refuse(config, f"two checks are named {info['name']!r}: {names[info['name']]} and {item.nodeid}")
        names[info["name"]] = item.nodeid
        wanted = info["target"].split(".")[0] in assignments and shown
        if wanted and chosen(info["name"]):
            item.user_properties.append(("check", info))
            selected.append(item)
            kept[item] = info
        else:
            deselected.append(item)
    # The order of every selected check, whichever part runs it (by assignment, then as collected):
    # how the parts' outcomes are merged.
    packages = config.getoption("assignments").split(",")
    config._harness_order = [info["name"] for info in sorted(
        (kept[item] for item in selected), key=lambda info: packages.index(info["target"].split(".")[0]))]
    number, parts = _part(config)
    if parts > 1:
        part_of = partition([kept[item]["target"] for item in selected], parts,
                            usual_seconds([kept[item]["name"] for item in selected]))
        deselected += [item for item, part in zip(selected, part_of) if part != number]
        selected = [item for item, part in zip(selected, part_of) if part == number]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = selected
    # What this process's sandboxes will import: the packages its checks are about.
    packages_here = {kept[item]["target"].split(".")[0] for item in selected}
    config._harness_assignments = [a for a in ASSIGNMENTS if a in packages_here]
    if _runs_checks(config) and any("student_fd" in getattr(item, "fixturenames", ()) for item in selected):
        _finite_differences(config)  # started now, in the background: only runs that need it pay for it


def _part(config):
    """(K - 1, N) from --part K/N: this process runs part K of N."""
    try:
        number, parts = (int(n) for n in config.getoption("part").split("/"))
    except ValueError:
        number = parts = 0
    if not 1 <= number <= parts:
        raise pytest.UsageError(f"--part must be K/N with 1 <= K <= N, not {config.getoption('part')!r}")
    return number - 1, parts


def partition(targets, parts, seconds=None):
    """The part (0 to `parts` - 1) that runs each check, given each check's
    target class in catalog order and what each check usually takes
    (`seconds`, default 1 each: see `usual_seconds`). A class's checks stay
    together (they share its module's state in one worker); classes go, the
    longest first, to the part with the least work so far, so that the parts
    end about together (as pytest-split does with stored durations). Depends
    only on its arguments: the same selection splits the same way."""
    seconds = [1.0] * len(targets) if seconds is None else list(seconds)
    members = {}
    for index, target in enumerate(targets):
        members.setdefault(target, []).append(index)
    load, part_of = [0.0] * parts, [0] * len(targets)
    work = {target: sum(seconds[i] for i in indices) for target, indices in members.items()}
    for target, indices in sorted(members.items(), key=lambda item: (-work[item[0]], item[1][0])):
        part = min(range(parts), key=lambda p: (load[p], p))
        load[part] += work[target]
        for index in indices:
            part_of[index] = part
    return part_of


# What each check of the catalog took on the reference, recorded by
# benchmarks/record_durations.py: only how a run's checks are shared out
# between its processes depends on it (`partition`), never a result.
DURATIONS = CATALOG_DIR / "durations.json"


def usual_seconds(names):
    """The recorded seconds of each check named; a check without a record
    (new, or an instructor's) counts as the median recorded one."""
    try:
        recorded = json.loads(DURATIONS.read_text(encoding="utf-8"))["seconds"]
    except (OSError, ValueError, KeyError, TypeError):
        recorded = {}
    known = sorted(float(s) for s in recorded.values() if isinstance(s, (int, float)) and s >= 0)
    typical = known[len(known) // 2] if known else 1.0
    return [float(recorded.get(name, typical)) if isinstance(recorded.get(name), (int, float)) else typical
            for name in names]


def _chosen_by_name(config, names):
    """Whether a check, by its printed name, is chosen by --check-names (`check -k`).

    Every name that may be chosen is given, whatever --assignments: an
    expression pasted whole is read the same way in every process of a run."""
    expression = config.getoption("check_names")
    if not expression:
        return lambda name: True
    try:
        return selection.matcher(expression, names)
    except selection.ExpressionError as error:
        _refuse(config, f"-k {expression!r}: {error}")


def _engines(config):
    """The student's sandbox and the reference's engine of this process,
    started in the background as soon as collection begins."""
    engines = getattr(config, "_harness_engines", None)
    if engines is None:
        folder = config.getoption("submission")
        if not folder:
            raise pytest.UsageError("--submission is required")
        per_call = config.getoption("call_timeout")
        # The reference is held to the default limit at least (a tiny --timeout
        # is for the student), and its time does not count against the budget.
        # A call may use its whole wall-clock limit in CPU time.
        # GRADECHECK_NAMESPACES=off grades as in a container without
        # CAP_SYS_ADMIN (harness/SECURITY.md), to test that fallback.
        namespaces = os.environ.get("GRADECHECK_NAMESPACES", "on") != "off"
        student_limits = Limits(
            timeout=per_call, cpu_seconds=max(Limits.cpu_seconds, math.ceil(per_call)), namespaces=namespaces
        )
        reference_per_call = max(per_call, timing.DEFAULT_TIMEOUT)
        reference_limits = Limits(
            timeout=reference_per_call, cpu_seconds=max(Limits.cpu_seconds, math.ceil(reference_per_call)),
            namespaces=namespaces,
        )

        # The reference runs in this process (harness/in_process.py), from its own folder: out of the workers' sight.
        reference = config.getoption("reference")
        hidden = () if expected.is_recording(reference) else (reference,)

        def student_sandbox():
            return timing.TimedSandbox(folder, student_limits, graded=ASSIGNMENTS, shipped=SCENARIOS,
                                       budget=_budget(config), hide=hidden)

        config._harness_student_sandbox = student_sandbox  # for `_finite_differences`
        engines = {
            "student": student_sandbox(),
            "reference": _reference_engine(config, reference_limits),
        }
        config._harness_engines = engines
        config._harness_starting = [threading.Thread(target=_start_quietly, args=(e,), daemon=True) for e in engines.values()]
        for thread in config._harness_starting:
            thread.start()
    return engines


def _reference_engine(config, limits):
    """The reference run in this process (harness/in_process.py; in a sandbox
    with GRADECHECK_REFERENCE=sandbox), or its recorded answers (a student
    bundle has no reference); with --record-expected, an engine whose answers
    are recorded."""
    source = config.getoption("reference")
    if expected.is_recording(source):
        return expected.RecordedEngine(source)
    if os.environ.get("GRADECHECK_REFERENCE") == "sandbox":
        engine = Sandbox(source, limits, graded=ASSIGNMENTS, shipped=SCENARIOS)
    else:
        engine = InProcessEngine(source, limits, graded=ASSIGNMENTS, shipped=SCENARIOS)
    if config.getoption("record_expected"):
        engine = expected.Recorder(engine)
    return engine


def _finite_differences(config):
    """The student's finite-difference sandbox of this process (`_Later`), made
    once the two others are up."""
    later = getattr(config, "_harness_later", None)
    if later is None:
        engines = _engines(config)
        assignments = getattr(config, "_harness_assignments", [])
        # What its first evaluation would import, imported as soon as it is up (off the checks' path).
        warm = assignments + ([GIVEN_CORE] if "beras" in assignments else [])
        later = config._harness_later = _Later(
            config._harness_student_sandbox, engines["student"], warm=warm)
    return later


class _Later:
    """The student's finite-difference sandbox (`harness/own_forward.py`): a
    second sandbox of the submission, made and started exactly as the grading
    one (`make`), sharing its time budget and the methods it refuses
    (`TimedSandbox.timed_out`, `refused`), serving only the evaluations of
    finite differences. Made and started on a thread of its own at once, with
    the other two (forked from the zygote, a start costs little)."""

    def __init__(self, make, twin, warm=()):
        self.sandbox = self.error = None
        self._thread = threading.Thread(target=self._make, args=(make, twin, warm), daemon=True)
        self._thread.start()

    def _make(self, make, twin, warm):
        try:
            sandbox = make()
        except Exception as error:  # reported by the fixture that wants it
            self.error = error
            return
        sandbox.timeouts, sandbox.refused = twin.timeouts, twin.refused
        self.sandbox = sandbox
        _start_quietly(sandbox)
        try:  # the modules of `warm`: an import that fails fails again, and is reported, where it is needed
            sandbox.run([{"op": "import", "module": name} for name in warm])
        except Exception:
            pass

    def ready(self):
        self._thread.join()
        if self.sandbox is None:
            raise self.error
        return self.sandbox

    # Used as the sandbox itself (`own_forward` sends it requests): a check waits
    # for its start only when it sends one, not when it merely might (one that
    # fails before its finite differences, e.g. on a method refused for time, never does).
    def batch(self, timeout=None):
        return Batch(self, timeout)

    def run(self, ops, timeout=None):
        return self.ready().run(ops, timeout=timeout)

    def close(self):
        self._thread.join()
        if self.sandbox is not None:
            self.sandbox.close()


def _budget(config):
    """The submission's time budget in this process (shared through --budget-dir)."""
    budget = getattr(config, "_harness_budget", None)
    if budget is None:
        budget = config._harness_budget = timing.Budget(config.getoption("budget"), config.getoption("budget_dir"))
    return budget


def _close_quietly(engine):
    try:
        engine.close()
    except Exception as error:  # noqa: BLE001
        print(f"harness: closing a sandbox failed: {error}", file=sys.stderr)


def _start_quietly(sandbox):
    try:
        sandbox.start()
    except Exception:  # the first request starts it again and reports the problem
        pass


def pytest_collection(session):
    if _runs_checks(session.config):  # an xdist controller runs no check
        _engines(session.config)


def pytest_unconfigure(config):
    # Closing kills the workers; their folders are removed now, or after the
    # reports are written when the command line defers it (sandbox.cleanup).
    # Nothing here may keep the run from ending and its results from being written.
    recorder = getattr(config, "_harness_engines", {}).get("reference")
    if isinstance(recorder, expected.Recorder):
        recorder.write_part(config.getoption("record_expected"))
    # All at once: a close is mostly waiting (for the worker's processes to go), ~70 ms each.
    closing = [*getattr(config, "_harness_engines", {}).values()]
    if getattr(config, "_harness_later", None) is not None:
        closing.append(config._harness_later)
    threads = [threading.Thread(target=_close_quietly, args=(engine,)) for engine in closing]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if getattr(config, "_harness_budget", None) is not None:
        config._harness_budget.close()


def _ready(config, name):
    engines = _engines(config)
    for thread in config._harness_starting:
        thread.join()
    return engines[name]


@pytest.fixture(scope="session")
def student(request):
    """The submission under test, running in its sandbox."""
    return _ready(request.config, "student")


@pytest.fixture(scope="session")
def reference(request):
    """Where expected values come from: the reference engine (in this process)."""
    return _ready(request.config, "reference")


@pytest.fixture(scope="session")
def student_fd(request):
    """The submission again, in a fresh sandbox of its own that serves only the
    finite differences of its forward (`harness/own_forward.py`): nothing the
    student's code kept from the graded calls is there. Same limits, same
    time budget, same refused methods as `student`. Its requests (`batch`,
    `run`) wait for its start, in the background since collection."""
    return _finite_differences(request.config)


@pytest.fixture
def seed(request):
    """Public checks use a seed fixed by their name (students can replay them);
    hidden checks mix in the run's seed, fresh at each grading run."""
    info = dict(request.node.user_properties)["check"]
    name_seed = zlib.crc32(info["name"].encode())
    if info["visibility"] == HIDDEN:
        return [request.config.getoption("run_seed"), name_seed]
    return [name_seed]


@pytest.fixture
def rng(seed):
    return np.random.default_rng(seed)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    checks.replay_with(None)
    play.forget_played()
    student = getattr(item.config, "_harness_engines", {}).get("student")
    if student is not None:
        student.take_printed()  # what earlier checks printed is theirs
    if item.config.getoption("submission") and _budget(item.config).remaining() <= 0:
        # The submission has used up its time: the checks left fail at once.
        item.user_properties.append(("not_run", True))
        checks.fail(timing.not_run_summary(item.config.getoption("budget")), mistake=TIMEOUT)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    exception = call.excinfo.value if call.excinfo is not None else None
    if isinstance(exception, RemoteError):
        # A check read the value of an op that failed: the student's code raised.
        label = op_label(exception.op) if exception.op else "the student's code"
        error = exception.error
        diagnosis = Diagnosis(
            failure_summary(label, error), method=label, printed=printed_by([exception.result]),
            **error_details(label, error),
        )
    elif isinstance(exception, CheckFailure):
        diagnosis = exception.diagnosis
    else:
        return
    # A snippet helps to reproduce a crash, not a method still to be written
    # (as harness.drivers.raise_on_error decides for its own requests).
    if "raised NotImplementedError" in diagnosis.summary:
        diagnosis.snippet = ""
    else:
        if not diagnosis.snippet:
            diagnosis.snippet = checks.fallback_snippet()
        _write_reproducers(item, exception, diagnosis)
    student = getattr(item.config, "_harness_engines", {}).get("student")
    if student is not None:  # everything the check's calls printed, in one trimmed form
        text, dropped = student.take_printed()
        if text or dropped:
            diagnosis.printed = outcomes.trimmed_print(text, dropped)
        elif diagnosis.printed:
            diagnosis.printed = outcomes.trimmed_print(diagnosis.printed)
    report.user_properties.append(("diagnosis", dataclasses.asdict(diagnosis)))


def _write_reproducers(item, exception, diagnosis):
    """`check`: the failing cases' reproducers as files (harness/reproducers.py), the
    command to run each in the diagnosis in place of the inline snippet. Public
    checks only: nothing of a hidden check's inputs or expected values may reach
    the student. A check that brings none of its own (a scenario check) gets one
    that replays the last scenario it judged by a property, when it found a
    problem (`reproducers.property_reproducer`), or else the last it played on
    both engines, when the student's value differed there
    (`reproducers.scenario_reproducer`). The inline snippet
    stays when no file could be written."""
    folder = item.config.getoption("reproducers")
    info = dict(item.user_properties).get("check", {})
    if not folder or info.get("visibility") != PUBLIC:
        return
    found = reproducers.reproducers_of(exception)
    if not found and isinstance(exception, CheckFailure) and diagnosis.mistake != "not-implemented":
        # (a method still to write needs no script: the message says so)
        # A scenario check: its last scenario judged by a property (played on the student's
        # engine alone), or else the last it played on both engines, replayed on the student's code.
        try:
            found = [reproducers.property_reproducer(play.last_judged(), case=diagnosis.case)
                     or reproducers.scenario_reproducer(play.last_played(), case=diagnosis.case)]
        except Exception:  # noqa: BLE001 - explaining must never break the report
            found = []
    if not any(found):
        return
    commands = reproducers.write(folder, info["name"], found)
    if commands[0]:
        diagnosis.reproducer, diagnosis.snippet = commands[0], ""
    for other, command in zip(diagnosis.other_cases, commands[1:]):
        other["reproducer"] = command


class Collector:
    """Receives every check's report (in the controller under xdist) and
    builds its `CheckOutcome`: the one place where a diagnosis becomes text
    (`outcomes.explained`: the sandbox's private paths made submission-relative,
    a missing third-party module explained)."""

    def __init__(self, submission=None, on_finish=None):
        """`on_finish(collector, exit status)`: called once the last check has
        run, before the sandboxes are closed (a forked grading process reports then)."""
        self.outcomes = {}
        self.errors = []  # problems of the catalog itself, not of the submission
        self.own_modules = outcomes.own_modules(submission)
        self.order = []  # every selected check's name, in catalog order, whichever part (process) runs it
        self.on_finish = on_finish

    def pytest_collectreport(self, report):
        if report.failed:
            self.errors.append(f"collecting {report.nodeid}: {report.longreprtext}")

    def pytest_runtest_logreport(self, report):
        properties = dict(report.user_properties)
        info = properties.get("check")
        if info is None:
            return
        outcome = self.outcomes.get(report.nodeid)
        if outcome is None:
            outcome = self.outcomes[report.nodeid] = CheckOutcome(
                name=info["name"],
                target=info["target"],
                max_score=info["points"],
                passed=True,
                visibility=info["visibility"],
                tags=info["tags"],
            )
        outcome.duration += report.duration
        if report.failed or report.skipped:
            outcome.passed = False
            diagnosis = properties.get("diagnosis")
            outcome.details = {"blame": info.get("blame", CONTRACT)}
            if diagnosis:
                diagnosis = outcomes.explained(diagnosis, self.own_modules)
                outcome.details = {**dict(diagnosis), "blame": diagnosis.get("blame") or outcome.details["blame"]}
                outcome.output = Diagnosis(**diagnosis).as_text()
                if properties.get("not_run"):
                    outcome.details["not_run"] = True
            elif report.skipped:
                reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longreprtext
                outcome.output = without_sandbox_paths(f"skipped: {reason}")
            else:
                outcome.output = without_sandbox_paths("the check could not run: " + _crash_message(report))

    def pytest_collection_finish(self, session):
        self.order = list(getattr(session.config, "_harness_order", []))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if self.on_finish is not None:
            self.on_finish(self, exitstatus)

    def ordered(self):
        return list(self.outcomes.values())


def _crash_message(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    return crash.message if crash is not None else report.longreprtext[-2000:]
