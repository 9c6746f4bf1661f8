"""What the class report costs for a large class (reported, not asserted).

    python benchmarks/class_report.py [SUBMISSIONS]

Grades the reference once (`python -m harness grade`), then writes a class of
SUBMISSIONS (default 500) results.json files made from it, each failing a
random tenth of the checks (seeded, with diagnoses as SPEC 5 gives them), and
times `write_class_report` over them (median of 3), with the page's size.
Goal: a few seconds for a large course, a page a browser opens at once.
"""

import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import class_report  # noqa: E402

BLAMES = ("forward", "backward", "update", "contract")
MISTAKES = ("scale", "sign", "transpose", "mask", "")


def synthetic_class(outdir, reference, size, rng):
    """`size` folders of results.json, each the reference's with a random tenth of its checks failed."""
    for index in range(size):
        tests = []
        for test in reference["tests"]:
            if rng.random() < 0.1:
                method = test["name"].partition(":")[0].rpartition(".")[2] + ".call"
                extra = {"method": method, "blame": str(rng.choice(BLAMES))}
                if mistake := str(rng.choice(MISTAKES)):
                    extra["mistake"] = mistake
                test = {**test, "score": 0.0, "status": "failed", "extra_data": extra}
            tests.append(test)
        document = {**reference, "score": sum(t["score"] for t in tests), "tests": tests,
                    "extra_data": {**reference["extra_data"], "status": "graded"}}
        folder = outdir / f"student-{index:04d}"
        folder.mkdir()
        (folder / "results.json").write_text(json.dumps(document, indent=2))


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(work)
        subprocess.run([sys.executable, "-m", "harness", "grade", "reference", "--results", str(work / "ref.json"),
                        "--seed", "1"], check=True, capture_output=True, cwd=ROOT)
        reference = json.loads((work / "ref.json").read_text())
        outdir = work / "out"
        outdir.mkdir()
        synthetic_class(outdir, reference, size, np.random.default_rng(0))
        times = []
        for _ in range(3):
            start = time.perf_counter()
            page = class_report.write_class_report(outdir)
            times.append(time.perf_counter() - start)
        print(f"class of {size} submissions, {len(reference['tests'])} checks each: "
              f"write_class_report {statistics.median(times):.2f} s (median of 3), "
              f"index.html {page.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
