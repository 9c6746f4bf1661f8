import compileall
import fcntl
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE_DIR = ROOT / "reference"

# The reference engine is laid out like a submission (top-level `beras`,
# `bgd`, `nnmath`); our tests import it the way the judge does.
for path in (str(ROOT), str(REFERENCE_DIR)):
    if path not in sys.path:
        sys.path.insert(0, path)


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium (its path), installed here when it is missing and we
    are root (the test setup; one xdist worker installs, the others wait on
    the lock); otherwise the browser test is skipped, saying why."""
    from headless import chromium

    if chromium() is None and os.getuid() == 0 and shutil.which("apt-get"):
        with open("/tmp/gradecheck-chromium.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if chromium() is None:
                environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
                for command in (["apt-get", "install", "-y", "chromium"], ["apt-get", "update"],
                                ["apt-get", "install", "-y", "chromium"]):
                    subprocess.run(command, env=environment, capture_output=True, timeout=900)
                    if chromium() is not None:
                        break
    if chromium() is None:
        pytest.skip("chromium not found and not installable here (Debian: apt-get install chromium, as root)")
    return chromium()


def pytest_configure(config):
    # The judge's plugin registers the marker of harness/catalog's checks; tests that import
    # the catalog to read its checks register it too.
    config.addinivalue_line("markers", "check(target, title, points, visibility, tags, clause, blame): a graded check")
    if not hasattr(config, "workerinput"):  # once, in the controller (or the only process)
        # Hundreds of tests start `python -m harness`, each importing the whole
        # harness: compiled once here, it is not compiled again by each (~0.3 s
        # of CPU per start where PYTHONDONTWRITEBYTECODE keeps Python from
        # caching bytecode, as in a fresh clone with that set).
        for folder in ("harness", "reports"):
            compileall.compile_dir(ROOT / folder, quiet=2)


def grade_mutant(mutant, folder, *options):
    """`(status, results document)` of grading `mutant`'s assignment, in `folder`."""
    from autograde import grade
    from mutants import materialise

    materialise(mutant, folder / "submission")
    return grade(folder / "submission", folder / "results.json", "--assignment", mutant.target.split(".")[0], *options)


@pytest.fixture(scope="session")
def mutant_grading(tmp_path_factory, request):
    """`grading(mutant, *options) -> (status, document)`: each mutant is graded once per
    test session (per set of `grade` options) and shared by every test that asks,
    also across xdist workers (the cache lives in the directory the workers'
    temporary folders share, and a lock per mutant makes a second worker wait for
    the first's grading)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if hasattr(request.config, "workerinput") else base
    cache = shared / "mutant-gradings"
    cache.mkdir(exist_ok=True)
    memory = {}

    def grading(mutant, *options):
        key = "-".join([mutant.id, *(str(o).strip("-").replace(" ", "_") for o in options)])
        if key not in memory:
            answer = cache / f"{key}.json"
            with open(cache / f"{key}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not answer.exists():
                    work = cache / key
                    work.mkdir(exist_ok=True)
                    status, document = grade_mutant(mutant, work, *options)
                    partial = answer.with_suffix(".partial")
                    partial.write_text(json.dumps([status, document]))
                    partial.replace(answer)
            memory[key] = tuple(json.loads(answer.read_text()))
        return memory[key]

    return grading
