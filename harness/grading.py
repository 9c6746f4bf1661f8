"""One grading run: the check catalog over one submission, in this process.

`run_checks` runs pytest on `harness/catalog` with our plugin and returns
the outcomes; the submission itself only ever runs inside the sandbox.
"""

import os
import tempfile
import time

import pytest

from . import timing
from .plugin import CATALOG_DIR, REFERENCE_DIR, Collector


class HarnessError(Exception):
    """The catalog could not run (a bug or a broken installation): exit 2."""


def run_checks(
    submission, assignments, run_seed, public_only=False, keyword=None, workers=0, reference=REFERENCE_DIR,
    catalog=CATALOG_DIR, timeout=timing.DEFAULT_TIMEOUT, budget=timing.DEFAULT_BUDGET, stats=None,
):
    """Outcomes of the selected checks of `catalog`, in its order, and the seconds taken.

    `timeout`: seconds per call into student code; `budget`: seconds the
    submission's sandbox may spend in the whole run (SPEC 5, harness/timing.py).
    `stats`, a dict, receives "student_seconds": what the submission spent.
    """
    with tempfile.TemporaryDirectory(prefix="gradecheck-budget-") as budget_dir:
        outcomes, elapsed = _run_checks(
            submission, assignments, run_seed, public_only, keyword, workers, reference, catalog,
            ["--call-timeout", repr(float(timeout)), "--budget", repr(float(budget)), "--budget-dir", budget_dir],
        )
        if stats is not None:
            stats["student_seconds"] = timing.spent_in(budget_dir)
    return outcomes, elapsed


def _run_checks(submission, assignments, run_seed, public_only, keyword, workers, reference, catalog, time_args):
    collector = Collector()
    args = [
        str(catalog),
        "-p", "harness.plugin",
        "-p", "no:cacheprovider",
        "-p", "no:randomly",
        "-c", os.devnull,  # none of the project's pytest settings
        "--rootdir", str(catalog),
        "-p", "no:terminal",
        "-p", "no:unraisableexception",  # its gc.collect() at the end costs ~0.2 s; the judge raises none
        "--assert=plain",  # checks explain failures themselves; rewriting costs ~0.2 s
        f"--submission={submission}",
        f"--reference={reference}",
        f"--run-seed={run_seed}",
        f"--assignments={','.join(assignments)}",
        *time_args,
    ]
    if public_only:
        args.append("--public-only")
    if keyword:
        args += ["-k", keyword]
    if workers:
        args += ["-p", "xdist", "-n", str(workers)]
    start = time.perf_counter()
    # Only the plugins named above: whatever else is installed (and its
    # import time) has no business in a grading run.
    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        status = pytest.main(args, plugins=[collector])
    finally:
        if saved is None:
            del os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"]
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved
    elapsed = time.perf_counter() - start
    if collector.errors:
        raise HarnessError("\n".join(collector.errors))
    if status not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
        raise HarnessError(f"the check catalog could not run (pytest exit status {int(status)})")
    return collector.ordered(), elapsed
