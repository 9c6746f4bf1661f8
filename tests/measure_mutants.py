"""Grade every mutant of the catalog once and report how the judge blamed it.

    python tests/measure_mutants.py [--workers 2] [--out mutant-gradings.json] [ID ...]

Uses the same grading as tests/test_judge_mutants.py (`python -m harness grade`
on the materialised mutant, its assignment only). For each mutant it records
whether a check of its own class failed ("caught") and which checks of other
classes failed ("leaks", the blame rule broken), with the first line of each
check's output; it writes them all as JSON and prints a summary.
"""

import argparse
import json
import pathlib
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

TESTS_DIR = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))

from mutants import MUTANTS, MUTANTS_BY_ID  # noqa: E402
from test_judge_mutants import grade_mutant  # noqa: E402


def first_line(text, limit=240):
    text = " ".join(text.split())
    return text[:limit] + ("..." if len(text) > limit else "")


def measure(mutant, scratch):
    folder = pathlib.Path(scratch) / mutant.id
    folder.mkdir()
    start = time.perf_counter()
    status, document = grade_mutant(mutant, folder)
    failed = [t for t in document["tests"] if t["status"] == "failed"]
    prefix = mutant.target + ": "

    def entry(t):
        return {"name": t["name"], "output": first_line(t.get("output", "")), "extra_data": t.get("extra_data", {})}

    return {
        "id": mutant.id,
        "target": mutant.target,
        "description": mutant.description,
        "status": status,
        "score": document["score"],
        "max_score": document.get("extra_data", {}).get("max_score"),
        "seconds": round(time.perf_counter() - start, 2),
        "caught": [entry(t) for t in failed if t["name"].startswith(prefix)],
        "leaks": [entry(t) for t in failed if not t["name"].startswith(prefix)],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="mutant ids (default: the whole catalog)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="mutant-gradings.json")
    args = parser.parse_args()
    selected = [MUTANTS_BY_ID[i] for i in args.ids] if args.ids else MUTANTS
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor(args.workers) as pool:
        results = list(pool.map(lambda m: measure(m, scratch), selected))
    pathlib.Path(args.out).write_text(json.dumps(results, indent=1))

    missed = [r for r in results if not r["caught"]]
    leaking = [r for r in results if r["leaks"]]
    print(f"{len(results)} mutants graded; {len(results) - len(missed)} caught on their class; "
          f"{len(leaking)} cost points in other classes' checks")
    print("\nNOT caught on their own class:")
    for r in missed:
        said = "; ".join(f"{t['name']} -- {t['output'][:150]}" for t in r["leaks"]) or "every check passed"
        print(f"  {r['id']} ({r['target']}): score {r['score']}/{r['max_score']}; {said}")
    print("\nCost points in checks of OTHER classes:")
    for r in leaking:
        print(f"  {r['id']} ({r['target']}):")
        for t in r["leaks"]:
            print(f"    - {t['name']}\n        {t['output'][:200]}")
    print(f"\nfull results in {args.out}")


if __name__ == "__main__":
    main()
