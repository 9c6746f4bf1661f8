"""Which failed public checks leave the student without a working reproducer (issue 8).

    python benchmarks/reproducer_coverage.py [--jobs J] [MUTANT_ID ...]

For every single-bug mutant of tests/mutants.py (or only the ones named), plus
the crash mutants below (a method that raises ValueError: the catalog has
none), materialises the submission into a temporary folder and runs

    python -m harness check DIR --assignment <beras|bgd> -k <target class name> --verbose

then, for each public check that failed (the `FAIL <name>` sections of the
console), looks for its reproducer under DIR/.harness/failures/ and judges
each script written:

- it must end with an assertion (the last statement before the closing
  `print("passed...")` is an `assert` or an `np.testing.assert_*` call);
- run with plain `python` from DIR (no PYTHONPATH), it must fail (non-zero
  exit), as the student would see it while the bug is there.

Prints each failed check without a script (with the first line of its
diagnosis and why: a crash, a method still to write, a time limit, other) and
each script that does not end in an assertion or does not fail, then the
counts. Run and reported, never asserted (tests/test_reproducers.py asserts).
"""

import argparse
import ast
import collections
import concurrent.futures
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from mutants import MUTANTS, Mutant, materialise  # noqa: E402

from harness.reproducers import file_stem  # noqa: E402

# Methods that raise while the rest of the class works: the catalog's mutants compute
# wrong values, none crashes, and a crash is where a reproducer is easiest to lose.
CRASH_MUTANTS = [
    Mutant("crash_dense_input_gradients", "beras.layers.Dense", "beras/layers.py",
           "return [self.w]\n", 'raise ValueError("shapes do not align")\n',
           "Dense.get_input_gradients raises ValueError"),
    Mutant("crash_leaky_relu_backward", "beras.activations.LeakyReLU", "beras/activations.py",
           "nnmath.leaky_relu_derivative(np.asarray(self.inputs[0]), self.alpha)",
           'nnmath.leaky_relu_derivative(np.asarray(self.inputs[0]), self.alpha[0])',
           "LeakyReLU.get_input_gradients indexes a float (TypeError)"),
    Mutant("crash_fc_backward", "bgd.layers.fc.FullyConnected", "bgd/layers/fc.py",
           "signal, grad_weights, grad_biases = nnmath.affine_vjp(",
           'raise ValueError("shapes do not align")\n        signal, grad_weights, grad_biases = nnmath.affine_vjp(',
           "FullyConnected._backward raises ValueError"),
]

TIMEOUT = 600  # seconds, for one `check`


def reproduce(script, folder):
    """`python .harness/failures/<name>.py` from the submission's folder, as the student runs it."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, str(script.relative_to(folder))], capture_output=True, text=True,
                          timeout=300, cwd=folder, env=environment)


def ends_with_assertion(source):
    """Whether the last statement before the final print is an assertion (or a loop
    or block whose own last statement is: one assertion per step of a trajectory)."""
    statements = ast.parse(source).body
    if statements and isinstance(statements[-1], ast.Expr) and "passed" in ast.unparse(statements[-1]):
        statements = statements[:-1]
    if not statements:
        return False
    last = statements[-1]
    while isinstance(last, (ast.For, ast.While, ast.With, ast.If)) and last.body:
        last = last.body[-1]
    if isinstance(last, ast.Assert):
        return True
    return isinstance(last, ast.Expr) and isinstance(last.value, ast.Call) and \
        ast.unparse(last.value.func).rpartition(".")[2].startswith("assert")


def sections(stdout):
    """{failed check name: its console section} from `check --verbose`."""
    found = {}
    parts = re.split(r"^FAIL (.+)$", stdout, flags=re.M)
    for name, text in zip(parts[1::2], parts[2::2]):
        found[name.strip()] = text
    return found


def why_none(section):
    summary = section.strip().splitlines()[0].strip() if section.strip() else ""
    if "NotImplementedError" in summary:
        return "not implemented", summary
    if "timed out" in summary or summary.startswith("not run"):
        return "time limit", summary
    if " raised " in summary or "traceback (your code):" in section:
        return "crash", summary
    return "other", summary


def measure(mutant):
    """(mutant id, [(check, status, detail)]) where status is ok / none:<why> / no-assert / passes."""
    assignment = mutant.target.split(".")[0]
    keyword = mutant.target.rpartition(".")[2]
    with tempfile.TemporaryDirectory() as temporary:
        folder = materialise(mutant, pathlib.Path(temporary) / "submission")
        environment = {**os.environ, "NO_COLOR": "1"}
        run = subprocess.run([sys.executable, "-m", "harness", "check", str(folder), "--assignment", assignment,
                              "-k", keyword, "--verbose", "-n", "0"], capture_output=True, text=True, cwd=ROOT,
                             timeout=TIMEOUT, env=environment)
        if run.returncode not in (0, 1):
            return mutant.id, [("(check)", "harness-error", run.stderr[-500:])]
        written = {path.stem: path for path in (folder / ".harness" / "failures").glob("*.py")}
        rows = []
        for name, section in sections(run.stdout).items():
            stem = file_stem(name)
            mine = sorted(path for s, path in written.items() if s == stem or re.fullmatch(re.escape(stem) + r"-case\d+", s))
            if not mine:
                why, summary = why_none(section)
                rows.append((name, f"none:{why}", summary[:160]))
                continue
            for script in mine:
                if not ends_with_assertion(script.read_text()):
                    rows.append((name, "no-assert", script.name))
                    continue
                result = reproduce(script, folder)
                if result.returncode == 0:
                    rows.append((name, "passes", script.name))
                else:
                    error = (result.stderr.strip().splitlines() or ["?"])[-1]
                    rows.append((name, "ok", f"{script.name}: {error[:100]}"))
        return mutant.id, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1, help="mutants checked at a time (default 1)")
    parser.add_argument("ids", nargs="*", help="only these mutants")
    options = parser.parse_args()
    mutants = [m for m in MUTANTS + CRASH_MUTANTS if not options.ids or m.id in options.ids]
    started = time.monotonic()
    results = {}
    with concurrent.futures.ThreadPoolExecutor(options.jobs) as pool:
        for mutant_id, rows in pool.map(measure, mutants):
            results[mutant_id] = rows
    counts = collections.Counter()
    checks = set()
    for mutant_id, rows in results.items():
        for name, status, detail in rows:
            checks.add((mutant_id, name))
            counts["rows"] += 1
            counts[status] += 1
            if status != "ok":
                print(f"{mutant_id}: [{status}] {name}\n    {detail}")
    print()
    crashes = sum(m.id in results for m in CRASH_MUTANTS)
    print(f"mutants: {len(results)} ({crashes} crash mutants of this benchmark among them), "
          f"{time.monotonic() - started:.0f} s")
    print(f"failed public checks: {len(checks)}; below, one row per script written (a check with several "
          f"failing cases has several) or per check without one: {counts['rows']} rows")
    print(f"  with a reproducer that ends in an assertion and fails: {counts['ok']}")
    print(f"  with a script that does not end in an assertion: {counts['no-assert']}")
    print(f"  with a script that passes with the bug: {counts['passes']}")
    nones = sorted((status, n) for status, n in counts.items() if status.startswith("none:"))
    print(f"  without one: {sum(n for _, n in nones)}" + "".join(f"\n    {status[5:]}: {n}" for status, n in nones))
    if counts["harness-error"]:
        print(f"  harness errors: {counts['harness-error']}")


if __name__ == "__main__":
    main()
