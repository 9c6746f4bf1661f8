"""A ready Gradescope autograder (`python -m harness gradescope --out autograder.zip [--assignment beras|bgd]`).

Gradescope unpacks the zip into /autograder/source, runs `setup.sh` once when
it builds the image, then `run_autograder` for every submission (the student's
files in /autograder/submission); whatever that writes to
/autograder/results/results.json is the grade. The zip holds:

    setup.sh          installs the harness's dependencies (requirements.txt) with pip
    run_autograder    `python3 -m harness grade /autograder/submission --results ...`,
                      from /autograder/source (so that the harness beside the reference is the one run)
    requirements.txt  the project's dependencies
    harness/, reports/, reference/, pyproject.toml   the instructor's harness, with the reference

`run_autograder` always leaves a results.json: `grade` writes one on every
exit it controls (a submission without the assignment's package scores 0 and
says why), and if it could not even start (a broken image), the script writes
one itself. `AUTOGRADER_ROOT` (default /autograder) and `GRADECHECK_PYTHON`
(default python3) let the same script run anywhere, e.g. in our tests.
"""

import pathlib
import stat
import zipfile

from .bundle import ROOT, BundleError, project_metadata
from .submission import ASSIGNMENTS

SOURCES = ("harness", "reports", "reference")
SKIPPED = {"__pycache__", "expected_values"}  # a stray recording: the autograder has the reference

SETUP = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update && apt-get install -y python3 python3-pip
fi
python3 -m pip install --no-cache-dir -r requirements.txt
"""

RUN = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission. It grades {what} and always
# leaves results.json behind (score 0 and the reason when it cannot grade).
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{GRADECHECK_PYTHON:-python3}}"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
# From the source folder: the harness there is the one beside the reference.
cd "$ROOT/source" || exit 0
"$PYTHON" -m harness grade "$ROOT/submission" --results "$RESULTS"{assignment}
status=$?
if [ ! -s "$RESULTS" ]; then
    cat > "$RESULTS" <<'JSON'
{{"score": 0, "output": "The autograder could not run (a problem of the autograder, not of your work): tell your instructor.", "tests": []}}
JSON
fi
echo "harness grade exited with status $status"
exit 0
"""


def _add(archive, path, name, executable=False):
    info = zipfile.ZipInfo.from_file(path, name)
    mode = 0o755 if executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, pathlib.Path(path).read_bytes())


def _add_text(archive, name, text, executable=False):
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text)


def run_script(assignment=None):
    """The text of `run_autograder` for `assignment` (None: every package the submission holds)."""
    if assignment is not None and assignment not in ASSIGNMENTS:
        raise BundleError(f"unknown assignment {assignment!r}: choose one of {', '.join(ASSIGNMENTS)}")
    return RUN.format(
        what=f"the {assignment} assignment" if assignment else "every assignment the submission holds",
        assignment=f" --assignment {assignment}" if assignment else "",
    )


def build_autograder(out, assignment=None, root=ROOT):
    """Write Gradescope's autograder zip to `out`; returns its path."""
    root = pathlib.Path(root)
    if not (root / "reference").is_dir():
        raise BundleError(f"{root / 'reference'}: no reference submission to grade against")
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _, dependencies = project_metadata(root)
    with zipfile.ZipFile(out, "w") as archive:
        _add_text(archive, "setup.sh", SETUP, executable=True)
        _add_text(archive, "run_autograder", run_script(assignment), executable=True)
        _add_text(archive, "requirements.txt", "".join(f"{d}\n" for d in dependencies))
        _add(archive, root / "pyproject.toml", "pyproject.toml")
        for folder in SOURCES:
            for path in sorted((root / folder).rglob("*")):
                relative = path.relative_to(root)
                if path.is_file() and not SKIPPED & set(relative.parts) and path.suffix != ".pyc":
                    _add(archive, path, relative.as_posix())
    return out
