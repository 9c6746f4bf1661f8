"""Grading a folder as an autograder does, for the tests that judge the judge."""

import json
import subprocess
import sys


def grade(folder, results, *options, timeout=600):
    """`python -m harness grade folder --results results *options` in a new process:
    (exit status, the results.json document). An exit status other than 0 or 1
    (the harness could not grade) fails the calling test with the harness's stderr."""
    command = [sys.executable, "-m", "harness", "grade", str(folder), "--results", str(results), *map(str, options)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert run.returncode in (0, 1), run.stderr
    return run.returncode, json.loads(results.read_text())


def seed_option(seed):
    return ["--seed", seed] if seed is not None else []
