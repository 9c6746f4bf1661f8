"""A fair judge gives full marks to every correct submission.

`tests/variants/<name>/` holds correct submissions written from SPEC.md
alone, each in its own style and making its own choices where SPEC leaves
room (see tests/variants/README.md). Each is graded by a real
`python -m harness grade` on three seeds, fixed here and different for every
variant, and must score full marks with exit status 0.
"""

import json
import subprocess
import sys

import pytest
import variant_corpus
from variant_corpus import ROOT, seeds_of

SEEDS_PER_VARIANT = 3
OUTPUT_CHARS = 400
variant_names = variant_corpus.names


def grade(submission, results, seed):
    """Run the judge as an autograder does; return (exit status, results.json or None, stdout + stderr)."""
    run = subprocess.run(
        [sys.executable, "-m", "harness", "grade", str(submission), "--results", str(results), "--seed", str(seed)],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )
    document = json.loads(results.read_text()) if results.exists() else None
    return run.returncode, document, run.stdout + run.stderr


def failures_of(document, chars=OUTPUT_CHARS):
    """[(check name, the first `chars` characters of its output)] of every failed check."""
    return [(t["name"], (t.get("output") or "")[:chars]) for t in document["tests"] if t.get("status") != "passed"]


def describe(failures):
    return "\n".join(f"- {name}\n    " + output.replace("\n", "\n    ") for name, output in failures)


@pytest.mark.parametrize(
    "name, seed", [pytest.param(n, s, id=f"{n}-seed{s}") for n in variant_names() for s in seeds_of(n, SEEDS_PER_VARIANT)]
)
def test_correct_variant_scores_full_marks(name, seed, tmp_path):
    submission = variant_corpus.materialise(name, tmp_path / name)
    status, document, log = grade(submission, tmp_path / "results.json", seed)
    assert document is not None, f"{name}, seed {seed}: no results.json (exit {status})\n{log[-2000:]}"
    failures = failures_of(document)
    max_score = document.get("extra_data", {}).get("max_score")
    assert status == 0 and not failures and document["score"] == max_score, (
        f"{name} (a correct submission), seed {seed}: exit {status}, score {document['score']} of {max_score}; "
        f"{len(failures)} failed check(s):\n{describe(failures)}"
    )


def test_there_are_enough_variants():
    names = variant_names()
    assert len(names) >= 12, names
    assert len({s for n in names for s in seeds_of(n, SEEDS_PER_VARIANT)}) == SEEDS_PER_VARIANT * len(names)
