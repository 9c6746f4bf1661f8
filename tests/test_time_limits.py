"""Time limits (SPEC 5, harness/timing.py): a limit per call into student code,
sized to the work a request asks for; a budget per submission; a method that
timed out once is not called again; messages that name the slow method.

Fast on purpose: tiny limits (--timeout 0.5) and small fake submissions
(copies of reference/ with one kind of method patched to hang or sleep)."""

import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from mutants import copy_reference

from harness.checks import CheckFailure
from harness.play import play
from harness.sandbox import ErrorInfo, Limits, Over, Sandbox
from harness.timing import Budget, RunTimeouts, TimedSandbox, method_key, training_calls

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference"
HANG = "        while True:\n            pass\n"
# Every forward of the reference: beras `call`, bgd `_forward` (the given base classes excepted).
FORWARD = re.compile(r"\n    def (call|_forward)\(self[^)]*\):\n")


def harness(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def hang_every_forward(destination):
    """The reference with `while True: pass` at the top of every forward; the methods that hang."""
    copy_reference(destination)
    hanging = []
    for path in sorted([*destination.glob("beras/*.py"), *destination.glob("bgd/layers/*.py")]):
        if path.name in ("core.py", "layer.py"):
            continue
        text = path.read_text()
        for match in FORWARD.finditer(text):
            owner = re.findall(r"\nclass (\w+)", text[: match.start()])[-1]
            hanging.append(f"{owner}.{match.group(1)}")
        path.write_text(FORWARD.sub(lambda m: m.group(0) + HANG, text))
    return destination, hanging


def graded(tmp_path, submission, *options):
    results = tmp_path / "results.json"
    started = time.monotonic()
    run = harness("grade", submission, "--results", results, *options)
    elapsed = time.monotonic() - started
    document = json.loads(results.read_text()) if results.exists() else None
    return run, document, elapsed


# ------------------------------------------------- the hang-everywhere submission


@pytest.fixture(scope="module")
def hang_everywhere(tmp_path_factory):
    """Every forward of both assignments hangs; --timeout 0.5 --budget 10.

    Before SPEC 5's limits this cost 5 s per check: 109 checks, 580 s."""
    folder = tmp_path_factory.mktemp("hang")
    submission, hanging = hang_every_forward(folder / "submission")
    run, document, elapsed = graded(folder, submission, "--timeout", "0.5", "--budget", "10")
    return run, document, elapsed, hanging


def test_a_submission_whose_every_forward_hangs_is_graded_within_its_budget(hang_everywhere):
    run, document, elapsed, hanging = hang_everywhere
    assert run.returncode == 1, run.stderr
    assert document is not None and document["score"] < document["extra_data"]["max_score"]
    time_data = document["extra_data"]["time"]
    assert time_data["timeout"] == 0.5 and time_data["budget"] == 10
    # The student's time stops at the budget (plus the last request's kill); the judge's own work is small.
    assert time_data["student_seconds"] < 12
    assert elapsed < 60, f"grading took {elapsed:.1f} s"
    failed = [t for t in document["tests"] if t["status"] == "failed"]
    assert failed and all(t["score"] == 0 for t in failed)
    # The report names the methods that hang, and what each cost.
    outputs = "\n".join(t["output"] for t in failed)
    named = [method for method in hanging if f"the student method running at the time: {method}" in outputs]
    # Both assignments spend the one budget at once (harness/grading.py), so
    # ~5 of the 16 hanging methods get their timeout within 10 s on an idle
    # machine; a loaded one (a CI runner, the suite's other processes)
    # restarts workers more slowly and names fewer.
    assert len(named) >= 3, (named, outputs[:3000])
    assert re.search(r"timed out after 0\.\d+ s \(limit: 0\.5 s per call\)", outputs)


def test_checks_left_when_the_budget_runs_out_fail_at_once_and_results_are_written(hang_everywhere):
    run, document, _, _ = hang_everywhere
    # (a hidden check's output says nothing of it: SPEC 5; extra_data counts them all)
    not_run = [t for t in document["tests"] if t["output"].startswith("not run: the time budget of 10 s")]
    assert not_run, "the budget of 10 s should not be enough for this submission"
    assert all(t["status"] == "failed" and t["score"] == 0 for t in not_run)
    assert all(t["extra_data"]["duration"] < 0.5 for t in not_run)
    assert document["extra_data"]["time"]["not_run"] >= len(not_run)
    public = sum(t["visibility"] == "visible" for t in not_run)
    assert public == len(not_run)
    assert f"The time budget of 10 s for this submission ran out; {public}" in document["output"]
    assert "ran out" in run.stdout


@pytest.fixture(scope="module")
def hang_bgd(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hang_bgd")
    submission, hanging = hang_every_forward(folder / "submission")
    run, document, elapsed = graded(folder, submission, "--assignment", "bgd", "--timeout", "0.5", "--budget", "120")
    return run, document, elapsed, [m for m in hanging if m.endswith("._forward")]


def test_a_method_that_timed_out_once_fails_its_later_checks_at_once(hang_bgd):
    run, document, elapsed, hanging = hang_bgd
    assert run.returncode == 1, run.stderr
    failed = [t for t in document["tests"] if t["status"] == "failed"]
    again = [t for t in failed if "timed out earlier in this run" in t["output"]]
    assert len(again) >= 20
    assert all("not called again" in t["output"] and "limit: 0.5 s per call" in t["output"] for t in again)
    assert sum(t["extra_data"]["duration"] for t in again) < 0.1 * 0.5 * len(again) + 5
    # One limit per hanging method (and a few scenarios), not one per check.
    student_seconds = document["extra_data"]["time"]["student_seconds"]
    assert student_seconds < 0.5 * len(failed) / 2, (student_seconds, len(failed))
    assert document["extra_data"]["time"]["not_run"] == 0
    outputs = "\n".join(t["output"] for t in failed)
    assert all(method in outputs for method in hanging), hanging


def test_check_takes_the_time_options_too(tmp_path):
    submission, _ = hang_every_forward(tmp_path / "submission")
    started = time.monotonic()
    run = harness("check", submission, "--assignment", "bgd", "--timeout", "0.3", "--budget", "2")
    assert run.returncode == 1, run.stderr
    assert time.monotonic() - started < 40
    assert "The time budget of 2 s for this submission ran out" in run.stdout
    assert "FullyConnected._forward" in run.stdout


# ----------------------------------------------------- slow but correct


SLOW_CATALOG = '''
import numpy as np

from harness.checks import check, fail
from harness.sandbox import Over
from harness.timing import training_calls

X = np.linspace(-1.0, 1.0, 24).reshape(8, 3)
Y = np.linspace(0.0, 1.0, 16).reshape(8, 2)


def train(engine, calls=None):
    with engine.batch() as batch:
        net = batch.new("bgd.nn.NeuralStack")
        net.add(batch.new("bgd.layers.fc.FullyConnected", 3, 2)).quiet()
        net.add(batch.new("bgd.cost.MSE")).quiet()
        net.add(batch.new("bgd.optimizers.MomentumOptimizer")).quiet()
        losses = net.train(X, Y, 2, 4).seed(0)
        if calls:
            losses.calls(calls)
    return losses


@check("bgd.nn.NeuralStack", "a training run that declares its calls gets a limit per call")
def test_declared(student):
    losses = train(student, training_calls(2, len(X), 4, 1))
    if not losses.ok:
        fail(f"training failed: {losses.result.error}")


@check("bgd.nn.NeuralStack", "a map gives every evaluation its own limit")
def test_map(student):
    with student.batch() as batch:
        layer = batch.new("bgd.layers.fc.FullyConnected", 3, 2)
        out = batch.map(layer.forward, Over(np.ones((4, 5, 3))))
    if not out.ok:
        fail(f"the map failed: {out.result.error}")


@check("bgd.nn.NeuralStack", "the same training run as one call times out")
def test_undeclared(student):
    train(student).value
'''


def run_catalog(tmp_path, source, submission, **options):
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "test_slow.py").write_text(source)
    script = textwrap.dedent(
        f"""
        import json
        from harness.grading import run_checks
        outcomes, elapsed = run_checks({str(submission)!r}, ["bgd"], 7, catalog={str(catalog)!r}, **{options!r})
        print(json.dumps({{"elapsed": elapsed, "outcomes": [[o.name, o.passed, o.output] for o in outcomes]}}))
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_a_slow_but_correct_method_passes_checks_that_call_it_many_times(tmp_path):
    """0.3 s per forward, 0.5 s per call: a training run of many forwards passes
    when its op says how many calls it makes, and times out as one call."""
    submission = copy_reference(tmp_path / "submission")
    fc = submission / "bgd" / "layers" / "fc.py"
    text = fc.read_text()
    assert text.count("    def _forward(self, X):\n") == 1
    fc.write_text("import time\n" + text.replace("    def _forward(self, X):\n", "    def _forward(self, X):\n        time.sleep(0.3)\n"))
    result = run_catalog(tmp_path, SLOW_CATALOG, submission, timeout=0.5, budget=60)
    (declared, declared_ok, declared_out), (_, map_ok, map_out), (_, single_ok, single_out) = result["outcomes"]
    assert declared_ok, declared_out
    assert map_ok, map_out
    assert not single_ok
    assert re.search(r"NeuralStack.train: timed out after 0\.\d+ s \(limit: 0\.5 s per call\)", single_out), single_out
    assert "the student method running at the time: FullyConnected._forward" in single_out


# ------------------------------------------------------------ bad options


@pytest.mark.parametrize("command", ["grade", "check"])
@pytest.mark.parametrize("option, value", [("--timeout", "0"), ("--timeout", "-1"), ("--timeout", "nan"),
                                           ("--budget", "abc"), ("--budget", "0"), ("--budget", "inf")])
def test_bad_time_options_exit_2_with_a_clear_message(tmp_path, command, option, value):
    args = [command, REFERENCE] + (["--results", tmp_path / "r.json"] if command == "grade" else [])
    run = harness(*args, f"{option}={value}", timeout=60)
    assert run.returncode == 2
    assert f"argument {option}: must be a positive number of seconds" in run.stderr
    if command == "grade":  # SPEC 5: results.json even then, saying why
        document = json.loads((tmp_path / "r.json").read_text())
        assert document["score"] == 0 and f"argument {option}: must be a positive number" in document["output"]


def test_the_time_options_are_documented():
    for command in ("grade", "check"):
        text = harness(command, "--help", timeout=60).stdout
        assert "--timeout SECONDS" in text and "--budget SECONDS" in text
    readme = (ROOT / "README.md").read_text()
    assert "--timeout" in readme and "--budget" in readme


# --------------------------------------------------- the sandbox's side

SLOW_MODULE = """
import signal
import time


class Slow:
    def __init__(self, delay):
        self.delay = delay

    def forward(self, x):
        time.sleep(self.delay)
        return x

    def spin(self):
        while True:
            pass


def hold_the_gil_and_ignore_sigterm():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return sum(range(10**13))  # C code: the GIL is never released


def one_long_call(seconds):
    time.sleep(float(seconds))
    return seconds


def through_slow(delay):
    return Slow(delay).forward(1.0)


def forge_the_stack(secret):
    # Answer the judge's SIGUSR1 with a stack naming a file outside the submission.
    import os

    target = os.path.join(os.getcwd(), "..", "..", "..", "..", "..", "..", secret.lstrip("/"))
    stack_fd = next(int(fd) for fd in os.listdir("/proc/self/fd") if os.readlink(f"/proc/self/fd/{fd}").endswith("/out/stack"))

    def answer(signum, frame):
        lines = ["Current thread 0x1 (most recent call first):", f'  File "{target}", line 1 in f', ""]
        os.write(stack_fd, chr(10).join(lines).encode())

    signal.signal(signal.SIGUSR1, answer)
    while True:
        pass
"""

SCENARIO = """
def forward_many(n, delay):
    from pkg.slow import Slow

    layer = Slow(delay)
    for _ in range(n):
        layer.forward(1.0)
    return n
"""


@pytest.fixture
def slow_submission(tmp_path):
    (tmp_path / "sub" / "pkg").mkdir(parents=True)
    (tmp_path / "sub" / "pkg" / "__init__.py").write_text("")
    (tmp_path / "sub" / "pkg" / "slow.py").write_text(SLOW_MODULE)
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "__init__.py").write_text("")
    (tmp_path / "scenarios" / "demo.py").write_text(SCENARIO)
    return tmp_path


def sandbox(folder, cls=Sandbox, **options):
    timeout = options.pop("timeout", 0.5)
    return cls(folder / "sub", Limits(timeout=timeout), shipped=((folder / "scenarios", "gradecheck_scenarios"),), **options)


def is_dead(pid, wait=3.0):
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


def test_a_hang_in_c_code_that_ignores_sigterm_is_killed_at_its_limit_and_named(slow_submission):
    with sandbox(slow_submission, timeout=1.0) as engine:
        pid = engine.start() and engine.worker_pid
        started = time.monotonic()
        [result] = engine.run([{"op": "call", "function": "pkg.slow.hold_the_gil_and_ignore_sigterm"}])
        assert time.monotonic() - started < 3
        assert result.error.kind == "timeout"
        assert re.match(r"timed out after 1(\.\d+)? s \(limit: 1 s per call\)", result.error.message), result.error
        assert result.error.where == "pkg.slow:hold_the_gil_and_ignore_sigterm"
        assert 'File "pkg/slow.py"' in result.error.traceback and "sum(range(10**13))" in result.error.traceback
        assert is_dead(pid)
        assert engine.call("builtins.len", [1, 2]) == 2


def test_each_call_of_a_request_has_its_own_limit(slow_submission):
    """A hung op costs its own limit, not the whole request's; a map's evaluations are calls of their own."""
    with sandbox(slow_submission) as engine:
        engine.start()
        started = time.monotonic()
        with engine.batch() as batch:
            layer = batch.new("pkg.slow.Slow", 0.3)
            batch.map(layer.forward, Over(np.ones((5, 2))))  # 1.5 s, in calls of 0.3 s
            batch.call(layer.spin)
            batch.map(layer.forward, Over(np.ones((40, 2))))
        assert time.monotonic() - started < 4
        # The map finished (its reply was lost with the worker); the hung op failed, after its own limit.
        assert [r.error.kind for r in batch.results] == ["skipped", "skipped", "timeout", "skipped"]
        error = batch.results[2].error
        assert error.where == "pkg.slow:Slow.spin", error
        assert re.match(r"timed out after 0\.\d+ s \(limit: 0\.5 s per call\)", error.message), error


def test_each_evaluation_of_a_replay_has_its_own_limits_and_what_timed_out_is_not_called_again(slow_submission):
    """A replay (the finite differences of harness/own_forward.py) gives each evaluation a limit per
    op of its body; a function that timed out there is refused later, in a replay or not."""
    with sandbox(slow_submission, cls=TimedSandbox) as engine:
        engine.start()

        def sleeps(body, slot):
            return [body.call("pkg.slow.one_long_call", slot)]

        started = time.monotonic()
        with engine.batch() as batch:
            fine = batch.replay(np.full(5, 0.3), sleeps)  # 1.5 s in all, 0.3 s per evaluation
        assert fine.ok, fine.result.error
        assert [value for [value] in fine.value] == [0.3] * 5 and time.monotonic() - started > 1.4
        started = time.monotonic()
        with engine.batch() as batch:
            hung = batch.replay(np.array([0.1, 0.1, 100.0, 0.1]), sleeps)
        assert time.monotonic() - started < 1.5  # its own limit, not the request's 2.5 s
        error = hung.result.error
        assert error.kind == "timeout" and "limit: 0.5 s per call; evaluation 3 of 4" in error.message, error
        started = time.monotonic()
        [again] = engine.run([{"op": "call", "function": "pkg.slow.one_long_call", "args": [0.0]}])
        with engine.batch() as batch:
            replayed = batch.replay(np.zeros(2), sleeps)
        assert time.monotonic() - started < 0.3
        for result in (again, replayed.result):
            assert result.error.kind == "timeout" and result.error.message.endswith("not called again"), result.error


def test_an_op_that_makes_many_calls_gets_a_limit_per_call_and_stops_when_one_call_hangs(slow_submission):
    with sandbox(slow_submission) as engine:
        engine.start()
        started = time.monotonic()
        assert play(engine, "demo.forward_many", 6, 0.2, calls=6) == 6  # 1.2 s in 0.2 s calls
        assert time.monotonic() - started > 1.1
        with pytest.raises(CheckFailure) as failure:
            play(engine, "demo.forward_many", 6, 0.2, calls=1, method="Slow.forward")
        assert re.match(r"Slow.forward: timed out after 0\.\d+ s \(limit: 0\.5 s per call\)",
                        failure.value.diagnosis.summary), failure.value.diagnosis
        # One call of many that runs past the limit stops the op at once, not after calls × the limit.
        started = time.monotonic()
        with engine.batch() as batch:
            batch.call("pkg.slow.one_long_call", 100).calls(50)
        error = batch.results[0].error
        assert time.monotonic() - started < 3
        assert error.kind == "timeout" and "limit: 0.5 s per call × 50 calls" in error.message, error
        assert "one call ran for" in error.message and error.where == "pkg.slow:one_long_call"


def test_a_method_or_scenario_that_timed_out_is_not_called_again(slow_submission):
    with sandbox(slow_submission, cls=TimedSandbox) as engine:
        layer = engine.new("pkg.slow.Slow", 0.0)
        [first] = engine.run([{"op": "call", "target": layer, "method": "spin"}])
        assert first.error.kind == "timeout"
        other = engine.new("pkg.slow.Slow", 0.0)  # another object of the class: the same method
        started = time.monotonic()
        with engine.batch() as batch:
            ok = batch.call("builtins.len", [1, 2, 3])
            batch.call(other.spin)
            after = batch.call("builtins.len", [1])
        assert time.monotonic() - started < 0.3
        assert ok.value == 3 and after.result.skipped
        error = batch.results[1].error
        assert error.kind == "timeout" and error.message.startswith("timed out earlier in this run (limit: 0.5 s per call")
        assert error.message.endswith("not called again")
        # A scenario that timed out is not played again; the message names the method that was running.
        with pytest.raises(CheckFailure):
            play(engine, "demo.forward_many", 3, 1.0, calls=1, method="Slow.forward")
        started = time.monotonic()
        with pytest.raises(CheckFailure) as again:
            play(engine, "demo.forward_many", 3, 1.0, calls=1, method="Slow.forward")
        assert time.monotonic() - started < 0.3
        assert "timed out earlier in this run" in again.value.diagnosis.summary
        assert "the student method running then: Slow.forward" in again.value.diagnosis.summary
        assert play(engine, "demo.forward_many", 2, 0.0) == 2  # the same scenario, played otherwise, runs


def test_a_function_that_ran_out_of_time_by_itself_stops_later_requests_that_enter_it(slow_submission):
    """Inside an op that makes many calls, one call of Slow.forward ran the whole limit:
    Slow.forward timed out, and any later request that enters it stops there at once."""
    with sandbox(slow_submission, cls=TimedSandbox, timeout=2.0) as engine:
        with pytest.raises(CheckFailure) as first:
            play(engine, "demo.forward_many", 3, 5.0, calls=3, method="Slow.forward")
        assert "one call ran for" in first.value.diagnosis.summary
        assert engine.refused == {"pkg.slow:Slow.forward"}
        assert engine.call("pkg.slow.through_slow", 0.0) == 1.0  # too quick to be seen: it did not hang
        started = time.monotonic()
        [result] = engine.run([{"op": "call", "function": "pkg.slow.through_slow", "args": [5.0]}])
        assert time.monotonic() - started < 1.0  # not the limit of 2 s
        assert result.error.kind == "timeout" and result.error.where == "pkg.slow:Slow.forward"
        assert result.error.message.startswith("stopped after 0.")
        assert result.error.message.endswith(
            "s: it called Slow.forward, which timed out earlier in this run (limit: 2 s per call): not called again")


def test_method_keys_name_what_an_op_calls():
    from harness.sandbox import Batch

    batch = Batch(None)
    layer = batch.new("beras.layers.Dense", 3, 2)
    call = batch.call(layer, np.ones((2, 3)))
    scenario = batch.call("gradecheck_scenarios.demo.run", np.ones((2, 3)), 0.25, "Dense")
    keys = [method_key(op) for op in batch._ops]
    assert keys[:2] == ["beras.layers.Dense.__init__", "beras.layers.Dense.__call__"]
    assert keys[2] == "gradecheck_scenarios.demo.run(<float64 array (2, 3)>, <float>, 'Dense'){}"
    assert call and scenario


def test_the_budget_is_shared_by_the_processes_of_a_run_and_stops_requests(slow_submission, tmp_path):
    shared = tmp_path / "budget"
    shared.mkdir()
    other = Budget(1.5, shared)
    other.charge(0.5)  # another process of the run spent 0.5 s
    budget = Budget(1.5, shared)
    assert budget.remaining() == pytest.approx(1.0)
    with sandbox(slow_submission, budget=budget) as engine:
        engine.start()
        started = time.monotonic()
        with engine.batch() as batch:
            batch.map("pkg.slow.one_long_call", Over(np.full(10, 0.3)))  # 3 s, in calls of 0.3 s
        assert time.monotonic() - started < 2
        error = batch.results[0].error
        assert error.type == "TimeBudget" and "the time budget of 1.5 s for this submission ran out" in error.message
        assert other.remaining() <= 0 and budget.remaining() <= 0
        started = time.monotonic()
        [result] = engine.run([{"op": "call", "function": "builtins.len", "args": [[1]]}])
        assert time.monotonic() - started < 0.05
        assert not result.ok and result.error.message.startswith("not run: the time budget of 1.5 s")
    assert training_calls(2, 8, 4, 1) == 2 * 2 * 4
    assert os.listdir(shared)


def test_a_forged_stack_cannot_make_the_judge_show_a_file_outside_the_submission(slow_submission, tmp_path):
    secret = tmp_path / "secret.py"
    secret.write_text("THE_SECRET = 42\n")
    with sandbox(slow_submission) as engine:
        [result] = engine.run([{"op": "call", "function": "pkg.slow.forge_the_stack", "args": [str(secret)]}])
    assert result.error.kind == "timeout"
    assert "THE_SECRET" not in result.error.traceback + result.error.message


# ----------------------------------------------------- what every process of a run knows


def test_what_timed_out_in_one_process_is_known_to_the_others(tmp_path):
    """The run's processes share the budget's folder: a method that timed out
    in one is not called again in another (RunTimeouts)."""
    first, second, alone = RunTimeouts(tmp_path), RunTimeouts(tmp_path), RunTimeouts()
    error = ErrorInfo("Timeout", "timed out after 0.61 s", kind="timeout", where="bgd.layers.fc:FullyConnected._forward",
                      limit="0.5 s per call", stalled=True)
    (tmp_path / "timeout.1.garbage.json").write_text("{not json")  # ignored, as a file half written would be
    first.learn("bgd.layers.fc.FullyConnected.forward", error)
    second.refresh()
    assert second.errors == {"bgd.layers.fc.FullyConnected.forward": error}
    assert second.refused == {"bgd.layers.fc:FullyConnected._forward"}
    alone.learn("x", error)
    assert first.errors.keys() == {"bgd.layers.fc.FullyConnected.forward"}  # a run without a folder keeps to itself
    first.refresh()
    assert len(first.errors) == 1
