"""Check a variant against finite differences of its own forward and against
formulas written here (independently of `reference/`), before trusting the judge.

    python tests/variants/selfcheck.py [VARIANT ...]     # default: every variant

Each variant runs in its own interpreter (its `beras`/`bgd` packages first on
sys.path). Prints one line per failed property and exits 1 if any failed.
Not run by pytest: the judge grades the variants in tests/test_variants.py.
"""

import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import variant_corpus  # noqa: E402

variants = variant_corpus.names


def main(argv):
    names = argv or variants()
    bad = 0
    scratch = tempfile.TemporaryDirectory()
    for name in names:
        folder = variant_corpus.materialise(name, pathlib.Path(scratch.name) / name)
        packages = [p for p in ("beras", "bgd") if (folder / p).is_dir()]
        for package in packages:
            proc = subprocess.run(
                [sys.executable, str(HERE / "_checks.py"), str(folder), package],
                capture_output=True, text=True, timeout=600,
            )
            lines = [line for line in proc.stdout.splitlines() if line.startswith("FAIL")]
            status = "ok" if proc.returncode == 0 and not lines else "FAILED"
            print(f"{name:22} {package:6} {status}")
            for line in lines:
                print("    " + line)
            if proc.returncode != 0 and not lines:
                print("    " + proc.stderr.strip().replace("\n", "\n    ")[-3000:])
            bad += status != "ok"
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
