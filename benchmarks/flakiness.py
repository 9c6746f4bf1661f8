"""How often the judge fails a correct submission: false failures per variant.

    python benchmarks/flakiness.py [--seeds N] [--jobs J] [VARIANT ...]

Grades every correct submission of tests/variants/ (or only the ones named)
with `python -m harness grade` on N seeds each (default 50), J gradings at a
time in separate processes (default: the number of cores). Every grading that
does not score full marks is a false failure: the submissions are correct.
Prints, per variant, how many of its gradings failed and which checks failed
on which seeds, then every failing check over all variants, then the total,
e.g. "false failures: 3 of 600 gradings". Run and reported, never asserted.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import variant_corpus  # noqa: E402
from variant_corpus import seeds_of  # noqa: E402  (the same seeds as tests/test_variants.py, then more)

variant_names = variant_corpus.names


def grade(name, seed):
    """(name, seed, [names of the failed checks], seconds); a harness error counts as one failed "check"."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        results = pathlib.Path(folder) / "results.json"
        submission = variant_corpus.materialise(name, pathlib.Path(folder) / name)
        run = subprocess.run(
            [sys.executable, "-m", "harness", "grade", str(submission), "--results", str(results), "--seed", str(seed)],
            capture_output=True, text=True, cwd=ROOT, timeout=1800,
        )
        if not results.exists():
            return name, seed, [f"(harness error, exit {run.returncode})"], time.perf_counter() - start
        document = json.loads(results.read_text())
    failed = [t["name"] for t in document["tests"] if t.get("status") != "passed"]
    max_score = document.get("extra_data", {}).get("max_score")
    if not failed and (run.returncode != 0 or document["score"] != max_score):
        failed = [f"(exit {run.returncode}, score {document['score']} of {max_score})"]
    return name, seed, failed, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="*", help="variant names (default: all of tests/variants/)")
    parser.add_argument("--seeds", type=int, default=50, help="gradings per variant (default 50)")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="gradings at a time (default: cores)")
    args = parser.parse_args(argv)
    names = args.variants or variant_names()
    unknown = sorted(set(names) - set(variant_names()))
    if unknown:
        parser.error(f"no such variant: {', '.join(unknown)}")

    jobs = [(name, seed) for name in names for seed in seeds_of(name, args.seeds)]
    print(f"{len(jobs)} gradings: {len(names)} variants x {args.seeds} seeds, {args.jobs} at a time")
    start = time.perf_counter()
    outcomes = collections.defaultdict(list)  # name -> [(seed, failed checks, seconds)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:  # each grading is its own process
        for name, seed, failed, seconds in pool.map(lambda job: grade(*job), jobs):
            outcomes[name].append((seed, failed, seconds))
    wall = time.perf_counter() - start

    by_check = collections.defaultdict(lambda: collections.defaultdict(list))  # check -> variant -> [seeds]
    total_failed = 0
    print()
    for name in names:
        runs = outcomes[name]
        failed_runs = [(seed, failed) for seed, failed, _ in runs if failed]
        total_failed += len(failed_runs)
        mean = sum(s for _, _, s in runs) / len(runs)
        print(f"{name:22} false failures: {len(failed_runs):3} of {len(runs)} gradings   ({mean:5.1f} s per grading)")
        per_check = collections.defaultdict(list)
        for seed, failed in failed_runs:
            for check in failed:
                per_check[check].append(seed)
                by_check[check][name].append(seed)
        for check, seeds in sorted(per_check.items(), key=lambda item: -len(item[1])):
            shown = ", ".join(map(str, seeds[:8])) + (", ..." if len(seeds) > 8 else "")
            print(f"    {len(seeds):3}x  {check}   (seeds {shown})")

    if by_check:
        print("\nfailing checks over all variants:")
        for check, variants in sorted(by_check.items(), key=lambda item: -sum(map(len, item[1].values()))):
            count = sum(map(len, variants.values()))
            print(f"  {count:4}x  {check}")
            print("         in " + ", ".join(f"{v} ({len(s)})" for v, s in sorted(variants.items())))
    print(f"\nfalse failures: {total_failed} of {len(jobs)} gradings   (wall {wall:.0f} s)")


if __name__ == "__main__":
    main()
