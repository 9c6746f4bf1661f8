"""Record how long each check of the catalog takes on the reference, into
harness/catalog/durations.json, which `plugin.partition` reads to share a
run's checks out between its two grading processes so that they end about
together (the way pytest-split uses stored durations).

    python benchmarks/record_durations.py [RUNS]     # default 5

The reference is graded RUNS times in one process (GRADECHECK_PROCESSES=1),
each on its own seed; a check's record is its median time over the runs.
Re-run it after adding, removing or changing checks; a check without a
record counts as the median check. Nothing but the sharing-out depends on
the file: results never do.
"""

import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.plugin import DURATIONS  # noqa: E402


def main(runs=5):
    seconds = {}
    with tempfile.TemporaryDirectory() as folder:
        for run in range(runs):
            results = pathlib.Path(folder) / f"results-{run}.json"
            subprocess.run(
                [sys.executable, "-m", "harness", "grade", "reference", "--results", str(results), "--seed", str(run)],
                cwd=ROOT, env={**os.environ, "GRADECHECK_PROCESSES": "1"}, capture_output=True, check=False,
            )
            for test in json.loads(results.read_text())["tests"]:
                seconds.setdefault(test["name"], []).append(test["extra_data"]["duration"])
    recorded = {name: round(statistics.median(times), 4) for name, times in sorted(seconds.items())}
    DURATIONS.write_text(json.dumps({"runs": runs, "seconds": recorded}, indent=1) + "\n", encoding="utf-8")
    print(f"{len(recorded)} checks, {sum(recorded.values()):.2f} s in all, written to {DURATIONS.relative_to(ROOT)}")


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
