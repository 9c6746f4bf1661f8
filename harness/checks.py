"""What a check author uses: the `check` marker and failures that explain.

A check is an ordinary pytest function in `harness/catalog/`:

    from harness.checks import check, expect_close

    @check("beras.layers.Dense", "output has one row per sample", points=1)
    def test_dense_rows(student, rng):
        x = rng.normal(size=(5, 3))
        out = student.call(student.new("beras.layers.Dense", 3, 2), x)
        expect_close(out.shape[0], 5, what="Dense.call output rows")

Fixtures (see `harness/plugin.py`): `student` (the submission, in the
sandbox), `reference` (the expected values: the reference engine, in its own
sandbox), `rng` (a numpy Generator seeded for this check and this run) and
`seed`. `target` may use `{name}` fields filled from the check's pytest
parameters, so one function can check several classes.
"""

import dataclasses

import numpy as np
import pytest

from . import numerics
from .vocabulary import BLAMES, MISTAKES

PUBLIC, HIDDEN = "public", "hidden"
# A tag for a check that judges a class among others (inside a tape, between
# probes): reports list it after the class's own checks, whose failures say more.
INTEGRATION = "integration"


def check(target, title, points=1, visibility=PUBLIC, tags=(), clause="", blame=None):
    """Mark a test function as a graded check named "`target`: `title`".

    `clause`: what the check enforces, as a SPEC section and its words (every
    built-in check cites one; docs/judge.md lists them, `python -m harness.clauses`).
    `blame`: where a failure of this check puts the fault unless its diagnosis
    says better (SPEC 5, `harness.vocabulary.BLAMES`): "forward" for a forward
    compared with the reference, "backward" for gradients, "update" for
    optimizer and update_parameters steps, "contract" for types, shapes, flags,
    in-place rules and tape bookkeeping, "training" for what only end to end
    shows. Every built-in check gives one; a check without it is "contract".
    """
    if visibility not in (PUBLIC, HIDDEN):
        raise ValueError(f"visibility must be {PUBLIC!r} or {HIDDEN!r}, not {visibility!r}")
    if blame is not None and blame not in BLAMES:
        raise ValueError(f"blame must be one of {BLAMES}, not {blame!r}")
    return pytest.mark.check(
        target=target, title=title, points=points, visibility=visibility, tags=tuple(tags), clause=clause, blame=blame
    )


@dataclasses.dataclass
class Diagnosis:
    """What went wrong in a failed check, for the console and the reports."""

    summary: str  # one line: what differs, where
    method: str = ""  # "Dense.call", the student method at fault
    worst: list = dataclasses.field(default_factory=list)  # [(index, got, expected)]
    hints: list = dataclasses.field(default_factory=list)  # recognised mistakes
    culprit: str = ""  # the bug's place, for the student: "Dense.call (the forward)", when two witnesses tell
    # SPEC 5's diagnosis as data (harness.vocabulary): where the fault lies, when
    # this failure tells better than its check's default blame, and the kind of
    # mistake recognised ("" when none is).
    blame: str = ""
    mistake: str = ""
    snippet: str = ""  # Python that reproduces the case
    case: str = ""  # which input case failed
    traceback: str = ""  # the student's frames, when their code raised
    printed: str = ""  # what the student's code printed during the check (its end, trimmed)
    # Where the compared arrays differ, for report.html's heatmap
    # (`numerics.error_map`: at most 200 values in [0, 1], 0 = right), and the
    # shape of the arrays, to say which entries each cell covers. None when no
    # two arrays of one shape were compared.
    error_map: list | None = None
    error_shape: list | None = None
    # `check` writes a failing case's reproducer to a file (harness/reproducers.py):
    # the command that runs it, in place of the inline snippet.
    reproducer: str = ""
    # A check that ran several cases: the failing ones after the first, one line
    # each: [{"case", "summary", "reproducer"}].
    other_cases: list = dataclasses.field(default_factory=list)

    def __post_init__(self):
        if self.blame not in ("", *BLAMES):
            raise ValueError(f"blame must be one of {BLAMES}, not {self.blame!r}")
        if self.mistake not in ("", *MISTAKES):
            raise ValueError(f"mistake must be one of {MISTAKES}, not {self.mistake!r}")

    def as_text(self):
        lines = [self.summary]
        if self.case:
            lines.append(f"  case: {self.case}")
        if self.worst:
            lines.append("  largest errors (index: got vs expected):")
            lines += [f"    {list(index)}: {' vs '.join(numerics.distinct_texts(got, expected))}"
                      for index, got, expected in self.worst]
        lines += [f"  hint: {hint}" for hint in self.hints]
        if self.traceback:
            lines.append("  traceback (your code):")
            lines += ["    " + line for line in self.traceback.rstrip().splitlines()[-12:]]
        if self.printed:
            lines.append("  your code printed:")
            lines += ["    " + line for line in self.printed.rstrip().splitlines()]
        if self.culprit:
            lines.append(f"  the bug is in: {self.culprit}")
        if self.reproducer:
            lines.append(f"  reproduce: {self.reproducer}")
        elif self.snippet:
            lines.append("  reproduce with:")
            lines += ["    " + line for line in self.snippet.splitlines()]
        if self.other_cases:
            lines.append(f"  the other failing cases ({len(self.other_cases)}):")
            for other in self.other_cases:
                lines.append(f"    {other.get('case', '')}: {other.get('summary', '')}")
                if other.get("reproducer"):
                    lines.append(f"      reproduce: {other['reproducer']}")
        return "\n".join(lines)


class CheckFailure(AssertionError):
    """A check failed; carries a Diagnosis."""

    def __init__(self, diagnosis):
        super().__init__(diagnosis.as_text())
        self.diagnosis = diagnosis


_replay = None  # the running check's fallback snippet (see replay_with)


def replay_with(snippet):
    """Let failures of the running check that bring no snippet of their own
    carry `snippet()`: e.g. the Python that replays the student's request."""
    global _replay
    _replay = snippet


def fallback_snippet():
    """The snippet registered by the running check, or ""; the plugin resets it per check."""
    try:
        return _replay() if _replay is not None else ""
    except Exception:  # explaining must never break the report
        return ""


def fail(summary, **details):
    raise CheckFailure(Diagnosis(summary=summary, **details))


def expect_close(actual, expected, what, dtype=None, batch_size=None, candidates=None, *, rtol=None, floor=0.0,
                 mask=None, hints=(), square=False, regions=None, **details):
    """Fail unless `actual` matches `expected` within the dtype's tolerance
    (`numerics.compare`: `rtol`, `floor`), on the entries of `mask` only (the
    others are set to 0 on both sides). The failure lists the largest errors,
    the recognised mistakes (`numerics.recognise`: `batch_size`, `candidates`,
    `square`, `regions`) and `hints` of the caller's own; its `mistake` is the
    caller's (`details`) or else the first recognised one's kind."""
    if mask is not None and numerics.as_numeric(actual) is not None and np.shape(actual) == np.shape(expected):
        actual = np.where(mask, numerics.as_numeric(actual), 0.0)
        expected = np.where(mask, np.asarray(expected, dtype=np.float64), 0.0)
    comparison = numerics.compare(actual, expected, dtype=dtype, rtol=rtol, floor=floor)
    if comparison.passed:
        return comparison
    worst = [(m.index, m.actual, m.expected) for m in comparison.worst]
    found = numerics.recognise(actual, expected, batch_size=batch_size, candidates=candidates, square=square,
                               regions=regions)
    if not details.get("mistake"):
        details["mistake"] = numerics.mistake_of(found)
    fail(f"{what}: {comparison.message}", worst=worst, hints=[f.text for f in found] + [h for h in hints if h],
         **located(comparison), **details)


def located(comparison):
    """The fields of a Diagnosis that say where a failed `numerics.compare`
    differs: its error map and the shape it covers (none for a shape or type mismatch)."""
    if comparison.error_map is None:
        return {}
    return {"error_map": comparison.error_map, "error_shape": list(comparison.shape)}


def floating_dtype(*arrays):
    """The precision the student computes in, judged from what they returned."""
    return numerics.precision(*[np.asarray(a) for a in arrays if a is not None])
