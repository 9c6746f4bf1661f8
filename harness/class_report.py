"""index.html: the class report of a batch, for the instructor (SPEC 5, issue 9).

`python -m harness batch SUBMISSIONS_DIR --out OUTDIR` writes one folder per
submission, `OUTDIR/<id>/results.json` (and `report.html`); this module reads
them all and writes `OUTDIR/index.html`:

- the class size, how many were graded, timed out, crashed or were refused,
  and the mean and median score;
- a histogram of the scores (inline SVG; bins of a tenth of the max score);
- the pass rate of every check, worst first (a bar per check; hidden checks
  are counted too and say "hidden": the page is the instructor's);
- the most common diagnoses, grouped by the (method, blame, mistake) that
  each failed test carries in its `extra_data` (SPEC 5);
- the submissions that timed out, crashed or were refused, with the reason;
- every submission (id, score, status, failed checks), linked to its
  `<id>/report.html`, in pre-sorted views chosen with links (CSS `:target`).

Inputs: only the folders of OUTDIR that hold a `results.json` count (the
folder's name is the submission's id). A `results.json` that cannot be read,
is not JSON or is not a results document is a "crashed" row that says so.
The top-level `extra_data.status` is one of `STATUSES` (a document without
one is "refused" if `extra_data.refused` is set, else "graded"); the reason
shown for a row not graded is `extra_data.refused`, else `extra_data.reason`,
else the document's `output`.

Determinism: the page is a pure function of those files (and of which
folders hold a `report.html`, to link to): rows in order of id, no time, no
absolute path, no dict or set order, so the class report of merged shard
outputs equals a single batch's byte for byte.

Safety: ids (folder names), check names, methods and reasons may carry text a
student chose (a folder name, an exception message in `output`). Every string
passes through `harness.text.printable` when the context is built and again
when it is written (`report.environment`'s `finalize`), Jinja2 escapes it for
HTML, and links are percent-encoded relative paths. The page holds no script
and fetches nothing (the same Content-Security-Policy as report.html).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import pathlib
import statistics
import sys
import urllib.parse

from . import report, results
from .text import printable

INDEX = "index.html"
RESULTS = "results.json"
STUDENT_REPORT = "report.html"
TEMPLATE = "class-report.html.j2"
STATUSES = ("graded", "timeout", "crashed", "refused")
STATUS_WORDS = {"graded": "graded", "timeout": "timed out", "crashed": "crashed", "refused": "refused"}
HISTOGRAM_BINS = 10  # each a tenth of the max score; the last one includes full marks
WORST_CHECKS = 25  # pass-rate rows shown open; the others are one click away
TOP_DIAGNOSES = 30  # rows of the diagnosis table; the rest are counted in one line
REASON_CHARS = 600  # of a reason, at most (an `output` may be long)
MAX_RESULTS_FILE_BYTES = 8 * results.MAX_RESULTS_BYTES  # larger: not one the harness wrote
NOT_KNOWN = "—"  # a diagnosis field a failed test does not carry

# The histogram's drawing (SVG user units).
CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_BOTTOM, CHART_LEFT = 640, 220, 22, 40, 8
PASS_BAR_WIDTH = 220


@dataclasses.dataclass
class CheckResult:
    """One test of a results.json, as far as the class report reads it."""

    name: str
    passed: bool
    hidden: bool
    method: str = ""  # extra_data of a failed test (SPEC 5); "" when absent
    blame: str = ""
    mistake: str = ""


@dataclasses.dataclass
class Submission:
    """One row of the class report: a folder of OUTDIR with a results.json.

    `score` and `max_score` are points (None when the document has none);
    `reason`: why it was not graded (empty for a graded one); `has_report`:
    the folder holds a report.html to link to."""

    id: str
    status: str
    score: float | None = None
    max_score: float | None = None
    reason: str = ""
    checks: list[CheckResult] = dataclasses.field(default_factory=list)
    has_report: bool = False

    @property
    def failed(self):
        return sum(not check.passed for check in self.checks)


# ------------------------------------------------------------------ reading


def _number(value):
    """A finite float, or None (a bool, a string, NaN and the like are not scores)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _string(value):
    return value if isinstance(value, str) else ""


def _check(test):
    """A CheckResult from one entry of `tests`; ValueError if it is not a test."""
    if not isinstance(test, dict) or not isinstance(test.get("name"), str):
        raise ValueError("a test without a name")
    status = test.get("status")
    if status in (results.PASSED, results.FAILED):
        passed = status == results.PASSED
    else:  # Gradescope's rule when a test has no status: full marks pass
        score, max_score = _number(test.get("score")), _number(test.get("max_score"))
        passed = score is not None and max_score is not None and score >= max_score
    extra = test.get("extra_data") if isinstance(test.get("extra_data"), dict) else {}
    diagnosis = {} if passed else {key: _string(extra.get(key)) for key in ("method", "blame", "mistake")}
    return CheckResult(test["name"], passed, test.get("visibility", "visible") != "visible", **diagnosis)


def _from_document(submission_id, document):
    """The row of a parsed results.json; ValueError if it is not a results document."""
    if not isinstance(document, dict):
        raise ValueError(f"the document is a JSON {type(document).__name__}, not an object")
    tests = document.get("tests", [])
    if not isinstance(tests, list):
        raise ValueError("its tests are not a list")
    checks = [_check(test) for test in tests]
    extra = document.get("extra_data") if isinstance(document.get("extra_data"), dict) else {}
    status = extra.get("status")
    if not isinstance(status, str) or not status:
        status = "refused" if extra.get("refused") else "graded"
    score = _number(document.get("score"))
    if score is None and "score" in document:
        raise ValueError("its score is not a number")
    max_score = _number(extra.get("max_score"))
    if max_score is None and checks:
        max_score = sum(_number(test.get("max_score")) or 0.0 for test in tests)
    reason = ""
    if status != "graded":
        reason = next((text for text in (_string(extra.get("refused")), _string(extra.get("reason")),
                                         _string(document.get("output"))) if text.strip()), "")
        reason = reason.strip() or f"no reason given (status {status})"
    return Submission(submission_id, status, score, max_score, reason, checks)


def read_submission(folder):
    """The row of `folder` (a pathlib.Path holding a results.json): a
    "crashed" one whose reason says what is wrong with the file when it
    cannot be read or is not a results document. Never raises for a bad file."""
    path = folder / RESULTS
    try:
        if path.stat().st_size > MAX_RESULTS_FILE_BYTES:
            raise ValueError(f"the file is larger than {MAX_RESULTS_FILE_BYTES} bytes")
        submission = _from_document(folder.name, json.loads(path.read_bytes().decode("utf-8")))
    except UnicodeDecodeError as error:
        submission = Submission(folder.name, "crashed", reason=f"{RESULTS} is not UTF-8 text ({error.reason}).")
    except json.JSONDecodeError as error:
        submission = Submission(folder.name, "crashed", reason=f"{RESULTS} is not valid JSON: {error}.")
    except (ValueError, RecursionError) as error:
        submission = Submission(folder.name, "crashed", reason=f"{RESULTS} is not a results document: {error}.")
    except OSError as error:  # the message alone: no absolute path on the page
        submission = Submission(folder.name, "crashed", reason=f"{RESULTS} could not be read: {error.strerror}.")
    submission.has_report = (folder / STUDENT_REPORT).is_file()
    return submission


def read_submissions(outdir):
    """Every row of `outdir`, in order of id (the folders holding a results.json)."""
    folders = [entry for entry in pathlib.Path(outdir).iterdir() if entry.is_dir() and (entry / RESULTS).is_file()]
    return [read_submission(folder) for folder in sorted(folders, key=lambda folder: folder.name)]


# ------------------------------------------------------------------ context


def _text(value, limit=None):
    return printable(value, limit) if value else ""


def _points(value):
    return "" if value is None else f"{round(value, 2):g}"


def _percent(part, whole):
    return f"{100 * part / whole:.0f} %" if whole else ""


def _link(submission):
    """The relative link to a row's report.html, or "" when its folder has none."""
    if not submission.has_report:
        return ""
    return urllib.parse.quote(submission.id, safe="", errors="surrogateescape") + "/" + STUDENT_REPORT


def _class_max(submissions):
    """The class's max score: the commonest among the rows (the larger on a tie), None if none has one."""
    counts = collections.Counter(s.max_score for s in submissions if s.max_score)
    return max(counts, key=lambda value: (counts[value], value)) if counts else None


def _fraction(submission, class_max):
    """The row's score as a fraction of its own max score (else the class's); None without both."""
    whole = submission.max_score or class_max
    return None if submission.score is None or not whole else submission.score / whole


def histogram(submissions, class_max):
    """The score histogram: HISTOGRAM_BINS bins of a tenth of the max score
    (a row's own max score, else the class's), each {"low", "high" (percent),
    "count", ...drawing}; rows without a score are left out."""
    counts = [0] * HISTOGRAM_BINS
    for s in submissions:
        if _fraction(s, class_max) is None:
            continue
        counts[min(HISTOGRAM_BINS - 1, max(0, math.floor(HISTOGRAM_BINS * _fraction(s, class_max))))] += 1
    tallest = max(counts) or 1
    plot_height = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    width = (CHART_WIDTH - 2 * CHART_LEFT) / HISTOGRAM_BINS
    bins = []
    for index, count in enumerate(counts):
        low, high = 100 * index // HISTOGRAM_BINS, 100 * (index + 1) // HISTOGRAM_BINS
        height = round(plot_height * count / tallest, 1)
        points = f" ({_points(class_max * low / 100)}–{_points(class_max * high / 100)} points)" if class_max else ""
        span = f"from {low} % to {'under ' if index < HISTOGRAM_BINS - 1 else ''}{high} %"
        bins.append({
            "index": index, "count": count, "label": f"{low}–{high}",
            "title": f"{count} submission{'' if count == 1 else 's'} scored {span} of the max score{points}",
            "x": round(CHART_LEFT + index * width + 2, 1), "width": round(width - 4, 1),
            "y": round(CHART_TOP + plot_height - height, 1), "height": height,
            "label_x": round(CHART_LEFT + (index + 0.5) * width, 1),
        })
    return {"bins": bins, "width": CHART_WIDTH, "height": CHART_HEIGHT,
            "axis_y": CHART_HEIGHT - CHART_BOTTOM, "count_y": CHART_HEIGHT - CHART_BOTTOM + 16,
            "caption_y": CHART_HEIGHT - 6}


def pass_rates(submissions):
    """Every check any row ran: {"name", "hidden", "passed", "ran", "rate"
    (percent, 1 decimal), ...}, the lowest pass rate first (then in the order
    the checks first appear, which is the catalog's)."""
    tallies = {}
    for s in submissions:
        for check in s.checks:
            tally = tallies.setdefault(check.name, {"passed": 0, "ran": 0, "hidden": False, "order": len(tallies)})
            tally["passed"] += check.passed
            tally["ran"] += 1
            tally["hidden"] |= check.hidden
    rows = []
    for name, tally in sorted(tallies.items(), key=lambda item: (item[1]["passed"] / item[1]["ran"], item[1]["order"])):
        fraction = tally["passed"] / tally["ran"]
        rows.append({"name": _text(name, 300), "hidden": tally["hidden"], "passed": tally["passed"], "ran": tally["ran"],
                     "rate": f"{100 * fraction:.1f}", "bar": round(PASS_BAR_WIDTH * fraction, 1)})
    return rows


def diagnoses(submissions):
    """The failed tests grouped by (method, blame, mistake): {"method",
    "blame", "mistake", "failed" (tests), "submissions" (rows with one)},
    the commonest first; a field a test does not carry is NOT_KNOWN."""
    failed, rows = collections.Counter(), collections.defaultdict(set)
    for s in submissions:
        for check in s.checks:
            if not check.passed:
                key = (check.method, check.blame, check.mistake)
                failed[key] += 1
                rows[key].add(s.id)
    listed = []
    for key in sorted(failed, key=lambda key: (-failed[key], -len(rows[key]), key)):
        method, blame, mistake = key
        listed.append({"method": _text(method, 200) or NOT_KNOWN, "blame": _text(blame, 40) or NOT_KNOWN,
                       "mistake": _text(mistake, 40) or NOT_KNOWN, "failed": failed[key],
                       "submissions": len(rows[key])})
    return listed


def _row(s):
    return {"id": _text(s.id, 200), "link": _link(s), "status": _text(s.status, 40),
            "status_word": STATUS_WORDS.get(s.status, _text(s.status, 40)),
            "score": _points(s.score) if s.score is not None else NOT_KNOWN,
            "max_score": _points(s.max_score), "failed": s.failed if s.checks else NOT_KNOWN,
            "reason": _text(s.reason.strip(), REASON_CHARS)}


def _score_or_below(submission):
    """A sort key: the score, a row without one below every score."""
    return submission.score if submission.score is not None else -math.inf


def _status_rank(submission):
    """A sort key: timed out, crashed, refused, any other status, graded last."""
    rank = STATUSES.index(submission.status) if submission.status in STATUSES else len(STATUSES)
    return (rank == 0, rank)


# The submissions table's orders: (anchor, title, sort key); the first is the default view.
VIEWS = (
    ("by-id", "by id", lambda s: s.id),
    ("by-score-low", "lowest score first", lambda s: (_score_or_below(s), s.id)),
    ("by-score-high", "highest score first", lambda s: (-_score_or_below(s), s.id)),
    ("by-failed", "most failed checks first", lambda s: (-s.failed, s.id)),
    ("by-status", "not graded first", lambda s: (_status_rank(s), s.id)),
)


def _views(submissions):
    """The submissions table, pre-sorted in each order of VIEWS (the page
    shows one, picked by a link; no script)."""
    orders = VIEWS
    return [{"anchor": anchor, "title": title, "default": index == 0,
             "rows": [_row(s) for s in sorted(submissions, key=key)]}
            for index, (anchor, title, key) in enumerate(orders)]


def build_context(submissions):
    """The template's data for `submissions` (rows in order of id), every string printable."""
    class_max = _class_max(submissions)
    scores = [s.score for s in submissions if s.score is not None]
    # Percentages of each row's own max score: a class may mix one-assignment and two-assignment submissions.
    fractions = [f for f in (_fraction(s, class_max) for s in submissions) if f is not None]
    by_status = collections.Counter(s.status for s in submissions)
    status_counts = [{"status": status, "word": STATUS_WORDS[status], "count": by_status[status]}
                     for status in STATUSES if by_status[status]]
    status_counts += [{"status": _text(status, 40), "word": _text(status, 40), "count": by_status[status]}
                      for status in sorted(by_status) if status not in STATUSES]
    maxima = sorted({s.max_score for s in submissions if s.max_score})
    notes = []
    if len(maxima) > 1:
        notes.append("The max score differs between submissions (" + ", ".join(map(_points, maxima)) +
                     " points, by the assignments each holds): the histogram places each by its own max score.")
    if len(scores) < len(submissions):
        missing = len(submissions) - len(scores)
        notes.append(f"{missing} submission{' has' if missing == 1 else 's have'} no score "
                     "(an unreadable results.json): the statistics leave "
                     f"{'it' if missing == 1 else 'them'} out.")
    all_diagnoses = diagnoses(submissions)
    problems = [_row(s) for s in submissions if s.status != "graded"]
    rates = pass_rates(submissions)
    return {
        "title": "gradecheck class report",
        "size": len(submissions),
        "status_counts": status_counts,
        "scored": len(scores),
        "class_max": _points(class_max),
        "mean": _points(statistics.fmean(scores)) if scores else NOT_KNOWN,
        "median": _points(statistics.median(scores)) if scores else NOT_KNOWN,
        "mean_percent": _percent(statistics.fmean(fractions), 1) if fractions else "",
        "median_percent": _percent(statistics.median(fractions), 1) if fractions else "",
        "notes": notes,
        "histogram": histogram(submissions, class_max),
        "pass_rates": rates,
        "hidden_checks": sum(rate["hidden"] for rate in rates),
        "pass_bar_width": PASS_BAR_WIDTH,
        "worst_checks": WORST_CHECKS,
        "diagnoses": all_diagnoses[:TOP_DIAGNOSES],
        "more_diagnoses": len(all_diagnoses) - min(len(all_diagnoses), TOP_DIAGNOSES),
        "failed_tests": sum(s.failed for s in submissions),
        "problems": problems,
        "views": _views(submissions),
        "footer": "Written by gradecheck from the results.json of each submission folder. "
                  "Hidden checks are counted here (this page is for the instructor, not for students).",
    }


def render(submissions):
    """The class report page (HTML text) of `submissions`."""
    return report.environment().get_template(TEMPLATE).render(build_context(submissions))


def write_class_report(outdir: pathlib.Path) -> pathlib.Path:
    """Read every `outdir/<id>/results.json`, write `outdir/index.html`
    (atomically) and return its path. Raises FileNotFoundError or
    NotADirectoryError if `outdir` is not a folder; a bad results.json is a
    row of the report, never an error."""
    outdir = pathlib.Path(outdir)
    page = render(read_submissions(outdir))
    path = outdir / INDEX
    results.write_atomically(path, page)
    return path


def main(argv=None):
    """`python -m harness.class_report OUTDIR`: (re)write OUTDIR/index.html. Exit 0, or 2 with the reason."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python -m harness.class_report OUTDIR\n"
              "Writes OUTDIR/index.html, the class report of OUTDIR/<id>/results.json.", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    try:
        path = write_class_report(pathlib.Path(argv[0]))
    except OSError as error:
        print(f"class report not written: {argv[0]}: {error.strerror or error}", file=sys.stderr)
        return 2
    print(f"class report written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
