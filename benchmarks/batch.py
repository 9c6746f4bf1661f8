"""Batch throughput: submissions graded per second, on 1 and on 2 workers.

    python benchmarks/batch.py [COUNT]      # COUNT submissions (default 50)

The class is examples/class copied round-robin up to COUNT submissions
(`ada-einsum-00`, `ben-loops-00`, ...: correct, buggy, hanging, crashing and
refused ones in the same proportions), graded by `python -m harness batch`
with the default limits into a fresh OUTDIR, once with `-n 1` and once with
`-n 2`. Goals: at least 1 submission per second with 2 workers on 2 cores,
and 2 workers at least 1.7x as fast as 1. The load average before each run
is printed: other processes on the machine slow both runs. So is the CPU
time the batch's processes used per submission (user + system, of every
process waited for), which the load hardly changes: 2 cores / that is the
rate two workers could reach on an idle machine.
"""

import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLASS = ROOT / "examples" / "class"


def make_class(destination, count):
    originals = sorted(path for path in CLASS.iterdir() if path.is_dir())
    for number in range(count):
        original = originals[number % len(originals)]
        shutil.copytree(original, destination / f"{original.name}-{number // len(originals):02}")
    return destination


def timed_batch(submissions, outdir, workers):
    command = [sys.executable, "-m", "harness", "batch", str(submissions), "--out", str(outdir),
               "-n", str(workers), "--seed", "1"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        raise SystemExit(f"batch failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def main(count=50):
    print(f"{count} submissions (examples/class copied round-robin), default limits; cores: {os.cpu_count()}")
    rates = {}
    with tempfile.TemporaryDirectory(prefix="gradecheck-batch-bench-") as folder:
        submissions = make_class(pathlib.Path(folder) / "submissions", count)
        for workers in (1, 2):
            load = os.getloadavg()[0]
            seconds, cpu = timed_batch(submissions, pathlib.Path(folder) / f"out-{workers}", workers)
            rates[workers] = count / seconds
            print(f"-n {workers}: {seconds:7.1f} s  {rates[workers]:5.2f} submissions/s   "
                  f"CPU {cpu / count:.2f} s per submission   (load average before: {load:.1f})")
    print(f"speed-up of 2 workers over 1: {rates[2] / rates[1]:.2f}x   (goals: >= 1 submission/s with 2, >= 1.7x)")


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
