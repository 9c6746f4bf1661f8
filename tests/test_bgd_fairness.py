"""The bgd checks are fair (issue 6): correct work keeps full marks whatever
choice SPEC leaves open, and doing nothing earns nothing.

- Correct variants (tests/bgd_variants.py), each making an open choice the
  reference does not: layers keeping no current_input / current_output,
  Dropout left on in NeuralStack.eval, train returning a list of per-epoch
  losses, train without shuffling nor turning the first layer's propagation
  off, layers overriding update_parameters, optimizer state keyed by layer,
  float32 storage: full marks on three run seeds.
- A submission whose every method returns zeros of the right shape (or does
  nothing) earns no point from the bgd API checks.
- The in-sandbox probes and scenarios import nothing of the harness nor of
  the reference (no solution may enter a student's sandbox).

- One bug per kind (tests/bgd_variants.py KIND_BUGS: an update that adds or
  rebinds, state kept between calls, a forward returning its mutated input,
  the same dropout mask every run, optimizer state shared between layers or
  bypassing update_parameters, train faking its losses or shuffling the
  caller's arrays): caught by a check of the class that has it, and by no
  check of another class. The same is asserted for the whole mutant catalog
  in tests/test_judge_mutants.py.
"""


import autograde
import pytest
from bgd_variants import CORRECT_VARIANTS, KIND_BUGS, materialise_variant
from mutants import materialise
from stubs import materialise_zero_stub

SEEDS = (1, 2, 3)


def grade(folder, results, seed=None):
    return autograde.grade(folder, results, "--assignment", "bgd", *autograde.seed_option(seed))[1]


@pytest.mark.parametrize("variant", [*CORRECT_VARIANTS, "float32"])
def test_a_correct_variant_keeps_full_marks_on_every_seed(variant, tmp_path):
    folder = materialise_variant(variant, tmp_path / "submission")
    for seed in SEEDS:
        document = grade(folder, tmp_path / f"results-{seed}.json", seed)
        failed = [(t["name"], t["output"][:600]) for t in document["tests"] if t["status"] != "passed"]
        assert not failed, f"seed {seed}"
        assert document["score"] == document["extra_data"]["max_score"] > 0


@pytest.mark.parametrize("bug", KIND_BUGS, ids=lambda m: m.id)
def test_a_bug_costs_points_in_its_own_class_only(bug, tmp_path):
    folder = materialise(bug, tmp_path / "submission")
    document = grade(folder, tmp_path / "results.json", seed=1)
    failed = [t["name"] for t in document["tests"] if t["status"] == "failed"]
    assert any(name.startswith(bug.target + ": ") for name in failed), f"{bug.description}: not caught; failed: {failed}"
    assert all(name.startswith(bug.target + ": ") for name in failed), f"{bug.description}: other classes charged: {failed}"


def test_a_submission_returning_zeros_earns_no_bgd_point(tmp_path):
    folder = materialise_zero_stub(tmp_path / "submission")  # the one stub of tests/stubs.py, both packages
    document = grade(folder, tmp_path / "results.json")
    earned = [t["name"] for t in document["tests"] if t["score"] > 0]
    assert not earned
