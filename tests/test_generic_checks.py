"""The generic checks of every differentiable class (harness/catalog/test_differentiable.py)
on correct variants, a half-precision one, single bugs and a zero stub.

Each grading runs the generic checks alone (`-k test_differentiable`) in a
subprocess, on a given run seed (hidden checks mix it in).
"""

import json
import subprocess
import sys

import pytest
from generic_variants import BUGS, HALF, HALF_TARGETS, VARIANTS, materialise
from stubs import materialise_zero_stub

SEEDS = (1, 2, 3)

_RUN = """
import json, sys
from harness.grading import run_checks
outcomes, _ = run_checks(sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), keyword=sys.argv[4])
print(json.dumps([[o.name, o.passed, o.max_score, o.output] for o in outcomes]))
"""


def generic_checks(folder, seed, assignments=("beras", "bgd"), keyword="test_differentiable"):
    """{check name: (passed, points, output)} of the generic checks (or those `keyword` selects) on `folder`."""
    run = subprocess.run(
        [sys.executable, "-c", _RUN, str(folder), ",".join(assignments), str(seed), keyword],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return {name: (passed, points, output) for name, passed, points, output in json.loads(run.stdout.splitlines()[-1])}


def failures(results):
    return {name: output for name, (passed, _, output) in results.items() if not passed}


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.id)
def test_correct_variant_gets_full_marks_on_every_seed(variant, tmp_path):
    folder = materialise(variant, tmp_path / "submission")
    for seed in SEEDS:
        failed = failures(generic_checks(folder, seed))
        assert not failed, f"{variant.id} ({variant.description}), seed {seed}: " + "\n\n".join(
            f"{name}\n{output[:1200]}" for name, output in failed.items()
        )


def test_half_precision_is_named_plainly(tmp_path):
    folder = materialise(HALF, tmp_path / "submission")
    results = generic_checks(folder, 1, keyword="test_differentiable or test_beras_in_tape")
    failed = failures(results)
    for target in HALF_TARGETS:
        mine = {name: output for name, output in failed.items() if name.startswith(target + ": ")}
        assert mine, f"{target} computes in float16 and lost nothing"
        for name, output in mine.items():
            assert "half precision (float16): SPEC asks for float32 or float64" in output.splitlines()[0], (name, output)
    strays = [name for name in failed if not name.startswith(HALF_TARGETS)]
    assert not strays, strays


def _title(name, target):
    return name[len(target) + 2:]


@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.id)
def test_bug_costs_only_the_checks_that_judge_it(bug, tmp_path):
    """Caught by the named checks of its own class on every seed; no check of
    another class, nor those of `must_pass`, pays for it."""
    folder = materialise(bug, tmp_path / "submission")
    assignment = bug.target.split(".")[0]
    for seed in SEEDS if "extreme" in " ".join(bug.must_fail) else SEEDS[:1]:
        results = generic_checks(folder, seed, (assignment,))
        failed = failures(results)
        titles = {_title(name, bug.target) for name in failed if name.startswith(bug.target + ": ")}
        others = [name for name in failed if not name.startswith(bug.target + ": ")]
        assert not others, f"{bug.id}, seed {seed}: charged to other classes: {others}"
        missed = [title for title in bug.must_fail if title not in titles]
        assert not missed, f"{bug.id} ({bug.description}), seed {seed}: not caught by {missed}; failed: {sorted(titles)}"
        spilled = {title: failed[f"{bug.target}: {title}"][:600] for title in bug.must_pass if title in titles}
        assert not spilled, f"{bug.id}, seed {seed}: also failed {spilled}"
        for title in bug.must_pass:
            assert f"{bug.target}: {title}" in results, f"no check named {bug.target}: {title}"


def test_zero_stub_earns_nothing_from_the_generic_checks(tmp_path):
    """Zeros of the right shape everywhere: no forward, no gradient, and no
    "inputs untouched" point for code that computes nothing."""
    folder = materialise_zero_stub(tmp_path / "stub")
    results = generic_checks(folder, 1)
    paid = {name: points for name, (passed, points, _) in results.items() if passed}
    assert not paid, paid
    assert len(results) > 50


def test_forward_shape_is_the_forward_checks_business(tmp_path):
    """A loss returning (1,): the gradient checks still judge the gradient
    (no internal error about the cotangent's shape)."""
    bug = next(b for b in BUGS if b.id == "mse_returns_shape_1")
    results = generic_checks(materialise(bug, tmp_path / "submission"), 1, ("beras",))
    for name, (_passed, _, output) in results.items():
        assert "cotangent" not in output and "could not run" not in output, (name, output)
