import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE_DIR = ROOT / "reference"

# The reference engine is laid out like a submission (top-level `beras`,
# `bgd`, `nnmath`); our tests import it the way the judge does.
for path in (str(ROOT), str(REFERENCE_DIR)):
    if path not in sys.path:
        sys.path.insert(0, path)
