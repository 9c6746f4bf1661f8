"""What `python -m harness check` prints: a summary first, then the failures class by class.

The student starts where the README starts (Dense, FullyConnected), so the
classes come in its order (`outcomes.TEACHING_ORDER`), each with its checks
passed and its points. Then, for each class that failed, its first failure in
full (the method at fault, the diagnosis, the largest errors and where, what
the student's code printed, the lines that reproduce it) and the class's other
failures one line each: they often fail for the same reason, and a report
that repeats it hundreds of times hides the one line that matters.
`--verbose` prints every check and every failure in full.

Every name printed is the check's full name, which `-k` takes as it is
(`harness.selection`). Student text was made printable where it came in
(`harness.text.printable`) and is made printable again here, before any
colour is added: the only escape sequences on the terminal are ours. Colour
only on a terminal, unless NO_COLOR or FORCE_COLOR say otherwise.
"""

import dataclasses
import os
import shlex

from . import outcomes as outcome_rules
from . import timing
from .checks import Diagnosis
from .text import printable

SNIPPET_CHARS = 2500  # a reproducer longer than this is shortened, except with --verbose
SNIPPET_LINE = 200  # ... its lines to this many characters
REASON_CHARS = 110  # a failure's one-line reason, at most
_DIAGNOSIS_FIELDS = {field.name for field in dataclasses.fields(Diagnosis)}


def colour_wanted(stream, environ=None):
    """Whether to colour what goes to `stream`: NO_COLOR (any value) says no,
    FORCE_COLOR (any value but 0/false) says yes, else only on a terminal
    that is not "dumb" (never in a CI log or a file)."""
    environ = os.environ if environ is None else environ
    if environ.get("NO_COLOR"):
        return False
    force = environ.get("FORCE_COLOR")
    if force:
        return force.lower() not in ("0", "false", "no")
    if environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Style:
    """ANSI colours, or none."""

    CODES = {"ok": "32", "fail": "1;31", "bold": "1", "dim": "2", "head": "1;36", "hint": "33"}

    def __init__(self, colour):
        self.colour = colour

    def __call__(self, kind, text):
        if not self.colour or not text:
            return text
        return f"\x1b[{self.CODES[kind]}m{text}\x1b[0m"

    def mark(self, passed):
        return self("ok", "ok  ") if passed else self("fail", "FAIL")


def render(outcomes, elapsed, *, verbose=False, colour=False, notes=(), import_failures=(), where=""):
    """The report of a `check` run, as one string.

    `notes`: lines said right after the summary (the folder graded, the time
    budget); `import_failures`: `outcomes.ImportFailure`s, shown once each
    before the failures; `where`: the folder checked, for the first line.
    """
    style = Style(colour)
    groups = outcome_rules.by_class(outcomes)
    lines = _summary(outcomes, groups, elapsed, style, where, verbose)
    lines += [printable(note) for note in notes if note]
    for failure in import_failures:
        first, *rest = printable(failure.as_text()).splitlines()
        lines += ["", style("fail", first), *rest]
    # Checks that could not run for an import that failed are said above, once:
    # a class whose every failure is one is not listed again.
    failed_groups = [(target, [o for o in group if not o.passed]) for target, group in groups]
    failed_groups = [(target, failed) for target, failed in failed_groups
                     if any(not o.details.get("import_failure") for o in failed)]
    if failed_groups:
        lines += ["", style("bold", "Failures, class by class in the order above")
                  + ("" if verbose else ": the first of each in full (fix it first: later ones often fail for "
                     "the same reason); --verbose shows all in full.")]
    for target, failed in failed_groups:
        lines += ["", style("head", f"── {target}: {len(failed)} failed ──")]
        unimported = [o for o in failed if o.details.get("import_failure")]
        # The one in full is the first that ran: "not run: the time budget ..." says nothing of the bug.
        failed = sorted((o for o in failed if not o.details.get("import_failure")), key=timing.was_not_run)
        for module in dict.fromkeys(o.details["import_failure"] for o in unimported):
            count = sum(o.details["import_failure"] == module for o in unimported)
            what = "check" if count == 1 else "checks"
            lines.append(f"{style.mark(False)} {count} {what} not run: {module} could not be imported, see above")
        if failed:
            lines += _failure(failed[0], style, verbose)
        for outcome in failed[1:]:
            lines += _failure(outcome, style, verbose) if verbose else [_one_line(outcome, failed[0], style)]
    passed = sum(o.passed for o in outcomes)
    score, max_score = sum(o.score for o in outcomes), sum(o.max_score for o in outcomes)
    lines += ["", style("bold", f"{passed} of {len(outcomes)} public checks passed, {score:g}/{max_score:g} points.")]
    if failed_groups:
        lines.append('Run only some checks: python -m harness check -k "NAME" (a name printed above, or a part of one; '
                     "and, or, not, parentheses combine them).")
    return "\n".join(lines)


def _summary(outcomes, groups, elapsed, style, where, verbose):
    passed = sum(o.passed for o in outcomes)
    score, max_score = sum(o.score for o in outcomes), sum(o.max_score for o in outcomes)
    packages = list(dict.fromkeys(target.split(".")[0] for target, _ in groups))
    place = f" in {printable(where)}" if where else ""
    lines = [
        style("bold", f"Public checks of {' and '.join(packages)}{place}: {passed} of {len(outcomes)} passed, "
                      f"{score:g}/{max_score:g} points ({elapsed:.1f} s).")
    ]
    width = max(len(target) for target, _ in groups)
    package = None
    for target, group in groups:
        if target.split(".")[0] != package:
            package = target.split(".")[0]
            lines += ["", style("bold", f"{package:<{width + 8}}checks passed   points")]
        ok = sum(o.passed for o in group)
        got, worth = sum(o.score for o in group), sum(o.max_score for o in group)
        lines.append(f"  {style.mark(ok == len(group))}  {target:<{width}}  {ok:>3} of {len(group):<3}    {got:g}/{worth:g}")
        if verbose:
            lines += [f"          {style.mark(o.passed)}  {o.name}" for o in group]
    return lines


def _failure(outcome, style, verbose):
    """A failure in full: its name, then its diagnosis, indented."""
    head = f"{style.mark(False)} {outcome.name}"
    details = {key: value for key, value in outcome.details.items() if key in _DIAGNOSIS_FIELDS}
    if details.get("summary"):
        if not verbose:
            details["snippet"] = _shortened(details.get("snippet", ""), outcome.name)
        text = Diagnosis(**details).as_text()
    else:
        text = outcome.output
    body = []
    for line in printable(text).splitlines():
        stripped = line.lstrip()
        if stripped.startswith("hint:"):
            line = style("hint", line)
        elif stripped in ("reproduce with:", "traceback (your code):", "your code printed:") or stripped.startswith(
                "largest errors"):
            line = style("dim", line)
        body.append("  " + line)
    return [head, *body]


def _one_line(outcome, first, style):
    """"FAIL <name>: <why>", the why cut short (the same as the first failure's: said so)."""
    reason = _reason(outcome)
    if reason and reason == _reason(first):
        reason = "the same error as above"
    if len(reason) > REASON_CHARS:
        reason = reason[: REASON_CHARS - 1] + "…"
    return f"{style.mark(False)} {outcome.name}" + (style("dim", f"  ({reason})") if reason else "")


def _reason(outcome):
    text = outcome.details.get("summary") or outcome.output
    return printable((text.strip().splitlines() or [""])[0])


def _shortened(snippet, name):
    """A long reproducer (inline arrays of a large case) with its long lines
    cut, and a comment that says how to print it whole."""
    if len(snippet) <= SNIPPET_CHARS and all(len(line) <= 4 * SNIPPET_LINE for line in snippet.splitlines()):
        return snippet
    lines = [line if len(line) <= SNIPPET_LINE else f"{line[:SNIPPET_LINE]} … [{len(line) - SNIPPET_LINE} more characters]"
             for line in snippet.splitlines()]
    lines.append(f"# shortened: python -m harness check --verbose -k {shlex.quote(name)} prints it whole")
    return "\n".join(lines)
