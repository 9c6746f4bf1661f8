"""The command line (SPEC section 1): `grade` for autograders, `check` for students.

Exit status: 0 every check passed, 1 some check failed, 2 the harness could
not run (bad arguments, no package found, a broken catalog) or refused the
submission (too deep, too many files, too large to copy into a sandbox:
`grade` still writes results.json, saying why).

Sandbox folders are removed after the results are written or printed
(`sandbox.cleanup.deferred`): removing what student code left behind can
neither prevent nor delay them.
"""

import argparse
import pathlib
import secrets
import sys
import textwrap
import time

from . import report, results, timing
from .grading import HarnessError, run_checks
from .sandbox import SubmissionRefused, cleanup
from .submission import ASSIGNMENTS, SubmissionError, find_packages
from .text import printable

EXIT_PASSED, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2


def add_time_options(parser):
    """--timeout and --budget (SPEC 5), for every command that grades."""
    parser.add_argument(
        "--timeout", type=timing.positive_seconds, default=timing.DEFAULT_TIMEOUT, metavar="SECONDS",
        help=f"wall-clock limit of each call into student code (default {timing.DEFAULT_TIMEOUT:g}); "
        "a training run or scenario that makes N calls gets N times as long; "
        "a method that timed out once is not called again",
    )
    parser.add_argument(
        "--budget", type=timing.positive_seconds, default=timing.DEFAULT_BUDGET, metavar="SECONDS",
        help=f"time the whole submission (every assignment in it) may spend running (default {timing.DEFAULT_BUDGET:g}); "
        "when it runs out, the checks left fail as not run",
    )


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m harness", description="Gradient-checking autograder.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    grade = commands.add_parser("grade", help="grade a submission and write results.json")
    grade.add_argument("submission", help="folder holding beras/ and/or bgd/")
    grade.add_argument("--results", required=True, help="where to write Gradescope's results.json")
    grade.add_argument("--junit", help="also write a JUnit XML report here")
    grade.add_argument("--html", help="also write report.html here: the checks and each failure's diagnosis, "
                       "for the student (hidden checks by name only)")
    grade.add_argument("--assignment", choices=ASSIGNMENTS, help="grade only this package")
    grade.add_argument("--seed", type=int, help="replay the run that used this seed (see results.json)")
    grade.add_argument("-n", "--workers", type=int, default=0, help="pytest-xdist worker processes (0: none)")
    add_time_options(grade)

    check = commands.add_parser("check", help="run the public checks on your work")
    check.add_argument("path", nargs="?", default=".", help="your copy of student_template/ (default: .)")
    check.add_argument("--assignment", choices=ASSIGNMENTS, help="check only this package")
    check.add_argument("-k", dest="keyword", help="only checks whose test name matches this pytest -k expression")
    check.add_argument("-n", "--workers", type=int, default=0, help="pytest-xdist worker processes (0: none)")
    check.add_argument("--html", help="also write report.html here: the checks, each failure's diagnosis and a "
                       "heatmap of where it is wrong")
    add_time_options(check)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        with cleanup.deferred():  # the command writes its results first
            return {"grade": grade, "check": check}[args.command](args)
    except (SubmissionError, SubmissionRefused, HarnessError) as error:
        print(f"harness: {printable(str(error))}", file=sys.stderr)
        return EXIT_UNUSABLE


def grade(args):
    packages = find_packages(args.submission, args.assignment)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    stats = {}
    started = time.perf_counter()
    try:
        outcomes, elapsed = run_checks(
            pathlib.Path(args.submission).resolve(), packages, seed, workers=args.workers,
            timeout=args.timeout, budget=args.budget, stats=stats,
        )
    except SubmissionRefused as refusal:
        # The student must hear why nothing was graded: results.json says it (exit 2).
        elapsed = time.perf_counter() - started
        results.write_results(args.results, results.refused_results(str(refusal), elapsed, seed))
        if args.junit:
            results.write_atomically(args.junit, results.junit_xml([], "gradecheck", elapsed, error=str(refusal)))
        if args.html:
            report.write_report(args.html, [], submission=args.submission, seed=seed, refused=str(refusal))
        print(f"harness: the submission was not graded: {printable(str(refusal))}", file=sys.stderr)
        print(f"results written to {args.results}")
        return EXIT_UNUSABLE
    if not outcomes:
        raise HarnessError("no check was selected: nothing to grade")
    score, max_score = results.total(outcomes)
    passed = sum(o.passed for o in outcomes)
    summary = (
        f"Score {score:g} / {max_score:g}: {passed} of {len(outcomes)} checks passed "
        f"({', '.join(packages)}). Run seed {seed} (regrade with --seed {seed})."
    )
    note = timing.budget_note(outcomes, args.budget)
    if note:
        summary += "\n" + note
    time_data = {
        "timeout": args.timeout, "budget": args.budget, "student_seconds": round(stats.get("student_seconds", 0.0), 3),
        "not_run": sum(timing.was_not_run(o) for o in outcomes),
    }
    document = results.gradescope_results(
        outcomes, elapsed, seed, output=summary, extra={"assignments": packages, "time": time_data}
    )
    results.write_results(args.results, document)
    if args.junit:
        results.write_atomically(args.junit, results.junit_xml(outcomes, "gradecheck", elapsed))
    if args.html:
        # Written at grading time, before publication: hidden checks by name only (SPEC 5).
        report.write_report(args.html, outcomes, submission=args.submission, seed=seed, elapsed=elapsed, note=note)
        print(f"report written to {args.html}")
    print(summary)
    print(f"results written to {args.results}")
    return EXIT_PASSED if passed == len(outcomes) else EXIT_FAILED


def check(args):
    packages = find_packages(args.path, args.assignment)
    outcomes, elapsed = run_checks(
        pathlib.Path(args.path).resolve(), packages, run_seed=0, public_only=True, keyword=args.keyword,
        workers=args.workers, timeout=args.timeout, budget=args.budget,
    )
    if not outcomes:
        raise HarnessError("no check matches the selection")
    note = timing.budget_note(outcomes, args.budget)
    if args.html:
        report.write_report(args.html, outcomes, command="check", submission=args.path, elapsed=elapsed, note=note,
                            selection=args.keyword or "")
    print(format_table(outcomes, elapsed, note))
    if args.html:
        print(f"report written to {args.html}")
    return EXIT_PASSED if all(o.passed for o in outcomes) else EXIT_FAILED


def format_table(outcomes, elapsed, note=""):
    """One line per check, then each failure's diagnosis (and `note`, e.g. the budget's)."""
    width = max(len(o.name) for o in outcomes)
    lines = []
    for o in outcomes:
        mark = "ok  " if o.passed else "FAIL"
        lines.append(f"{mark}  {o.name:<{width}}  {o.score:g}/{o.max_score:g}")
    failures = [o for o in outcomes if not o.passed]
    for o in failures:
        lines += ["", f"FAIL {o.name}", textwrap.indent(printable(o.output).rstrip(), "  ")]
    passed = len(outcomes) - len(failures)
    score, max_score = results.total(outcomes)
    lines += ["", f"{passed} of {len(outcomes)} public checks passed, {score:g}/{max_score:g} points, in {elapsed:.1f} s."]
    if note:
        lines.append(note)
    if failures:
        lines.append("Fix the first failure of each class first: later checks often fail for the same reason.")
    return "\n".join(lines)
