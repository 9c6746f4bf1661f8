"""The reference engine in the judge's process (harness/in_process.py): it
answers exactly as the reference in a sandbox does, keeps its modules to
itself, and lets nothing of the judge's and the reference's share memory."""

import sys
import textwrap
import types

import numpy as np
import pytest
from mutants import REFERENCE_DIR
from test_grading_processes import buggy_copy

from harness.grading import run_checks
from harness.in_process import InProcessEngine
from harness.plugin import SCENARIOS
from harness.sandbox import Over, Sandbox
from harness.submission import ASSIGNMENTS

FC = "bgd.layers.fc.FullyConnected"


def requests(rng):
    """A few requests of every kind checks send: objects, methods, parameters
    written in place, a map, a replay, the given beras composition, a failing op."""
    x = rng.normal(size=(4, 3))
    upstream = rng.normal(size=(4, 2))

    def fully_connected(b):
        layer = b.new(FC, 3, 2).seed(0)
        weights = b.getattr(layer, "w")
        b.assign(weights, rng.normal(size=(3, 2)))
        out = b.method(layer, "forward", x)
        grad = b.method(layer, "backward", upstream)
        stack = b.map(layer.forward, Over(rng.normal(size=(5, 4, 3))))
        return [out, grad, stack]

    def replayed(b):
        layer = b.new(FC, 3, 2).seed(0)

        def record(body, slot):
            return [body.method(layer, "forward", slot)]

        return [b.replay(rng.normal(size=(3, 4, 3)), record)]

    def tensor(b):
        dense = b.new("beras.layers.Dense", 3, 2).seed(0)
        out = b.call(dense, b.call("beras.core.Tensor", x))
        return [out, b.getattr(out, "shape")]

    def failing(b):
        layer = b.new(FC, 3, 2).seed(0)
        return [b.method(layer, "forward", np.ones((4, 7))), b.method(layer, "backward", upstream)]

    return [fully_connected, replayed, tensor, failing]


def answers(engine, record):
    with engine.batch() as b:
        pendings = record(b)
    return [b.results[p._index] for p in pendings]


def test_it_answers_as_the_reference_in_a_sandbox_does():
    sandbox = Sandbox(REFERENCE_DIR, graded=ASSIGNMENTS, shipped=SCENARIOS)
    engine = InProcessEngine(REFERENCE_DIR, graded=ASSIGNMENTS, shipped=SCENARIOS)
    try:
        for there, here in zip(requests(np.random.default_rng(1)), requests(np.random.default_rng(1))):
            for remote, local in zip(answers(sandbox, there), answers(engine, here)):
                assert (local.ok, local.type_of(), local.raw is None) == (remote.ok, remote.type_of(), remote.raw is None)
                if remote.ok:
                    np.testing.assert_equal(local.value, remote.value)
                else:
                    assert (local.error.type, local.error.kind) == (remote.error.type, remote.error.kind)
                    assert local.error.message == remote.error.message
    finally:
        sandbox.close()
        engine.close()


def test_its_modules_are_its_own():
    # The judge's process may hold a `beras` of its own (the suite's); a request sees the reference's.
    theirs = types.ModuleType("beras")
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if name.partition(".")[0] == "beras"}
    sys.modules["beras"] = theirs
    try:
        engine = InProcessEngine(REFERENCE_DIR, graded=ASSIGNMENTS, shipped=SCENARIOS)
        with engine.batch() as b:
            tensor = b.call("beras.core.Tensor", np.ones(2)).keep()
            where = b.call("inspect.getfile", b.getattr(tensor, "__class__"))
        assert tensor.ok and tensor.value.type == "beras.core.Tensor"
        assert where.value.startswith(str(REFERENCE_DIR / "beras"))
        assert sys.modules["beras"] is theirs
        assert not any(name.startswith("beras.") for name in sys.modules)
        # Its modules stay loaded between requests: the object made above is of the class a new request finds.
        with engine.batch() as b:
            same = b.call("builtins.isinstance", tensor.value, b.call("importlib.import_module", "beras.core").pick("Tensor"))
        assert same.value is True
    finally:
        del sys.modules["beras"]
        sys.modules.update(saved)


def test_only_the_graded_packages_and_what_they_import_can_be_imported(tmp_path, monkeypatch):
    folder = tmp_path / "reference"
    (folder / "bgd").mkdir(parents=True)
    (folder / "bgd" / "__init__.py").write_text("import helper\nVALUE = helper.VALUE\n")
    (folder / "helper.py").write_text("VALUE = 7\n")
    (folder / "scratch.py").write_text("VALUE = 'a stray file'\n")
    # A `beras` elsewhere on the judge's path is not the reference's (it has none).
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "beras").mkdir(parents=True)
    (elsewhere / "beras" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(elsewhere))
    engine = InProcessEngine(folder, graded=ASSIGNMENTS)
    [value] = engine.run([{"op": "call", "function": "bgd.VALUE.__int__"}])
    [stray] = engine.run([{"op": "import", "module": "scratch"}])
    [missing] = engine.run([{"op": "import", "module": "beras"}])
    assert value.ok and value.value == 7
    assert not stray.ok and stray.error.type == "ModuleNotFoundError"
    assert not missing.ok and missing.error.type == "ModuleNotFoundError"


def test_what_it_prints_goes_to_the_results_not_the_terminal(tmp_path, capfd):
    folder = tmp_path / "reference"
    (folder / "bgd").mkdir(parents=True)
    (folder / "bgd" / "__init__.py").write_text(textwrap.dedent("""
        import sys
        def loud(x):
            print("epoch 1: loss", x)
            print("warning", file=sys.stderr)
            return x
    """))
    engine = InProcessEngine(folder, graded=ASSIGNMENTS)
    first, second = engine.run([{"op": "call", "function": "bgd.loud", "args": [1]},
                                {"op": "call", "function": "bgd.loud", "args": [2]}])
    assert (first.stdout, first.stderr) == ("epoch 1: loss 1\n", "warning\n")
    assert second.stdout == "epoch 1: loss 2\n"
    assert capfd.readouterr() == ("", "")


def test_no_array_is_shared_between_the_judge_and_the_reference(tmp_path):
    folder = tmp_path / "reference"
    (folder / "bgd").mkdir(parents=True)
    (folder / "bgd" / "__init__.py").write_text(textwrap.dedent("""
        import numpy as np
        class Keeper:
            def __init__(self):
                self.kept = np.zeros(3)
            def double_in_place(self, x):
                x *= 2
                return x
            def state(self):
                return self.kept
    """))
    engine = InProcessEngine(folder, graded=ASSIGNMENTS)
    sent = np.ones(3)
    with engine.batch() as b:
        keeper = b.new("bgd.Keeper").keep()
        doubled = b.method(keeper, "double_in_place", sent)
        state = b.method(keeper, "state")
    assert np.array_equal(sent, np.ones(3)) and np.array_equal(doubled.value, 2 * np.ones(3))
    state.value[...] = 5  # the judge's copy, not the reference's array
    [again] = engine.run([{"op": "call", "target": keeper.value, "method": "state"}])
    assert np.array_equal(again.value, np.zeros(3))


def test_a_missing_folder_is_refused(tmp_path):
    from harness.sandbox import SandboxError

    with pytest.raises(SandboxError, match="not a directory"):
        InProcessEngine(tmp_path / "nowhere")


def test_a_grading_gives_the_same_outcomes_as_with_the_reference_in_a_sandbox(tmp_path, monkeypatch):
    # The whole catalog, on a submission with a bug in each assignment: every
    # verdict and every word of every diagnosis (expected values, errors, where)
    # is the same whichever engine ran the reference.
    submission = buggy_copy(tmp_path)
    in_process, _ = run_checks(submission, ["beras", "bgd"], run_seed=11)
    monkeypatch.setenv("GRADECHECK_REFERENCE", "sandbox")
    sandboxed, _ = run_checks(submission, ["beras", "bgd"], run_seed=11)
    assert [(o.name, o.passed, o.output) for o in in_process] == [(o.name, o.passed, o.output) for o in sandboxed]
    assert 0 < sum(not o.passed for o in in_process) < len(in_process)


# ---------------------------------------------------------------- red team (branch inproc)


def _reference_of(folder, source):
    """An engine of a one-module reference: bgd/__init__.py holding `source`."""
    (folder / "bgd").mkdir(parents=True)
    (folder / "bgd" / "__init__.py").write_text(textwrap.dedent(source))
    return InProcessEngine(folder, graded=ASSIGNMENTS)


NAMED = """
    import time
    NAME = {name!r}
    def name_after(seconds):
        time.sleep(seconds)
        import bgd
        return bgd.NAME
"""


def test_two_engines_on_overlapping_threads_keep_their_modules_and_the_judges_streams(tmp_path):
    # Engine a's request starts first and ends first, b's overlaps it: each
    # swaps sys.modules and sys.stdout for the whole process.
    import threading
    import time

    a = _reference_of(tmp_path / "a", NAMED.format(name="a"))
    b = _reference_of(tmp_path / "b", NAMED.format(name="b"))
    stdout, stderr = sys.stdout, sys.stderr
    judges = {name: module for name, module in sys.modules.items() if name.partition(".")[0] == "bgd"}  # other tests'
    answers = {}

    def ask(engine, key, seconds):
        answers[key] = engine.run([{"op": "call", "function": "bgd.name_after", "args": [seconds]}])[0].value

    first = threading.Thread(target=ask, args=(a, "a", 0.3))
    second = threading.Thread(target=ask, args=(b, "b", 0.6))
    first.start()
    time.sleep(0.15)
    second.start()
    first.join()
    second.join()
    streams_after = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = stdout, stderr  # before any assertion: pytest reports through them
    try:
        assert streams_after == (stdout, stderr)
        assert answers == {"a": "a", "b": "b"}
        again = [engine.run([{"op": "call", "function": "bgd.name_after", "args": [0]}])[0].value for engine in (a, b)]
        assert again == ["a", "b"]
        assert {name: module for name, module in sys.modules.items() if name.partition(".")[0] == "bgd"} == judges
    finally:
        for name in [name for name in sys.modules if name.partition(".")[0] == "bgd"]:
            del sys.modules[name]  # what a mixed-up engine left in the judge's
        sys.modules.update(judges)


def test_what_another_thread_prints_during_a_request_is_not_the_references(tmp_path, capsys):
    import threading
    import time

    engine = _reference_of(tmp_path / "slow", NAMED.format(name="slow"))
    results = []
    request = threading.Thread(target=lambda: results.extend(
        engine.run([{"op": "call", "function": "bgd.name_after", "args": [0.4]}])))
    request.start()
    time.sleep(0.15)
    print("the judge's own line")
    request.join()
    assert results[0].ok and results[0].stdout == ""
    assert capsys.readouterr().out == "the judge's own line\n"


def test_a_request_interrupted_after_a_large_reply_leaves_nothing_for_the_next(tmp_path):
    # Replies over 64 KiB go to the channel as soon as they are made (as a
    # worker sends them); a KeyboardInterrupt then ends the request.
    engine = _reference_of(tmp_path / "interrupted", """
        import numpy as np
        def large():
            return np.ones(20000)
        def same(x):
            return x
        def interrupted():
            raise KeyboardInterrupt
    """)
    with pytest.raises(KeyboardInterrupt):
        engine.run([{"op": "call", "function": "bgd.large"}, {"op": "call", "function": "bgd.interrupted"}])
    results = engine.run([{"op": "call", "function": "bgd.same", "args": [2]}])
    assert len(results) == 1 and results[0].ok and results[0].value == 2


def test_refs_of_the_reference_work_as_a_sandboxs_do(tmp_path):
    # A Ref's methods and Sandbox's conveniences (new, call, getattr, release, ...) go through its engine.
    engine = _reference_of(tmp_path / "refs", """
        import numpy as np
        class Counter:
            def __init__(self, start):
                self.count = start
                self.weights = np.zeros(2)
            def add(self, n):
                self.count += n
                return self.count
    """)
    counter = engine.new("bgd.Counter", 3)
    assert counter.add(2) == 5
    assert engine.call(counter.add, 1) == 6
    assert engine.getattr(counter, "count") == 6
    engine.assign(engine.getattr(counter, "weights", keep=True), np.ones(2))
    np.testing.assert_array_equal(engine.getattr(counter, "weights"), np.ones(2))
    engine.release(counter)
    [after] = engine.run([{"op": "call", "target": counter, "method": "add", "args": [1]}])
    assert not after.ok and after.error.kind == "request"
