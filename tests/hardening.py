"""Helpers of the tests that attack the judge with a real submission
(test_hardening_text.py, test_hardening_files.py): a copy of the reference
with one method changed, graded by `python -m harness grade` in a process
whose temp dir is private, so that what the judge leaves there is ours to see.
"""

import contextlib
import json
import os
import subprocess
import sys
import tempfile

from mutants import apply_patch, copy_reference

from harness.sandbox import cleanup

DENSE_CALL = "        return nnmath.affine(x, self.w, self.b)\n"

# Student code that leaves a daemon behind at import: a double fork whose
# grandchild left the session and sleeps (what a sandbox must not let outlive it).
DAEMON = """
import os as _os, time as _time
if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        _time.sleep(300)
    _os._exit(0)
"""


def submission_with(destination, code, path="beras/layers.py", find=DENSE_CALL):
    """The reference, copied to `destination`, with `code` (indented source)
    run at the start of `beras.layers.Dense.call` (or in place of `find` in `path`)."""
    folder = copy_reference(destination)
    apply_patch(folder, path, find, code + find, label="attack")
    return folder


@contextlib.contextmanager
def private_tmpdir():
    """A fresh temp dir for the judge (the sandbox worker, another user, must
    be able to pass through it), removed afterwards with what is left in it."""
    folder = tempfile.mkdtemp(prefix="gradecheck-hardening-")
    os.chmod(folder, 0o711)
    try:
        yield folder
    finally:
        cleanup.remove_tree(folder)


def leftovers(tmpdir):
    """Sandbox folders (and budget folders) left in the judge's temp dir;
    the runtime mirror is a cache meant to stay."""
    return sorted(
        name for name in os.listdir(tmpdir)
        if name.startswith(("harness-sandbox-", "gradecheck-budget-")) and not name.startswith("harness-sandbox-runtime-")
    )


def grade(folder, tmp_path, tmpdir, *options, timeout=600, namespaces=True):
    """`python -m harness grade folder --results ... --junit ... *options` with
    TMPDIR=`tmpdir` (and without the worker's namespaces unless `namespaces`): (exit status, results.json document or None, junit.xml
    path, the run). Unlike tests/autograde.grade, any exit status is returned."""
    results, junit = tmp_path / "results.json", tmp_path / "junit.xml"
    for stale in (results, junit):
        stale.unlink(missing_ok=True)
    command = [sys.executable, "-m", "harness", "grade", str(folder), "--results", str(results), "--junit", str(junit)]
    run = subprocess.run(
        [*command, *map(str, options)], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "TMPDIR": str(tmpdir), "GRADECHECK_NAMESPACES": "on" if namespaces else "off"},
    )
    document = json.loads(results.read_text(encoding="utf-8")) if results.exists() else None
    return run.returncode, document, junit, run
