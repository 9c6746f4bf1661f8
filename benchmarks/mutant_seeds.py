"""How often a student bug escapes its own class's checks: misses per mutant over seeds.

    python benchmarks/mutant_seeds.py [--seeds N] [--jobs J] [MUTANT_ID ...]

Grades every single-bug mutant of tests/mutants.py (or only the ones named)
with `python -m harness grade --assignment <its package>` on N seeds each
(default 10; the run seed draws every check's inputs, hidden ones included),
J gradings at a time (default: the number of cores). A grading *misses* when
no check of the mutant's own class fails (the bug went unseen on that seed),
and *spills* when a check of another class fails (the blame rule of
tests/test_judge_mutants.py, with the same allowance for subclasses that
inherit a student-written method). Prints each mutant that missed or spilled
on some seed, then the totals, e.g. "missed: 0 of 1160 gradings". Run and
reported, never asserted: tests/test_judge_mutants.py asserts one seed per
suite run.
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

from mutants import MUTANTS, materialise  # noqa: E402
from test_judge_mutants import student_written_subclasses  # noqa: E402


def grade(mutant, seed):
    """(mutant id, seed, failed check names or None when the harness could not grade)."""
    with tempfile.TemporaryDirectory() as folder:
        submission = materialise(mutant, pathlib.Path(folder) / "submission")
        results = pathlib.Path(folder) / "results.json"
        subprocess.run(
            [sys.executable, "-m", "harness", "grade", str(submission), "--results", str(results),
             "--seed", str(seed), "--assignment", mutant.target.split(".")[0]],
            capture_output=True, text=True, cwd=ROOT, timeout=1800,
        )
        if not results.exists():
            return mutant.id, seed, None
        document = json.loads(results.read_text())
    return mutant.id, seed, [t["name"] for t in document["tests"] if t["status"] != "passed"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mutants", nargs="*", help="mutant ids (default: all of tests/mutants.py)")
    parser.add_argument("--seeds", type=int, default=10, help="gradings per mutant (default 10)")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="gradings at a time (default: cores)")
    args = parser.parse_args(argv)
    by_id = {m.id: m for m in MUTANTS}
    unknown = sorted(set(args.mutants) - set(by_id))
    if unknown:
        parser.error(f"no such mutant: {', '.join(unknown)}")
    chosen = [by_id[i] for i in args.mutants] if args.mutants else list(MUTANTS)
    jobs = [(m, 1000 + k) for m in chosen for k in range(args.seeds)]
    print(f"{len(jobs)} gradings: {len(chosen)} mutants x {args.seeds} seeds, {args.jobs} at a time")
    subclasses = student_written_subclasses()
    started = time.perf_counter()
    missed, spilled, broken = collections.defaultdict(list), collections.defaultdict(list), collections.defaultdict(list)
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:  # each grading is its own process
        for mutant_id, seed, failed in pool.map(lambda job: grade(*job), jobs):
            mutant = by_id[mutant_id]
            if failed is None:
                broken[mutant_id].append(seed)
                continue
            owners = {mutant.target, *subclasses.get(mutant.target, ())}
            classes = {name.split(": ", 1)[0] for name in failed}
            if mutant.target not in classes:
                missed[mutant_id].append(seed)
            if classes - owners:
                spilled[mutant_id].append((seed, sorted(classes - owners)))
    for title, table in (("missed (no check of its own class failed)", missed),
                         ("spilled (a check of another class failed)", spilled),
                         ("not graded (harness error)", broken)):
        if table:
            print(f"\n{title}:")
            for mutant_id, seeds in sorted(table.items()):
                print(f"  {mutant_id} ({by_id[mutant_id].target}): {len(seeds)} of {args.seeds} seeds: {seeds[:5]}")
    total = len(jobs)
    print(f"\nmissed: {sum(map(len, missed.values()))} of {total} gradings; "
          f"spilled: {sum(map(len, spilled.values()))}; not graded: {sum(map(len, broken.values()))}; "
          f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
