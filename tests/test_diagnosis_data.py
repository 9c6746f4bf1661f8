"""SPEC 5's diagnosis as data: every failed test of results.json carries
`extra_data` {"method", "blame", "mistake"} in SPEC's vocabulary.

For each kind of mistake a single-bug submission (tests/mutants.py) plants it,
and a real `python -m harness grade` must name that mistake, the method at
fault and where the fault lies, on a check of the class; the other mutants of
the table, bugs of other kinds, must not get it. Correct submissions fail
nothing, and every failure of the zero stub has a blame. Each mutant is graded
once per session (`mutant_grading` in conftest.py, shared with
test_judge_mutants.py).
"""

import dataclasses
import pathlib

import numpy as np
import pytest
import variant_corpus
from autograde import grade
from mutants import MUTANTS_BY_ID
from stubs import materialise_zero_stub

from harness import numerics
from harness.checks import Diagnosis
from harness.vocabulary import BLAMES, MISTAKES

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHORT_TIMEOUT = ("--timeout", "1")  # a hanging method costs this once (then it is not called again)


@dataclasses.dataclass(frozen=True)
class Expected:
    """A mutant and what results.json must say of one of its failed checks."""

    mutant: str
    check: str  # the test's name
    method: str
    blame: str
    mistake: str
    options: tuple = ()  # more options of `grade`
    says: str = ""  # words the check's output must hold (the student's hint)
    # Other mistakes its other checks may name: a check that asks only for an array's
    # shape sees a transposed or unsummed gradient as a wrong shape, and says so.
    also: tuple = ()

    def __str__(self):
        return f"{self.mistake}:{self.mutant}"


DENSE, MSE, LEAKY = "beras.layers.Dense", "beras.losses.MeanSquaredError", "beras.activations.LeakyReLU"
FC, POOL, DROPOUT = "bgd.layers.fc.FullyConnected", "bgd.layers.max_pooling2d.MaxPooling2D", "bgd.layers.dropout.Dropout"

TABLE = [
    Expected("dense_bias_grad_divided_by_batch", f"{DENSE}: weight gradients match the reference",
             "Dense.get_weight_gradients", "backward", "scale", says="batch size"),
    # Dropout's missing 1/keep_proba is a constant factor 0.5, not "the 2 of a square".
    Expected("dropout_without_rescale", f"{DROPOUT}: a new Dropout drops about 1 - keep_proba of the units, with a new mask "
             "at every forward pass, and divides the kept ones by keep_proba", "Dropout.forward", "forward", "scale",
             says="constant factor ~ 0.5"),
    Expected("mse_grad_wrong_sign", f"{MSE}: input gradient matches the reference", "MeanSquaredError.get_input_gradients",
             "backward", "sign"),
    Expected("fc_weight_grad_transposed", f"{FC}: parameter gradients match the reference", "FullyConnected._backward",
             "backward", "transpose", also=("shape",)),
    Expected("fc_bias_grad_not_summed", f"{FC}: parameter gradients match the reference", "FullyConnected._backward",
             "backward", "batch-reduction", also=("shape",)),
    Expected("leaky_relu_backward_ignores_alpha", f"{LEAKY}: input gradient matches the reference",
             "LeakyReLU.get_input_gradients", "backward", "mask"),
    Expected("pool_overwrites_overlapping_windows", f"{POOL}: input gradient matches the reference",
             "MaxPooling2D._backward", "backward", "entries", says="where pooling windows overlap"),
    # A hidden check: its extra_data is there too.
    Expected("softmax_without_max_shift", "beras.activations.Softmax: forward is right and finite for extreme inputs",
             "Softmax.call", "forward", "stability"),
    Expected("relu_forward_mutates_input", "beras.activations.ReLU: forward and backward leave their inputs untouched",
             "ReLU.call", "contract", "in-place"),
    Expected("fc_update_rebinds_weights", f"{FC}: update_parameters changes the arrays get_parameters() returned, in "
             "place, and the layer computes with them", "FullyConnected.update_parameters", "update", "in-place"),
    Expected("momentum_forgets_previous_delta", "bgd.optimizers.MomentumOptimizer: parameters follow the reference over 5 "
             "updates of 4 layers (default hyperparameters)", "MomentumOptimizer.update", "update", "state"),
    Expected("dense_weight_grad_batched_wrong_layout", f"{DENSE}: weight gradients match the reference",
             "Dense.get_weight_gradients", "backward", "shape", says="the bug is in: Dense.get_weight_gradients"),
    Expected("dense_weight_grad_not_implemented", f"{DENSE}: weight gradients match finite differences",
             "Dense.get_weight_gradients", "backward", "not-implemented"),
    Expected("sigmoid_backward_never_returns", "beras.activations.Sigmoid: input gradient matches finite differences of "
             "its own forward", "Sigmoid.get_input_gradients", "backward", "timeout", options=SHORT_TIMEOUT),
    Expected("tanh_derivative_misspelt_attribute", "beras.activations.Tanh: input gradient matches the reference",
             "Tanh.get_input_gradients", "backward", "crash"),
]


def failed_tests(document):
    return [t for t in document["tests"] if t["status"] == "failed"]


def graded(expected, mutant_grading):
    status, document = mutant_grading(MUTANTS_BY_ID[expected.mutant], *expected.options)
    assert status == 1, f"{expected.mutant} passed every check"
    return document


def test_the_table_covers_every_mistake_of_spec():
    assert {e.mistake for e in TABLE} == set(MISTAKES)


@pytest.mark.parametrize("expected", TABLE, ids=str)
def test_a_mistake_is_named_with_its_method_and_blame(expected, mutant_grading):
    document = graded(expected, mutant_grading)
    by_name = {t["name"]: t for t in failed_tests(document)}
    assert expected.check in by_name, f"{expected.check!r} did not fail; failed: {sorted(by_name)}"
    test = by_name[expected.check]
    data = {key: test["extra_data"].get(key) for key in ("method", "blame", "mistake")}
    assert data == {"method": expected.method, "blame": expected.blame, "mistake": expected.mistake}
    if expected.says and test["visibility"] == "visible":
        assert expected.says in test["output"], test["output"][:1500]
    if test["visibility"] != "visible":  # a hidden check's data, not its diagnosis
        assert test["output"] == "Hidden check: only its name and result are shown."


@pytest.mark.parametrize("expected", TABLE, ids=str)
def test_other_bugs_do_not_get_that_mistake(expected, mutant_grading):
    """The bugs of the table's other kinds, graded, never show this kind's mistake."""
    named = {}
    for other in TABLE:
        if expected.mistake in (other.mistake, *other.also):
            continue
        for test in failed_tests(graded(other, mutant_grading)):
            if test["extra_data"].get("mistake") == expected.mistake:
                named.setdefault(other.mutant, []).append(test["name"])
    assert not named, f"bugs that are not {expected.mistake!r} named it: {named}"


def test_every_failed_test_has_data_in_the_vocabulary(mutant_grading):
    for expected in TABLE:
        for test in failed_tests(graded(expected, mutant_grading)):
            data = test["extra_data"]
            assert data.get("blame") in BLAMES, (expected.mutant, test["name"], data)
            assert data.get("mistake", "scale") in MISTAKES, (expected.mutant, test["name"], data)
            assert isinstance(data.get("method"), str) and "." in data["method"], (expected.mutant, test["name"], data)


def test_hidden_failed_tests_carry_extra_data(mutant_grading):
    document = graded(Expected("adam_without_bias_correction", "", "", "", ""), mutant_grading)
    hidden = [t for t in failed_tests(document) if t["visibility"] != "visible"]
    assert hidden
    for test in hidden:
        assert test["extra_data"]["method"] == "Adam.apply_gradients"
        assert test["extra_data"]["blame"] == "update"


def test_adam_without_bias_correction_is_a_constant_factor_not_a_square(mutant_grading):
    document = graded(Expected("adam_without_bias_correction", "", "", "", ""), mutant_grading)
    visible = [t for t in failed_tests(document) if t["visibility"] == "visible"]
    assert visible and all("square" not in t["output"] for t in visible)
    assert any("constant factor" in t["output"] for t in visible)


def test_correct_submissions_fail_nothing(tmp_path):
    for name, folder in [("reference", ROOT / "reference"), ("loops", variant_corpus.materialise("loops", tmp_path / "loops"))]:
        status, document = grade(folder, tmp_path / f"{name}.json")
        assert status == 0 and not failed_tests(document), name


def test_every_failure_of_the_zero_stub_has_a_blame(tmp_path):
    status, document = grade(materialise_zero_stub(tmp_path / "stub"), tmp_path / "results.json")
    failed = failed_tests(document)
    assert status == 1 and failed
    missing = [(t["name"], t["extra_data"]) for t in failed if t["extra_data"].get("blame") not in BLAMES]
    assert not missing
    assert {t["extra_data"]["blame"] for t in failed} >= {"forward", "backward", "update", "contract", "training"}


# ---------------------------------------------------------------- the recognisers themselves


def test_a_factor_two_is_a_square_only_where_the_forward_squares():
    e = np.random.default_rng(3).normal(size=(6, 4))
    plain = numerics.recognise(2 * e, e)
    assert [f.mistake for f in plain] == ["scale"] and "square" not in plain[0].text
    assert "square" in numerics.recognise(2 * e, e, square=True)[0].text
    # Near 2 but not 2 (Adam's missing bias correction at some step): never "a 2".
    assert "square" not in numerics.recognise(2.05 * e, e, square=True)[0].text


def test_a_single_number_shows_no_factor():
    assert numerics.mistake_of(numerics.recognise(np.array([3.0]), np.array([1.0]))) != "scale"


def test_wrong_entries_confined_to_a_region_are_named_by_it():
    e = np.random.default_rng(4).normal(size=(5, 5))
    region = np.zeros((5, 5), dtype=bool)
    region[2] = True
    a = e.copy()
    a[2, 1:3] *= 0.5
    found = numerics.recognise(a, e, regions={"on row 2": region})
    assert found[0].mistake == "entries" and "on row 2" in found[0].text
    a[0, 0] += 1.0  # a wrong entry outside the region: the region is not named
    assert all("row 2" not in f.text for f in numerics.recognise(a, e, regions={"on row 2": region}))


def test_the_failing_entry_is_listed_with_digits_that_show_it():
    """Mixed precision: large entries within tolerance, a small one that fails.
    The listed errors start with the failing entry, printed so that got and
    expected differ."""
    expected = np.full((5, 4), 100.0)
    expected[3, 1] = 1e-3
    actual = expected + 4e-5  # within rtol of the large entries
    actual[3, 1] = 1e-3 + 3e-6
    comparison = numerics.compare(actual, expected, np.float64)
    assert not comparison.passed and "1 of 20 entries differ (first at (3, 1))" in comparison.message
    assert comparison.worst[0].index == (3, 1)
    text = Diagnosis("x", worst=[(m.index, m.actual, m.expected) for m in comparison.worst]).as_text()
    line = next(line for line in text.splitlines() if line.strip().startswith("[3, 1]"))
    got, want = line.split(": ", 1)[1].split(" vs ")
    assert got != want


def test_a_diagnosis_refuses_words_outside_the_vocabulary():
    with pytest.raises(ValueError):
        Diagnosis("x", mistake="typo")
    with pytest.raises(ValueError):
        Diagnosis("x", blame="elsewhere")


def test_every_built_in_check_says_where_its_failures_lie():
    """A built-in check names its blame (`@check(blame=...)`): the default is for
    checks written outside the catalog."""
    import importlib
    import pkgutil

    import harness.catalog

    undeclared, seen = [], 0
    for info in pkgutil.iter_modules(harness.catalog.__path__):
        if not info.name.startswith("test_"):
            continue
        module = importlib.import_module(f"harness.catalog.{info.name}")
        for name, function in vars(module).items():
            for mark in getattr(function, "pytestmark", []):
                if mark.name == "check":
                    seen += 1
                    if mark.kwargs.get("blame") not in BLAMES:
                        undeclared.append(f"{info.name}.{name}")
    assert seen >= 60 and not undeclared
