"""Reproducers on disk (harness/reproducers.py) and every failing case reported.

`python -m harness check` on a copy of a submission with one bug writes a
script per failing case of each failed public check under
`.harness/failures/`; run with plain `python` from the submission's folder,
each fails with an AssertionError while the bug is there, and passes once the
reference's code (the bug fixed) is copied over it.
"""

import ast
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from mutants import MUTANTS_BY_ID, apply_patch, copy_reference, materialise

from harness import gradcheck, reproducers
from harness.checks import CheckFailure, Diagnosis
from harness.play import Played
from harness.sandbox.runtime import submission_files

ROOT = pathlib.Path(__file__).resolve().parents[1]
FAILURES = pathlib.Path(".harness", "failures")

# A bias stored (out,) where SPEC says (1, out), and a bias gradient divided by the batch size:
# the checks set the bias with `b[...] = value` (a (1, out) value broadcast into it), and so must
# the reproducer, or it would not reproduce the failure. Fixed: the division gone, the shape kept.
BIAS_FLAT = [("beras/layers.py", "Variable(np.zeros((1, output_size)))", "Variable(np.zeros(output_size))")]
BIAS_FLAT_BUG = ("beras/layers.py", "np.ones((1, self.b.shape[-1]), dtype=x.dtype)]",
                 "np.ones(self.b.shape[-1], dtype=x.dtype) / len(x)]")
BIAS_FLAT_FIX = ("beras/layers.py", "np.ones((1, self.b.shape[-1]), dtype=x.dtype)]",
                 "np.ones(self.b.shape[-1], dtype=x.dtype)]")

# (what it covers, mutant id or "bias_flat", --assignment, -k, check names that must get a reproducer)
CASES = [
    ("beras layer", "dense_bias_grad_divided_by_batch", "beras", "Dense",
     ["beras.layers.Dense: weight gradients match the reference",
      "beras.layers.Dense: weight gradients match finite differences"]),
    ("bgd layer", "conv_backward_ignores_strides", "bgd", "Convolutional2D",
     ["bgd.layers.conv2d.Convolutional2D: input gradient matches the reference",
      "bgd.layers.conv2d.Convolutional2D: input gradient matches finite differences of its own forward"]),
    ("beras loss", "cce_grad_missing_batch_mean", "beras", "CategoricalCrossentropy",
     ["beras.losses.CategoricalCrossentropy: input gradient matches the reference"]),
    ("bgd cost", "crossentropy_grad_is_y_hat_minus_y", "bgd", "CrossEntropy",
     ["bgd.cost.CrossEntropy: input gradient matches finite differences of its own forward"]),
    ("forward mutates its input", "leaky_relu_forward_mutates_input", "beras", "LeakyReLU",
     ["beras.activations.LeakyReLU: forward and backward leave their inputs untouched"]),
    ("optimizer update", "adam_without_bias_correction", "beras", "Adam",
     ["beras.optimizers.Adam: parameters over 5 steps match the reference (bias-corrected moments per parameter)"]),
    ("optimizer rebinding its parameters", "rmsprop_stores_new_param_in_list", "beras", "RMSProp and steps",
     ["beras.optimizers.RMSProp: parameters over 5 steps match the reference (a running average of g² per parameter)"]),
    # Only Dense's own gradient checks: its shape check and its check inside a GradientTape rightly still
    # fail once the gradient is fixed (the bias stays (out,)), and their scenario reproducers with them.
    ("bias stored (out,), set by broadcasting", "bias_flat", "beras", "Dense and weight gradients",
     ["beras.layers.Dense: weight gradients match the reference"]),
    # Scenario checks (harness/scenarios/ played on both engines): the script replays the scenario.
    ("beras scenario: GradientTape", "tape_overwrites_on_fan_out", "beras", "GradientTape",
     ["beras.gradient_tape.GradientTape: a tensor used by two layers gets the sum of both gradients (fan-out)",
      "beras.gradient_tape.GradientTape: a weight that is also another layer's input gets the sum of both gradients"]),
    ("beras scenario: SequentialModel", "model_evaluate_trains", "beras", "SequentialModel and evaluate",
     ["beras.model.SequentialModel: evaluate returns the loss and accuracy on all the data and changes nothing"]),
    ("bgd scenario: NeuralStack", "stack_never_updates", "bgd", "NeuralStack",
     ["bgd.nn.NeuralStack: full-batch training follows the reference: the same gradients reach the optimizer, "
      "the same parameters result",
      "bgd.nn.NeuralStack: mini-batch training fits a small model: the cost of its predictions falls as the "
      "reference's does",
      # played on the student's engine alone, judged by harness/scenarios/bgd_properties.py
      "bgd.nn.NeuralStack: eval(X) and train(X, y, epochs, batch_size) leave X and y untouched"]),
    ("bgd scenario: optimizer", "momentum_wrong_sign", "bgd", "MomentumOptimizer and parameters follow",
     ["bgd.optimizers.MomentumOptimizer: parameters follow the reference over 5 updates of 4 layers "
      "(default hyperparameters)"]),
    # Student-only scenario checks (played on the student's engine alone, judged by a property of
    # harness/scenarios/*_properties.py): the script replays the scenario and asserts the property.
    ("bgd student-only scenario: Dropout leaves its inputs", "dropout_backward_scales_error_in_place", "bgd",
     "Dropout and untouched", ["bgd.layers.dropout.Dropout: forward and backward leave their inputs untouched"]),
    ("bgd student-only scenario: Dropout's masks", "dropout_reuses_first_mask", "bgd", "Dropout and new mask",
     ["bgd.layers.dropout.Dropout: a new Dropout drops about 1 - keep_proba of the units, with a new mask at every "
      "forward pass, and divides the kept ones by keep_proba"]),
    ("beras student-only scenario: optimizer in place", "sgd_ascends", "beras", "BasicOptimizer and in place",
     ["beras.optimizers.BasicOptimizer: apply_gradients moves every given array in place, against its gradient, "
      "and changes nothing else"]),
    ("beras student-only scenario: fit", "model_fit_shuffles_data_in_place", "beras", "SequentialModel and fit trains",
     ['beras.model.SequentialModel: fit trains on every batch of every epoch once and returns {"loss": [...], '
      '"acc": [...]}, one value per epoch']),
]

# Methods that raise: the script re-raises the student's exception while the bug is there and, once
# fixed, goes on to assert the check's expected values. (what it covers, bug, --assignment, -k,
# check names that must get a reproducer, the exception the script raises)
FC_RAISES = ("bgd/layers/fc.py", "signal, grad_weights, grad_biases = nnmath.affine_vjp(",
             'raise ValueError("shapes do not align")\n        signal, grad_weights, grad_biases = nnmath.affine_vjp(')
CRASH_CASES = [
    ("bgd layer's backward raises", "fc_backward_raises", "bgd", "FullyConnected",
     ["bgd.layers.fc.FullyConnected: input gradient matches the reference",
      "bgd.layers.fc.FullyConnected: parameter gradients match finite differences",
      "bgd.layers.fc.FullyConnected: forward and backward leave their inputs untouched"], "ValueError: shapes do not align"),
    ("beras layer's backward raises", "tanh_derivative_misspelt_attribute", "beras", "Tanh and not GradientTape",
     ["beras.activations.Tanh: input gradient matches finite differences of its own forward",
      "beras.activations.Tanh: forward and backward leave their inputs untouched"], "AttributeError"),
    ("the given composition rejects a gradient", "dense_input_grad_transposed", "beras", "Dense and input gradient",
     ["beras.layers.Dense: input gradient matches the reference"], "ValueError"),
    ("bgd student-only scenario raises", "momentum_state_keyed_by_index", "bgd", "MomentumOptimizer and queued",
     ["bgd.optimizers.MomentumOptimizer: update() applies the deltas with each queued layer's update_parameters, "
      "once, then empties the queue"], "ValueError"),
]


def harness(*args):
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def reproduce(script, folder):
    """`python .harness/failures/<name>.py` from the submission's folder, as the student runs it."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, str(script.relative_to(folder))], capture_output=True, text=True,
                          timeout=120, cwd=folder, env=environment)


def buggy(kind, folder):
    if kind == "fc_backward_raises":
        copy_reference(folder)
        apply_patch(folder, *FC_RAISES)
        return folder
    if kind == "bias_flat":
        copy_reference(folder)
        for patch in [*BIAS_FLAT, BIAS_FLAT_BUG]:
            apply_patch(folder, *patch)
        return folder
    return materialise(MUTANTS_BY_ID[kind], folder)


def fix(kind, folder):
    """The reference's code copied over the submission: the bug gone, the reproducers kept."""
    for name in ("beras", "bgd"):
        shutil.rmtree(folder / name)
    copy_reference(folder)
    if kind == "bias_flat":  # the bug fixed, the bias still stored (out,)
        for patch in [*BIAS_FLAT, BIAS_FLAT_FIX]:
            apply_patch(folder, *patch)


def scripts(folder):
    return sorted((folder / FAILURES).glob("*.py"))


@pytest.mark.parametrize("covers, kind, assignment, keyword, names", CASES, ids=[c[0] for c in CASES])
def test_a_reproducer_fails_with_the_bug_and_passes_once_fixed(covers, kind, assignment, keyword, names, tmp_path):
    folder = buggy(kind, tmp_path / "submission")
    run = harness("check", folder, "--assignment", assignment, "-k", keyword, "--verbose")
    assert run.returncode == 1, run.stderr
    written = scripts(folder)
    stems = {path.stem for path in written}
    for name in names:
        assert reproducers.file_stem(name) in stems, (name, stems)
        # The console names the script in place of a long inline snippet.
        section = run.stdout.split(f"FAIL {name}\n", 1)[1].split("\nFAIL ", 1)[0]
        assert f"reproduce: python .harness/failures/{reproducers.file_stem(name)}.py" in section
        assert "reproduce with:" not in section
    for script in written:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+\.py", script.name)
        assert script.with_suffix(".npz").is_file()
        assert max(map(len, script.read_text().splitlines())) < 300  # arrays live in the .npz
        result = reproduce(script, folder)
        assert result.returncode != 0 and "AssertionError" in result.stderr, (script.name, result.stderr[-2000:])
    fix(kind, folder)
    for script in written:
        result = reproduce(script, folder)
        assert result.returncode == 0, (script.name, result.stderr[-2000:])
        assert "passed" in result.stdout


def ends_with_assertion(source):
    """Whether the script's last statement before its closing print is an assertion
    (or a loop whose last statement is)."""
    last = ast.parse(source).body[-2]
    while isinstance(last, (ast.For, ast.If)):
        last = last.body[-1]
    return isinstance(last, ast.Assert) or (
        isinstance(last, ast.Expr) and ast.unparse(last.value.func).rpartition(".")[2].startswith("assert"))


@pytest.mark.parametrize("covers, kind, assignment, keyword, names, raised", CRASH_CASES, ids=[c[0] for c in CRASH_CASES])
def test_a_crash_reproducer_raises_with_the_bug_and_asserts_once_fixed(covers, kind, assignment, keyword, names, raised,
                                                                       tmp_path):
    folder = buggy(kind, tmp_path / "submission")
    run = harness("check", folder, "--assignment", assignment, "-k", keyword, "--verbose")
    assert run.returncode == 1, run.stderr
    written = {path.stem: path for path in scripts(folder)}
    for name in names:
        assert reproducers.file_stem(name) in written, (name, sorted(written))
        script = written[reproducers.file_stem(name)]
        source = script.read_text()
        assert ends_with_assertion(source), source[-1500:]
        result = reproduce(script, folder)
        assert result.returncode != 0 and raised in result.stderr, (script.name, result.stderr[-2000:])
    fix(kind, folder)
    for name in names:
        result = reproduce(written[reproducers.file_stem(name)], folder)
        assert result.returncode == 0 and "passed" in result.stdout, (name, result.stderr[-2000:])


def test_a_crash_reproducer_asserts_the_expected_values_once_it_runs(tmp_path):
    """Once the crash is gone, the script goes on to the check's assertion: a bug left
    behind (the backward now runs, but wrong) fails it with an AssertionError."""
    folder = buggy("fc_backward_raises", tmp_path / "submission")
    name = "bgd.layers.fc.FullyConnected: input gradient matches the reference"
    assert harness("check", folder, "--assignment", "bgd", "-k", name).returncode == 1
    script = folder / FAILURES / f"{reproducers.file_stem(name)}.py"
    fix("fc", folder)
    apply_patch(folder, "bgd/layers/fc.py", "return (signal if self.propagate else None), gradients",
                "return (2 * signal if self.propagate else None), gradients")
    result = reproduce(script, folder)
    assert result.returncode != 0 and "AssertionError" in result.stderr, result.stderr[-2000:]


def test_every_failing_case_is_reported_with_its_own_reproducer(tmp_path):
    """Dense's bias gradient divided by the batch size is wrong for batches 4 and 3, right for batch 1."""
    folder = materialise(MUTANTS_BY_ID["dense_bias_grad_divided_by_batch"], tmp_path / "submission")
    run = harness("check", folder, "--assignment", "beras", "-k", "Dense and reference", "--verbose")
    assert run.returncode == 1, run.stderr
    name = "beras.layers.Dense: weight gradients match the reference"
    section = run.stdout.split(f"FAIL {name}", 1)[1]
    assert "[2 of 3 cases fail: batch 4, 3 -> 5 in full, the others below]" in section.splitlines()[1]
    assert "the other failing cases (1):" in section
    assert "batch 3, 6 -> 6, xavier: Dense.get_weight_gradients" in section
    stem = reproducers.file_stem(name)
    assert f"reproduce: python .harness/failures/{stem}.py" in section
    assert f"reproduce: python .harness/failures/{stem}-case2.py" in section
    assert {p.name for p in scripts(folder)} >= {f"{stem}.py", f"{stem}-case2.py"}
    # The two scripts replay different cases.
    assert "case:  batch 4, 3 -> 5" in (folder / FAILURES / f"{stem}.py").read_text()
    assert "case:  batch 3, 6 -> 6, xavier" in (folder / FAILURES / f"{stem}-case2.py").read_text()


def test_stale_reproducers_are_removed_and_grade_writes_none(tmp_path):
    folder = materialise(MUTANTS_BY_ID["fc_weight_grad_transposed"], tmp_path / "submission")
    assert harness("check", folder, "--assignment", "bgd", "-k", "FullyConnected").returncode == 1
    assert scripts(folder)
    notes = folder / FAILURES / "notes.txt"
    notes.write_text("mine")
    fix("fc", folder)
    run = harness("check", folder, "--assignment", "bgd", "-k", "FullyConnected")
    assert run.returncode == 0, run.stdout
    assert not scripts(folder) and not list((folder / FAILURES).glob("*.npz"))
    assert notes.read_text() == "mine"  # only what check wrote is removed
    # grade runs on the autograder: it writes no reproducer, even for a failing submission.
    graded = materialise(MUTANTS_BY_ID["fc_weight_grad_transposed"], tmp_path / "graded")
    run = harness("grade", graded, "--assignment", "bgd", "--results", tmp_path / "results.json")
    assert run.returncode == 1, run.stderr
    assert not (graded / ".harness").exists()
    document = json.loads((tmp_path / "results.json").read_text())
    assert not any(".harness/failures" in test["output"] for test in document["tests"])


HIDDEN_RUN = """
import json, sys
from harness.grading import run_checks
outcomes, _ = run_checks(sys.argv[1], ["beras"], 7, names="Softmax", reproducers=sys.argv[1])
print(json.dumps([[o.name, o.visibility, o.passed] for o in outcomes]))
"""


def test_hidden_checks_never_get_a_reproducer(tmp_path):
    """A grading run with hidden checks and reproducers asked for: only the failed public checks get files."""
    folder = materialise(MUTANTS_BY_ID["softmax_diagonal_jacobian"], tmp_path / "submission")
    run = subprocess.run([sys.executable, "-c", HIDDEN_RUN, str(folder)], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    outcomes = json.loads(run.stdout.strip().splitlines()[-1])
    failed_hidden = [name for name, visibility, passed in outcomes if visibility != "public" and not passed]
    failed_public = [name for name, visibility, passed in outcomes if visibility == "public" and not passed]
    assert failed_hidden and failed_public, outcomes
    stems = {path.stem.removesuffix("-case2") for path in scripts(folder)}
    assert stems and stems <= {reproducers.file_stem(name) for name in failed_public}
    assert not stems & {reproducers.file_stem(name) for name in failed_hidden}


HIDDEN_SCENARIO_RUN = """
import json, sys
from harness.grading import run_checks
outcomes, _ = run_checks(sys.argv[1], ["bgd"], 7, names="MomentumOptimizer and parameters follow",
                         reproducers=sys.argv[1])
print(json.dumps([[o.name, o.visibility, o.passed] for o in outcomes]))
"""


def test_hidden_scenario_checks_never_get_a_reproducer(tmp_path):
    """The optimizer trajectory scenario fails both its public and its hidden check: only the public one gets a file."""
    folder = materialise(MUTANTS_BY_ID["momentum_wrong_sign"], tmp_path / "submission")
    run = subprocess.run([sys.executable, "-c", HIDDEN_SCENARIO_RUN, str(folder)], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    outcomes = json.loads(run.stdout.strip().splitlines()[-1])
    failed = {visibility: reproducers.file_stem(name) for name, visibility, passed in outcomes if not passed}
    assert set(failed) == {"public", "hidden"}, outcomes
    assert {path.stem for path in scripts(folder)} == {failed["public"]}


# ---------------------------------------------------------------- without a sandbox


PLAIN_DATA = {
    "losses": [0.5, 0.25, float("nan")],
    "after": ((np.arange(6.0).reshape(2, 3), np.float32(1.5)), [np.array([True, False])]),
    3: {"name": "float32", "kept": True, "nothing": None, "count": 4},
}


def test_plain_data_survives_the_npz_and_json_round_trip(tmp_path):
    arrays = {}
    text = json.dumps(reproducers.encode(PLAIN_DATA, arrays, "a"))
    np.savez(tmp_path / "data.npz", **arrays)
    back = reproducers.decode(json.loads(text), np.load(tmp_path / "data.npz"))
    assert isinstance(back["after"], tuple) and isinstance(back["after"][0], tuple)
    assert isinstance(back["after"][0][1], np.float32) and back[3] == PLAIN_DATA[3]
    assert reproducers.first_difference(back, PLAIN_DATA, 1e-6, 1e-8, 1e-16) is None
    with pytest.raises(TypeError):
        reproducers.encode({"layer": object()}, {}, "a")


def test_first_difference_names_the_place_and_honours_the_tolerance():
    want = {"grads": [np.array([[1.0, 2.0], [3.0, 4.0]])], "flag": True}
    near = {"grads": [want["grads"][0] * (1 + 5e-7)], "flag": True}
    assert reproducers.first_difference(near, want, 1e-6, 1e-8, 1e-16) is None
    far = {"grads": [want["grads"][0] + np.array([[0.0, 0.0], [0.1, 0.0]])], "flag": True}
    assert reproducers.first_difference(far, want, 1e-6, 1e-8, 1e-16).startswith("the result['grads'][0][1, 0] is 3.1")
    assert "the reference's is True" in reproducers.first_difference({**near, "flag": np.True_}, want, 1e-6, 1e-8, 0)
    assert "shape (2,)" in reproducers.first_difference({"grads": [np.zeros(2)]}, want, 1e-6, 1e-8, 0)


def test_a_scenario_whose_values_agree_gets_no_reproducer():
    """The check failed on something the scenario's values do not show: a script that passes would mislead."""
    same = Played("bgd_scenarios.stack_train", (np.ones(3), 2), {}, {"losses": [1.0]}, {"losses": [1.0]})
    assert reproducers.scenario_reproducer(same) is None
    differs = Played("bgd_scenarios.stack_train", (np.ones(3), 2), {"seed": 4}, {"losses": [1.5]}, {"losses": [1.0]})
    reproducer = reproducers.scenario_reproducer(differs, case="a stack")
    assert "from harness.scenarios.bgd_scenarios import stack_train" in reproducer.imports
    assert "got = stack_train(*args, **kwargs)" in reproducer.body
    assert json.loads(str(reproducer.arrays["call"])) == [[{"array": "argument0"}, 2], {"dict": [["seed", 4]]}]


def test_the_harness_folder_is_never_copied_into_a_sandbox(tmp_path):
    folder = copy_reference(tmp_path / "submission")
    (folder / FAILURES).mkdir(parents=True)
    (folder / FAILURES / "x.py").write_text("import beras\n")
    (folder / "beras" / ".harness").mkdir()
    (folder / "beras" / ".harness" / "y.py").write_text("")
    copied = [str(path) for path, _ in submission_files(folder, None, float("inf"))]
    assert copied and not any(".harness" in path for path in copied)


def test_file_names_are_safe_and_distinct():
    assert reproducers.file_stem("beras.layers.Dense: forward matches the reference") == \
        "beras.layers.Dense-forward_matches_the_reference"
    long_a, long_b = "bgd.nn.NeuralStack: " + "x" * 100 + "a", "bgd.nn.NeuralStack: " + "x" * 100 + "b"
    assert reproducers.file_stem(long_a) != reproducers.file_stem(long_b)
    assert len(reproducers.file_stem(long_a)) <= reproducers.NAME_CHARS + 9
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", reproducers.file_stem("a/../b: \"quoted\" (x²) $HOME"))
    assert reproducers.file_stem("a: b", 3) == "a-b-case3"


class Case:
    def __init__(self, label):
        self.label = label


def failing(summary, traceback=""):
    def check(case):
        raise CheckFailure(Diagnosis(summary=summary, case=case.label, traceback=traceback))
    return check


def test_each_case_reports_every_failing_case():
    cases = [Case("one"), Case("two"), Case("three")]
    ran = []

    def check(case):
        ran.append(case.label)
        if case.label != "two":
            failing(f"wrong in {case.label}")(case)

    with pytest.raises(CheckFailure) as raised:
        gradcheck.each_case(cases, check)
    diagnosis = raised.value.diagnosis
    assert ran == ["one", "two", "three"]
    assert diagnosis.summary.startswith("wrong in one [2 of 3 cases fail")
    assert diagnosis.other_cases == [{"case": "three", "summary": "wrong in three", "reproducer": ""}]
    assert "three: wrong in three" in diagnosis.as_text()
    with pytest.raises(CheckFailure) as raised:  # one failing case: itself, as before
        gradcheck.each_case(cases, lambda case: failing("only")(case) if case.label == "two" else None)
    assert raised.value.diagnosis.summary == "only" and not raised.value.diagnosis.other_cases


def test_a_crash_or_timeout_ends_the_check():
    for summary, traceback in [("Dense.call raised ValueError: no", "Traceback ..."),
                               ("Dense.call: timed out after 5 s (timeout)", "")]:
        ran = []

        def check(case, ran=ran, summary=summary, traceback=traceback):
            ran.append(case.label)
            failing(summary, traceback)(case)

        with pytest.raises(CheckFailure) as raised:
            gradcheck.each_case([Case("one"), Case("two")], check)
        assert ran == ["one"] and raised.value.diagnosis.summary == summary


def test_a_scenario_where_the_student_code_raises_gets_a_reproducer(tmp_path):
    """The in-tape check of a Dense whose batched weight gradient has a wrong
    layout: the given composition raises inside the scenario. The script
    replays it (and raises the same error) until the bug is fixed, then
    compares with the reference's result and passes."""
    folder = buggy("dense_weight_grad_batched_wrong_layout", tmp_path / "submission")
    name = "beras.layers.Dense: inside a GradientTape, between probe layers, passes the right gradients to the layers around it"
    run = harness("check", folder, "--assignment", "beras", "-k", "Dense and GradientTape", "--verbose")
    assert run.returncode == 1, run.stderr
    script = folder / FAILURES / f"{reproducers.file_stem(name)}.py"
    assert script.is_file(), [p.name for p in scripts(folder)]
    result = reproduce(script, folder)
    assert result.returncode != 0 and "Dense.get_weight_gradients" in result.stderr, result.stderr[-2000:]
    fix("dense_weight_grad_batched_wrong_layout", folder)
    result = reproduce(script, folder)
    assert result.returncode == 0 and "passed" in result.stdout, result.stderr[-2000:]


def test_a_method_still_to_write_gets_no_scenario_reproducer(tmp_path):
    shutil.copytree(ROOT / "student_template", tmp_path / "submission")
    folder = tmp_path / "submission"
    run = harness("check", folder, "--assignment", "bgd", "-k", "NeuralStack")
    assert run.returncode == 1, run.stderr
    assert scripts(folder) == []


# ---------------------------------------------------------------- properties (harness/scenarios/*_properties.py)

from harness.play import Judged  # noqa: E402
from harness.scenarios import beras_properties, bgd_properties  # noqa: E402

X_SMALL, E_SMALL = np.full((4, 5), 0.5), np.ones((4, 5))
PARAMS = [[np.zeros((1, 3)), np.zeros(3)]]
# (property, the arguments after the scenario's value)
PROPERTIES = [
    (bgd_properties.dropout_forwards, (X_SMALL, 0.5)),
    (bgd_properties.dropout_backward, (X_SMALL, E_SMALL, 0.5)),
    (bgd_properties.dropout_switch, (X_SMALL, E_SMALL)),
    (bgd_properties.dropout_untouched, (X_SMALL, E_SMALL, 0.5)),
    (bgd_properties.stack_eval_untouched, (X_SMALL, 2)),
    (bgd_properties.stack_train_untouched, ()),
    (bgd_properties.stack_train_losses, (3, 4)),
    (bgd_properties.optimizer_applies_and_empties, (PARAMS,)),
    (beras_properties.optimizer_in_place, ([np.zeros((2, 2))], [np.ones((2, 2))], "SGD.apply_gradients")),
    (beras_properties.model_fit_history, (3, 3, np.zeros((12, 3)), "fit(x, y, 3, 4)")),
    (beras_properties.model_fit_trains, (10, 1.0, "fit(x, y, 10, 8)")),
]
JUNK = [None, "<Tensor object>", 3, {}, [], [None, None], {"out": "<array of dtype object>", "back": 7},
        {"after": [[["x"]]] * 3, "calls": "no"}, [{"data_untouched": "yes"}], {"events": [[]], "off": {}, "on": 2},
        [{"data_untouched": True, "result": {"loss": [1.0] * 3, "acc": [0.5] * 3}, "steps": [[0, 1, 2]] * 9,
          "log": [["step", 0]] * 9, "data_loss": "nan"}]]


@pytest.mark.parametrize("prop, extra", PROPERTIES, ids=[p.__name__ for p, _ in PROPERTIES])
def test_a_property_reports_untrusted_junk_as_a_problem_and_never_raises(prop, extra):
    for junk in JUNK:
        problems = prop(junk, *extra)
        assert problems and all(isinstance(p["summary"], str) and p["summary"] for p in problems), (junk, problems)


def test_a_property_holds_on_what_correct_code_returns():
    rng = np.random.default_rng(3)
    X = rng.uniform(0.5, 1.5, size=(100, 200))
    masks = [rng.random(X.shape) < 0.5 for _ in range(2)]
    assert bgd_properties.dropout_forwards([np.where(m, X / 0.5, 0.0) for m in masks], X, 0.5) == []
    same_mask = bgd_properties.dropout_forwards([np.where(masks[0], X / 0.5, 0.0)] * 2, X, 0.5)
    assert same_mask[0]["mistake"] == "state" and "new random mask" in same_mask[0]["hints"][0]
    unscaled = bgd_properties.dropout_forwards([np.where(m, X, 0.0) for m in masks], X, 0.5)
    assert unscaled[0]["mistake"] == "scale" and unscaled[0]["worst"]
    # float32 results are judged with float32's tolerance
    assert bgd_properties.dropout_forwards([np.where(m, X / 0.5, 0.0).astype(np.float32) for m in masks], X, 0.5) == []


def test_a_scenario_that_raised_is_replayed_then_judged_and_one_that_holds_gets_none():
    crashed = Judged("bgd_scenarios.dropout_untouched", (0.5, X_SMALL, E_SMALL, 7), {},
                     "bgd_properties.dropout_untouched", (X_SMALL, E_SMALL, 0.5), None)
    reproducer = reproducers.property_reproducer(crashed, case="Dropout(0.5)")
    assert "got = harness.scenarios.bgd_scenarios.dropout_untouched(*args, **kwargs)" in reproducer.body
    assert "problems = dropout_untouched(got, *extra)" in reproducer.body
    assert reproducers.property_reproducer(Judged(*list(crashed.__dict__.values())[:5], [])) is None


def test_the_losses_train_returns_are_the_costs_it_computed():
    events = [["cost", 1.0], ["update", []], ["cost", 0.5], ["update", []]]
    assert bgd_properties.stack_train_losses({"events": events, "losses": [1.0, 0.5]}, 1, 2) == []  # one per batch
    assert bgd_properties.stack_train_losses({"events": events, "losses": [1.0, 0.5]}, 2, 1) == []  # one per epoch
    assert bgd_properties.stack_train_losses({"events": events, "losses": [0.75]}, 1, 2) == []  # the epoch's mean
    wrong = bgd_properties.stack_train_losses({"events": events, "losses": [0.7, 0.5]}, 1, 2)
    assert wrong[0]["summary"].startswith("loss 0 that train returned (0.7) is not a cost")
    assert "returned 3 losses" in bgd_properties.stack_train_losses({"events": events, "losses": [1, 2, 3]}, 1, 2)[0]["summary"]
