"""report.html: one submission's checks, for the student who wrote it (SPEC 5).

`grade --html` and `check --html` write it from the same `CheckOutcome`s that
results.json is built from. `build_context` turns the outcomes into plain data
for the templates in the top-level `reports` package (`report.html.j2`,
`fragment.html.j2`, `report.css`, loaded with `importlib.resources`, so an
installed wheel works as this folder does); `render` and `write_report`
render them with Jinja2.

The page: the score, what to fix first (the first failure of each class), a
section per class in catalog order (the class is the part of a check's name
before ": ") listing its checks, and for each failed check the method at
fault, the diagnosis (summary, case, hints, where the bug is), the largest
errors as a table, a heatmap of where the compared arrays differ (inline
SVG, from `Diagnosis.error_map`), what the student's code printed, its
traceback (trimmed) and the snippet that reproduces the failure.

Privacy (SPEC 5): a hidden check (any visibility but "public") shows its
name only, and its result once `published`; nothing of its output, details,
points or score is even read into the context. Scores, counts and the notes
cover the public checks alone, so the page reveals neither the hidden score
nor how many hidden checks failed. Before publication (`grade` writes the
page then) a hidden check's result is "result after the deadline": listing
the results would let anyone count the hidden failures.

Safety: every string of an outcome may be the student's (exception messages,
printed text, class names in a traceback). Each passes through
`harness.text.printable` when the context is built and again as it is
rendered (the environment's `finalize`), and Jinja2 escapes it for HTML
(autoescape). The page holds no script and refers to nothing outside itself
(a Content-Security-Policy forbids fetching anything), so it reads offline.
"""

import functools
import importlib.resources
import math
import pathlib

from . import numerics, results
from .checks import PUBLIC
from .text import printable

TEMPLATES = "reports"  # the package holding the templates
TRACEBACK_LINES = 15  # of a traceback, the last ones: the student's frames nearest the error
WORST_ROWS = 5
HEATMAP_PIXELS = 320  # the heatmap's longer side, about
RIGHT_FILL = "#eef2f5"  # an entry within tolerance
# Wrong entries: from light orange (barely off) to dark red (sign flipped, a
# wrong zero, NaN): a colour scale readers take as "worse" without a key.
WRONG_LOW, WRONG_HIGH = (253, 212, 158), (179, 0, 0)


def _load(name):
    """A template's source, from the installed `reports` package."""
    return importlib.resources.files(TEMPLATES).joinpath(name).read_text(encoding="utf-8")


def _finalize(value):
    """Applied to every value a template writes: strings once more through
    `printable` (whatever path they took into the context); None as ""."""
    if value is None:
        return ""
    return printable(value) if isinstance(value, str) else value


@functools.lru_cache(maxsize=1)
def environment():
    """The Jinja2 environment: autoescape always on (every template is HTML),
    undefined names an error (a template typo must not blank a section).
    Jinja2 is imported here, when a page is written: a grading run without
    --html does not pay its ~30 ms."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FunctionLoader(_load),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(outcomes, *, fragment=False, **options):
    """The report page of `outcomes` (see `build_context` for `options`);
    `fragment`: the body alone, to embed in another page."""
    template = environment().get_template("fragment.html.j2" if fragment else "report.html.j2")
    return template.render(build_context(outcomes, **options))


def write_report(path, outcomes, **options):
    """Write the report page of `outcomes` to `path` (atomically)."""
    results.write_atomically(path, render(outcomes, **options))


# ------------------------------------------------------------------ context


def _text(value, limit=None):
    """Student-influenced text, made printable ("" for None)."""
    if value is None:
        return ""
    return printable(value if isinstance(value, str) else str(value), limit)


def _points(value):
    return f"{float(value):g}"


def build_context(outcomes, *, command="grade", submission="", seed=None, elapsed=None, note="", published=False,
                  refused="", selection=""):
    """The template's data, every string in it printable.

    `command`: "grade" (every check) or "check" (the public checks the
    student ran); `submission`: the folder graded (its name is shown);
    `seed`: the run's seed; `elapsed`: seconds; `note`: e.g. the time
    budget's (`timing.budget_note`, which counts public checks only);
    `published`: hidden checks show their result (never more); `refused`:
    why the submission could not be graded at all; `selection`: the `-k`
    expression that chose the checks.
    """
    public = [o for o in outcomes if o.visibility == PUBLIC]
    score, max_score = results.total(public)
    passed = sum(o.passed for o in public)
    scope = "public" if command == "check" else "visible"
    classes = _classes(outcomes, published)
    name = pathlib.Path(submission).name if submission else ""
    subtitle = [f"submission folder {name}" if name else "", f"run seed {seed}" if seed is not None else "",
                f"{elapsed:.1f} s" if elapsed is not None else ""]
    notes = []
    hidden = len(outcomes) - len(public)
    if hidden:
        notes.append(
            "Hidden checks are listed by name"
            + (" with their result; their details stay hidden." if published
               else ": their results are shown after the deadline.")
            + " The score above counts the visible checks only."
        )
    if selection:
        notes.append(f"Only the checks matching -k “{selection}” were run.")
    if note:
        notes.append(note)
    return {
        "title": _text(f"gradecheck report{': ' + name if name else ''}"),
        "heading": "gradecheck: your checks" if command == "check" else "gradecheck: grading report",
        "subtitle": _text(" · ".join(part for part in subtitle if part)),
        "refused": _text(refused),
        "score": _points(score),
        "max_score": _points(max_score),
        "passed": passed,
        "total": len(public),
        "all_passed": passed == len(public),
        "scope": scope,
        "notes": [_text(line) for line in notes],
        "to_fix": _to_fix(classes),
        "classes": classes,
        "footer": "Written by gradecheck. Hover over a heatmap cell to see which entries it covers.",
    }


def _split_name(outcome):
    """(class, title): the test name's part before ": " and after it."""
    cls, separator, title = outcome.name.partition(": ")
    return (cls, title) if separator else (outcome.target, outcome.name)


def _classes(outcomes, published):
    """One entry per class, in the order the catalog first checks it."""
    classes = {}
    for outcome in outcomes:
        cls, title = _split_name(outcome)
        if cls not in classes:
            classes[cls] = {"name": _text(cls), "anchor": f"class-{len(classes) + 1}", "checks": [], "public": []}
        entry = classes[cls]
        anchor = f"{entry['anchor']}-check-{len(entry['checks']) + 1}"
        entry["checks"].append(_check(outcome, _text(title), anchor, published))
        if outcome.visibility == PUBLIC:
            entry["public"].append(outcome)
    listed = []
    for entry in classes.values():
        public = entry.pop("public")
        score, max_score = results.total(public)
        passed = sum(o.passed for o in public)
        entry.update(passed=passed, total=len(public), score=_points(score), max_score=_points(max_score),
                     all_passed=passed == len(public))
        listed.append(entry)
    return listed


def _check(outcome, title, anchor, published):
    """One row of a class's table, with its failure's details if it is public."""
    if outcome.visibility != PUBLIC:
        # Name and (once published) result: nothing else of a hidden check is read.
        if published:
            state, mark, result = ("passed", "✓", "passed") if outcome.passed else ("failed", "✗", "failed")
        else:
            state, mark, result = "hidden", "•", "result after the deadline"
        return {"title": title, "anchor": anchor, "hidden": True, "state": state, "mark": mark, "result": result,
                "points": "", "failure": None}
    row = {"title": title, "anchor": anchor, "hidden": False, "points": f"{_points(outcome.score)} / {_points(outcome.max_score)}"}
    if outcome.passed:
        return {**row, "state": "passed", "mark": "✓", "result": "passed", "failure": None}
    return {**row, "state": "failed", "mark": "✗", "result": "failed", "failure": _failure(outcome)}


def _failure(outcome):
    """What a failed public check's page section shows, from its diagnosis."""
    details = outcome.details or {}
    if not details.get("summary"):
        # No diagnosis (the check itself could not run, or was skipped): its text is all there is.
        lines = _text(outcome.output).strip().splitlines() or ["failed"]
        return _failure_fields(summary=lines[0], text="\n".join(lines[1:]))
    traceback = _text(details.get("traceback")).rstrip().splitlines()
    worst = _worst(details.get("worst"))
    return _failure_fields(
        summary=_without_method(_text(details.get("summary")), _text(details.get("method"))),
        method=_text(details.get("method")),
        case=_text(details.get("case")),
        hints=[_text(hint) for hint in details.get("hints") or [] if hint],
        culprit=_text(details.get("culprit")),
        worst=worst,
        worst_caption="Largest errors" if len(worst) > 1 else "Largest error",
        heatmap=heatmap(details.get("error_map"), details.get("error_shape")),
        printed=_text(details.get("printed")).rstrip(),
        traceback="\n".join(traceback[-TRACEBACK_LINES:]),
        traceback_cut=len(traceback) > TRACEBACK_LINES,
        snippet=_text(details.get("snippet")).rstrip(),
        reproducer=_text(details.get("reproducer")),
        other_cases=[{"case": _text(other.get("case")), "summary": _text(other.get("summary")),
                      "reproducer": _text(other.get("reproducer"))}
                     for other in details.get("other_cases") or [] if isinstance(other, dict)],
    )


def _failure_fields(**fields):
    """Every field the template reads of a failure: `fields`, the others empty."""
    base = {"summary": "", "method": "", "case": "", "hints": [], "culprit": "", "worst": [], "worst_caption": "",
            "heatmap": None, "printed": "", "traceback": "", "traceback_cut": False, "snippet": "", "text": "",
            "reproducer": "", "other_cases": []}
    return {**base, **fields}


def _number(value):
    """`value` written for a reader (6 significant digits), whatever it is."""
    try:
        return f"{float(value):.6g}"
    except (TypeError, ValueError, OverflowError):
        return _text(value, 40)


def _worst(rows):
    """The largest errors as table rows: index, got, expected, difference."""
    table = []
    for row in (rows or [])[:WORST_ROWS]:
        try:
            index, got, expected = row
        except (TypeError, ValueError):
            continue
        try:
            where = "[" + ", ".join(str(int(i)) for i in index) + "]"
            difference = _number(abs(float(got) - float(expected)))
        except (TypeError, ValueError, OverflowError):
            where, difference = _text(index, 40), ""
        try:  # as many digits as it takes to tell them apart (a failing entry never reads "equal")
            got_text, expected_text = numerics.distinct_texts(got, expected)
        except (TypeError, ValueError, OverflowError):
            got_text, expected_text = _number(got), _number(expected)
        table.append({"index": where, "got": got_text, "expected": expected_text, "difference": difference})
    return table


# ------------------------------------------------------------------ heatmap


def _fill(value):
    """A cell's colour: grey for right (0), light orange to dark red from 0.01 to 1."""
    if value <= 0:
        return RIGHT_FILL
    t = min(1.0, value)
    rgb = (round(low + (high - low) * t) for low, high in zip(WRONG_LOW, WRONG_HIGH))
    return "#" + "".join(f"{channel:02x}" for channel in rgb)


def _cells(error_map):
    """The map as a rectangular list of floats in [0, 1], or None if it is not one."""
    if not isinstance(error_map, (list, tuple)) or not error_map:
        return None
    rows = []
    for row in error_map:
        if not isinstance(row, (list, tuple)) or len(row) != len(error_map[0]) or not row:
            return None
        try:
            rows.append([min(1.0, max(0.0, float(v))) if math.isfinite(float(v)) else 1.0 for v in row])
        except (TypeError, ValueError, OverflowError):
            return None
    if len(rows) * len(rows[0]) > numerics.ERROR_MAP_CELLS:
        return None
    return rows


def _ranges(count, cells):
    """Entry ranges ("3" or "4–7") that each of `cells` cells covers, when `count` entries are known."""
    if count is None:
        return [str(i) for i in range(cells)]
    return [f"{a}" if b - a == 1 else f"{a}–{b - 1}" for a, b in numerics.map_blocks(count, cells)]


def heatmap(error_map, shape=None):
    """The heatmap of a failure's `error_map` (see `numerics.error_map`), as
    data for the template's inline SVG; None when there is none to draw.
    `shape`, the compared arrays' shape, names the entries of each cell."""
    cells = _cells(error_map)
    if cells is None:
        return None
    n_rows, n_cols = len(cells), len(cells[0])
    rows = cols = None
    layout = "rows and columns of the array"
    try:
        shape = [int(n) for n in shape]
        rows, cols = numerics.as_2d_shape(shape)
        if len(shape) >= 3:
            layout = f"one row per index of its first axis, the other {len(shape) - 1} axes flattened into the columns"
        elif len(shape) == 1:
            layout = "its entries in one row"
        if rows < n_rows or cols < n_cols:  # not the map of this shape: say nothing about entries
            rows = cols = None
    except (TypeError, ValueError):
        shape = None
    size = max(8, min(28, HEATMAP_PIXELS // max(n_rows, n_cols)))
    row_names, col_names = _ranges(rows, n_rows), _ranges(cols, n_cols)
    drawn, wrong = [], 0
    for r, row in enumerate(cells):
        for c, value in enumerate(row):
            wrong += value > 0
            verdict = "within tolerance" if value <= 0 else f"relative error up to {value:.2f}"
            where = f"row {row_names[r]}, column {col_names[c]}" if shape is not None else f"cell ({r}, {c})"
            drawn.append({"x": c * size, "y": r * size, "fill": _fill(value), "label": f"{where}: {verdict}"})
    blocked = rows is not None and (rows > n_rows or cols > n_cols)
    what = f"the {'×'.join(map(str, shape))} array" if shape else "the value" if shape is not None else "the array"
    caption = (
        f"Where it is wrong: each cell is {'a block of entries' if blocked else 'one entry'} of {what} "
        f"({layout}{'; a cell shows its worst entry' if blocked else ''}). {wrong} of {n_rows * n_cols} cells wrong."
    )
    return {
        "width": n_cols * size,
        "height": n_rows * size,
        "size": size,
        "cells": drawn,
        "label": f"heatmap of the errors: {wrong} of {n_rows * n_cols} cells wrong",
        "caption": caption,
        "legend": [
            {"fill": RIGHT_FILL, "label": "right"},
            {"fill": _fill(0.01), "label": "slightly off"},
            {"fill": _fill(0.5), "label": "off by 3×"},
            {"fill": _fill(1.0), "label": "sign flipped, zero or NaN"},
        ],
    }


def _to_fix(classes):
    """One failed (public) check of each class, the one that says most: where
    to start. A failure that names where the bug is and recognises the
    mistake beats one that only says the values differ (e.g. a loss seen
    through a tape, before its own gradient check); among equals, the first."""
    items = []
    for cls in classes:
        failed = [check for check in cls["checks"] if check["failure"]]
        if not failed:
            continue
        best = max(failed, key=lambda check: (bool(check["failure"]["culprit"]), bool(check["failure"]["hints"])))
        failure = best["failure"]
        items.append({"cls": cls["name"], "anchor": best["anchor"], "method": failure["method"],
                      "summary": failure["summary"],
                      "hint": failure["hints"][0] if failure["hints"] else ""})
    return items


def _without_method(summary, method):
    """`summary` without a leading "Method: " when the method is shown beside it."""
    prefix = f"{method}: "
    return summary[len(prefix):] if method and summary.startswith(prefix) else summary
