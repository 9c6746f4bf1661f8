"""The command line (SPEC section 1): `grade` for autograders, `check` for
students, `batch` and `merge` for instructors (harness/batch.py).

Exit status: 0 every check passed, 1 some check failed, 2 the harness could
not run (bad arguments, no package found, a broken catalog) or refused the
submission (too deep, too many files, too large to copy into a sandbox).
`grade` writes results.json in every one of these cases that it can (score 0,
the reason in `output`: SPEC 5), so that Gradescope shows the student why.

Sandbox folders are removed after the results are written or printed
(`sandbox.cleanup.deferred`): removing what student code left behind can
neither prevent nor delay them.
"""

import argparse
import secrets
import shlex
import sys
import time
import traceback

from . import batch, console, report, reproducers, results, timing
from . import outcomes as outcome_rules
from .batch import Shard
from .grading import HarnessError, run_checks
from .sandbox import SubmissionRefused, cleanup
from .submission import ASSIGNMENTS, SubmissionError, locate
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


EXIT_CODES = """\
exit status:
  0  every check passed
  1  some check failed
  2  the harness could not run: bad arguments, no beras/ or bgd/ package found,
     a submission too large or too deep to copy, a broken installation"""

GRADE_HELP = (
    "Grade a submission with every check, public and hidden, and write Gradescope's\n"
    "results.json (and a JUnit report with --junit). Student code runs only in a\n"
    "sandbox; the score cannot be forged from it. Hidden checks draw fresh inputs at\n"
    "every run (the run's seed is in results.json; --seed replays it) and show\n"
    "students their name and result only.",
    """\
examples:
  python -m harness grade /autograder/submission --results /autograder/results/results.json
  python -m harness grade submission/ --results results.json --junit junit.xml --assignment bgd
  python -m harness grade submission/ --results results.json --seed 1181466440   # replay a run

A submission is a folder holding beras/ and/or bgd/, laid out like
student_template/; a zip of the folder itself (one folder inside holding them)
is graded from that folder. results.json is written even when exit status is 2
(score 0, the reason in its output).

""" + EXIT_CODES,
)

CHECK_HELP = (
    "Run the public checks on your work and print what failed and why: first a\n"
    "summary (each class, in the order the README teaches them: checks passed,\n"
    "points), then the first failure of each class in full (the method at fault,\n"
    "the largest errors and where they are, the lines that reproduce it) and the\n"
    "class's other failures one line each.",
    """\
examples:
  python -m harness check                         # every public check, in this folder
  python -m harness check --assignment bgd        # one library only
  python -m harness check -k Dense                # checks whose name contains "Dense"
  python -m harness check -k "dense and not gradient"
  python -m harness check -k "(Tanh or Sigmoid) and input gradient"
  python -m harness check -k "beras.layers.Dense: forward matches the reference"   # a name, pasted
  python -m harness check -k Softmax --verbose    # every failure in full

-k matches the names check prints, case-insensitively: a part of a name, or
parts combined with and, or, not and parentheses; quote a part that contains
one of these words ('"changes nothing" and Adam'). A name pasted whole always works.
Colour on a terminal; NO_COLOR=1 turns it off, FORCE_COLOR=1 on (e.g. in a pipe).

""" + EXIT_CODES,
)


BATCH_HELP = (
    "Grade every submission of a folder (each subfolder is one submission, its name the\n"
    "id), several at a time, each in its own grading process with a wall-clock limit.\n"
    "Writes OUTDIR/<id>/results.json and report.html, OUTDIR/grades.csv and the class\n"
    "report OUTDIR/index.html. Run it again with the same OUTDIR to resume: submissions\n"
    "already graded are skipped (--force regrades them).",
    """\
examples:
  python -m harness batch examples/class --out class-report
  python -m harness batch submissions/ --out out/ -n 4 --timeout 10 --budget 900
  python -m harness batch submissions/ --out out/shard-2 --shard 2/4 --seed 2024   # one of 4 machines
  python -m harness merge out/shard-* --out out/all                                # then combine them

Each results.json has extra_data.status: graded, refused (not gradable: no package,
too large), timeout (killed after --limit) or crashed (died without results).

exit status:
  0  every submission has its results
  1  some grading process was interrupted: run the same command again
  2  the batch could not run (bad arguments, no such folder, a seed conflict),
     or the class report failed (grades.csv and the students' reports are written)
  130  stopped (Ctrl-C, SIGTERM): run the same command again to resume""",
)

MERGE_HELP = (
    "Combine the OUTDIRs of batch runs (shards of one batch) into one OUTDIR holding\n"
    "exactly what a single batch would have written: every submission folder, then\n"
    "grades.csv and index.html made from them. Refuses (exit 2, nothing written) an\n"
    "unfinished shard, one id with different results in two inputs, or shards graded\n"
    "with different --seed.",
    """\
example:
  python -m harness merge out/shard-1 out/shard-2 out/shard-3 --out out/all""",
)


class BadArguments(SystemExit):
    """A command line argparse refused (exit status 2); `message` says why."""

    def __init__(self, message):
        super().__init__(EXIT_UNUSABLE)
        self.message = message


class ArgumentParser(argparse.ArgumentParser):
    """argparse, except that a bad command line raises `BadArguments` (still
    a SystemExit with status 2) after the usual message: `grade` then writes
    results.json saying why."""

    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise BadArguments(message)


def _document(parser, text):
    """A command's --help: what it does, examples, exit status."""
    parser.description, parser.epilog = text
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def build_parser():
    parser = ArgumentParser(prog="python -m harness", description="Gradient-checking autograder.")
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
    check.add_argument("-k", dest="keyword", metavar="EXPR",
                       help="only the checks whose printed name matches: a part of a name (any case), "
                       "or parts combined with and/or/not and parentheses")
    check.add_argument("-v", "--verbose", action="store_true", help="list every check and show every failure in full")
    check.add_argument("-n", "--workers", type=int, default=0, help="pytest-xdist worker processes (0: none)")
    check.add_argument("--html", help="also write report.html here: the checks, each failure's diagnosis and a "
                       "heatmap of where it is wrong")
    add_time_options(check)
    batch_parser = commands.add_parser("batch", help="grade every submission of a folder: grades.csv, reports")
    batch_parser.add_argument("submissions_dir",
                              help="a folder whose every subfolder is one submission (its name is the id)")
    batch_parser.add_argument("--out", required=True, metavar="OUTDIR",
                       help="where to write grades.csv, index.html and OUTDIR/<id>/results.json, report.html")
    batch_parser.add_argument("-n", "--workers", type=_positive_int, default=None,
                       help="submissions graded at once (default: the number of cores)")
    batch_parser.add_argument("--shard", type=Shard.parse, metavar="K/N",
                       help="grade only part K of N (ids sorted, every N-th from the K-th); needs --seed")
    batch_parser.add_argument("--force", action="store_true",
                       help="regrade submissions already graded in OUTDIR (by default they are skipped)")
    batch_parser.add_argument("--seed", type=int, help="batch seed; each submission's seed derives from it and its id "
                       "(default: the one OUTDIR records, else a random one)")
    add_time_options(batch_parser)
    batch_parser.add_argument("--limit", type=timing.positive_seconds, metavar="SECONDS",
                       help="wall-clock limit of each submission's whole grading process, after which it is killed "
                       "and marked timeout (default: 2 x budget + 60)")

    merge_parser = commands.add_parser("merge", help="combine batch outputs (shards) into one")
    merge_parser.add_argument("outdirs", nargs="+", help="the --out folders of the batch runs (shards) to combine")
    merge_parser.add_argument("--out", required=True, metavar="OUTDIR",
                       help="a new or empty folder: receives every submission folder, grades.csv and index.html")

    _document(grade, GRADE_HELP)
    _document(check, CHECK_HELP)
    _document(batch_parser, BATCH_HELP)
    _document(merge_parser, MERGE_HELP)

    bundle = commands.add_parser("bundle", help="write the student bundle: template, harness, public checks' "
                                 "expected values (no solution, no hidden check)")
    bundle.add_argument("--out", required=True, help="a new (or empty) folder to write the bundle to")
    bundle.add_argument("--no-wheel", dest="wheel", action="store_false", help="do not build dist/*.whl")
    gradescope = commands.add_parser("gradescope", help="write a Gradescope autograder zip (setup.sh, run_autograder)")
    gradescope.add_argument("--out", required=True, help="where to write the zip, e.g. autograder.zip")
    gradescope.add_argument("--assignment", choices=ASSIGNMENTS, help="the package it grades (default: every one found)")
    return parser


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text!r}")
    return value


def main(argv=None):
    argv = sys.argv[1:] if argv is None else [str(arg) for arg in argv]
    try:
        args = build_parser().parse_args(argv)
    except BadArguments as bad:
        path = _results_path(argv)
        if path is not None:
            reason = f"the grader was started with bad arguments ({bad.message}): a problem of its setup, not of your work"
            _write_not_graded(path, None, reason, 0.0, None)
        raise
    try:
        with cleanup.deferred():  # the command writes its results first
            commands = {"grade": grade, "check": check, "batch": batch.batch_command, "merge": batch.merge_command,
                        "bundle": bundle, "gradescope": gradescope}
            return commands[args.command](args)
    except (SubmissionError, SubmissionRefused, HarnessError) as error:
        print(f"harness: {printable(str(error))}", file=sys.stderr)
        return EXIT_UNUSABLE
    except Exception as error:  # noqa: BLE001 - a bug of the harness: still exit 2, and say so
        traceback.print_exc()
        if args.command == "grade" and not getattr(args, "results_written", False):  # never overwrite a grade
            not_graded(args, HarnessError(f"{type(error).__name__}: {error}"), 0.0, args.seed)
        return EXIT_UNUSABLE


def grade(args):
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    stats = {}
    started = time.perf_counter()
    try:
        located = locate(args.submission, args.assignment)
        packages = located.packages
        outcomes, elapsed = run_checks(
            located.folder.resolve(), packages, seed, workers=args.workers,
            timeout=args.timeout, budget=args.budget, stats=stats,
        )
        if not outcomes:
            raise HarnessError("no check was selected: nothing to grade")
    except (SubmissionError, SubmissionRefused, HarnessError) as error:
        return not_graded(args, error, time.perf_counter() - started, seed)
    # What students read (SPEC 5): the visible checks' totals, never the hidden
    # score or how many hidden checks failed; an import that failed, once.
    failures = outcome_rules.import_failures(outcomes)
    note = timing.budget_note(outcomes, args.budget)
    summary = "\n\n".join(part for part in (
        outcome_rules.visible_summary(outcomes),
        located.note,
        note,
        *(failure.as_text() for failure in failures),
        f"Run seed {seed} (regrade with --seed {seed}).",
    ) if part)
    time_data = {
        "timeout": args.timeout, "budget": args.budget, "student_seconds": round(stats.get("student_seconds", 0.0), 3),
        "not_run": sum(timing.was_not_run(o) for o in outcomes),
    }
    document = results.gradescope_results(
        outcomes, elapsed, seed, output=summary, extra={"assignments": packages, "time": time_data}
    )
    results.write_results(args.results, document)
    args.results_written = True
    if args.junit:
        results.write_atomically(args.junit, results.junit_xml(outcomes, "gradecheck", elapsed))
    if args.html:
        # Written at grading time, before publication: hidden checks by name only (SPEC 5).
        report.write_report(args.html, outcomes, submission=args.submission, seed=seed, elapsed=elapsed, note=note)
        print(f"report written to {args.html}")
    print(summary)
    print(f"results written to {args.results}")
    return EXIT_PASSED if all(o.passed for o in outcomes) else EXIT_FAILED


def not_graded(args, error, elapsed, seed):
    """Exit status 2 of `grade`: results.json (and the JUnit file) say why
    nothing was graded, score 0 (SPEC 5), and so does stderr."""
    if isinstance(error, HarnessError):
        # The grader's own failure may quote the catalog (hidden checks' code):
        # the student hears that it happened, the instructor reads it in extra_data.
        reason = "the grader could not run its checks: a problem of the grader, not of your work; tell your instructor"
        extra = {"error": str(error)}
    else:
        reason, extra = str(error), {}
    _write_not_graded(args.results, args.junit, reason, elapsed, seed, extra)
    if getattr(args, "html", None):
        report.write_report(args.html, [], submission=args.submission, seed=seed, refused=reason)
    print(f"harness: the submission was not graded: {printable(str(error))}", file=sys.stderr)
    print(f"results written to {args.results}")
    return EXIT_UNUSABLE


def _write_not_graded(path, junit, reason, elapsed, seed, extra=None):
    results.write_results(path, results.refused_results(reason, elapsed, seed, extra))
    if junit:
        results.write_atomically(junit, results.junit_xml([], "gradecheck", elapsed, error=reason))


def _results_path(argv):
    """The --results of a `grade` command line that argparse refused, when it can be read, else None."""
    if not argv or argv[0] != "grade":
        return None

    class Lenient(argparse.ArgumentParser):
        def error(self, message):
            raise BadArguments(message)

    lenient = Lenient(add_help=False)
    lenient.add_argument("--results")
    try:
        return lenient.parse_known_args(argv[1:])[0].results
    except BadArguments:
        return None


def check(args):
    located = locate(args.path, args.assignment)
    folder = located.folder.resolve()
    reproducers.clear(folder)  # an earlier run's reproducers are stale
    outcomes, elapsed = run_checks(
        folder, located.packages, run_seed=0, public_only=True, names=args.keyword,
        workers=args.workers, timeout=args.timeout, budget=args.budget, reproducers=folder,
    )
    if not outcomes:
        if args.keyword:
            raise HarnessError(
                f"no public check's name matches -k {shlex.quote(args.keyword)} (it matches the names check "
                "prints, in any case: run without -k to see them)"
            )
        raise HarnessError("no check matches the selection")
    failures = outcome_rules.import_failures(outcomes)
    note = timing.budget_note(outcomes, args.budget)
    if args.html:
        report.write_report(args.html, outcomes, command="check", submission=args.path, elapsed=elapsed, note=note,
                            selection=args.keyword or "")
    print(console.render(
        outcomes, elapsed, verbose=args.verbose, colour=console.colour_wanted(sys.stdout),
        notes=[located.note, note], import_failures=failures,
        where=args.path,
    ))
    if args.html:
        print(f"report written to {args.html}")
    return EXIT_PASSED if all(o.passed for o in outcomes) else EXIT_FAILED


def _instructor_tool(module):
    """harness.bundle or harness.gradescope: instructor tools, left out of the student bundle."""
    import importlib

    try:
        return importlib.import_module(f"harness.{module}")
    except ImportError:
        raise HarnessError(f"this installation is a student bundle: it cannot build a {module}") from None


def bundle(args):
    """`bundle --out DIR`: what students receive (harness/bundle.py)."""
    tools = _instructor_tool("bundle")
    try:
        out = tools.build_bundle(args.out, wheel=args.wheel)
    except tools.BundleError as error:
        raise HarnessError(str(error)) from None
    print(f"student bundle written to {out} (see {out / 'README.md'})")
    return EXIT_PASSED


def gradescope(args):
    """`gradescope --out ZIP`: Gradescope's autograder (harness/gradescope.py)."""
    tools = _instructor_tool("gradescope")
    try:
        out = tools.build_autograder(args.out, args.assignment)
    except tools.BundleError as error:
        raise HarnessError(str(error)) from None
    print(f"Gradescope autograder written to {out}")
    return EXIT_PASSED
