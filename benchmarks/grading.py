"""What grading costs, as ratios to baselines measured in the same run.

    python benchmarks/grading.py

1. `python -m harness grade reference` (both assignments, then each alone)
   against starting Python and importing numpy. Goal: at most 12x. Then a
   submission whose every beras check fails against the reference (a failure
   should cost about what a pass does).
2. One convolution gradient check, done as the judge does it (the layer in a
   sandbox, forward + backward, then finite differences along a handful of
   directions in one request to a sandbox of their own, each evaluation the
   graded request replayed), against one forward + backward of the
   layer, and against a full finite-difference Jacobian of it (2 forward
   evaluations per input entry, in-process, no sandbox at all).
   Goal: at least 100x cheaper than the full Jacobian.
"""

import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "reference"))

from bgd.layers import Convolutional2D  # noqa: E402

from harness import gradcheck  # noqa: E402
from harness.catalog.specs import Spec  # noqa: E402
from harness.drivers import BgdLayer, Case  # noqa: E402
from harness.sandbox import Sandbox  # noqa: E402


def wall(command, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=False, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def grading_against_startup(repeat=5):
    baseline = wall([sys.executable, "-c", "import numpy"], repeat)
    print(f"python -c 'import numpy'             {baseline:7.3f} s   (baseline)")
    with tempfile.TemporaryDirectory() as folder:
        for extra in ([], ["--assignment", "beras"], ["--assignment", "bgd"]):
            command = [sys.executable, "-m", "harness", "grade", "reference", "--results", f"{folder}/r.json", *extra]
            seconds = wall(command, repeat)
            label = " ".join(["grade reference", *extra])
            print(f"{label:36} {seconds:7.3f} s   {seconds / baseline:5.1f}x baseline")


def failing_against_passing(repeat=5):
    """A submission whose every check fails (its package does not import, so no
    student code runs at all) against the reference, which passes every check:
    a failure should cost the judge about what a pass does."""
    with tempfile.TemporaryDirectory() as folder:
        broken = pathlib.Path(folder) / "broken"
        shutil.copytree(ROOT / "reference", broken, ignore=shutil.ignore_patterns("__pycache__"))
        (broken / "beras" / "__init__.py").write_text("import a_module_nobody_submitted\n")
        timings = {}
        for label, submission in (("passing (the reference)", ROOT / "reference"), ("failing (beras not importable)", broken)):
            command = [sys.executable, "-m", "harness", "grade", str(submission), "--results", f"{folder}/r.json",
                       "--assignment", "beras"]
            timings[label] = wall(command, repeat)
    passing = timings["passing (the reference)"]
    print()
    for label, seconds in timings.items():
        print(f"grade --assignment beras, {label:31} {seconds:7.3f} s   {seconds / passing:5.2f}x passing")


def convolution_check_costs(shape=(8, 16, 16, 3), filters=8, sampled_entries=None):
    rng = np.random.default_rng(0)
    case = Case(f"input {shape}, {filters} 3x3 filters", ((3, 3, shape[-1]), filters), shapes=(shape,))
    spec = Spec(BgdLayer("bgd.layers.conv2d.Convolutional2D"), (case,), has_parameters=True)

    layer = Convolutional2D((3, 3, shape[-1]), filters)
    x = rng.normal(size=shape)
    upstream = np.ones_like(layer.forward(x))

    def forward_backward():
        layer.forward(x)
        layer.backward(upstream)

    forward_backward()
    start = time.perf_counter()
    for _ in range(20):
        forward_backward()
    one_step = (time.perf_counter() - start) / 20

    # Full Jacobian by central differences: 2 forward evaluations per input
    # entry. At large sizes, time a sample of entries and scale (the cost is
    # exactly linear in the number of entries).
    entries = x.size
    timed = min(entries, sampled_entries or entries)
    start = time.perf_counter()
    probe = x.copy()
    for flat in rng.choice(entries, size=timed, replace=False):
        index = np.unravel_index(flat, shape)
        saved = probe[index]
        probe[index] = saved + 1e-6
        layer.forward(probe)
        probe[index] = saved - 1e-6
        layer.forward(probe)
        probe[index] = saved
    full_jacobian = (time.perf_counter() - start) * entries / timed

    with Sandbox(ROOT / "reference") as student, Sandbox(ROOT / "reference") as reference, \
            Sandbox(ROOT / "reference") as student_fd:  # the finite differences' own sandbox (harness/own_forward.py)
        gradcheck.check_input_gradient(spec, case, student, reference, rng, witness="fd", student_fd=student_fd)  # warm all
        times = []
        for _ in range(5):
            start = time.perf_counter()
            gradcheck.check_input_gradient(spec, case, student, reference, rng, witness="fd", student_fd=student_fd)
            times.append(time.perf_counter() - start)
    check = statistics.median(times)
    print(f"\nConvolutional2D, {case.label} ({entries} input entries)")
    print(f"one forward + backward, in-process        {one_step * 1e3:9.2f} ms   (baseline)")
    print(f"one input-gradient check, via the sandbox {check * 1e3:9.2f} ms   {check / one_step:7.1f}x baseline")
    how = "" if timed == entries else f" (from {timed} sampled entries)"
    print(f"full finite-difference Jacobian           {full_jacobian * 1e3:9.2f} ms   {full_jacobian / one_step:7.1f}x baseline{how}")
    print(f"the check is {full_jacobian / check:.0f}x cheaper than the full Jacobian")


if __name__ == "__main__":
    grading_against_startup()
    failing_against_passing()
    convolution_check_costs()
    convolution_check_costs(shape=(32, 32, 32, 3), filters=16, sampled_entries=400)
