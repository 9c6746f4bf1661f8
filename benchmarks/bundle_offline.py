"""How often a student bundle's `check` cannot judge a check offline (reported, not asserted).

    python benchmarks/bundle_offline.py                 # every variant, 12 mutants
    python benchmarks/bundle_offline.py --mutants 0     # variants only

Records the public checks' expected values as `harness bundle` does (the
reference and the template played as students, harness/expected.py), then
runs the public checks of every correct submission of tests/variants/ and of
a sample of single-bug mutants (tests/mutants.py) against the recording and
against the live reference, and counts:

- checks that fail with "cannot be judged offline" (a request not recorded);
- checks whose result differs between the recording and the live reference.

Each run is a fresh interpreter: a grading run forks, and its helper thread
and caches must not outlive it (harness/bundle.py records the same way).
"""

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import mutants  # noqa: E402
import variant_corpus  # noqa: E402

from harness import bundle, expected  # noqa: E402

RUN = textwrap.dedent("""\
    import json, pathlib, sys
    from harness.grading import run_checks
    submission, reference = sys.argv[1:3]
    found = [p for p in ("beras", "bgd") if (pathlib.Path(submission) / p).is_dir()]
    outcomes, _ = run_checks(pathlib.Path(submission), found, 0, public_only=True,
                             reference=reference if reference != "-" else None)
    print(json.dumps({o.name: [o.passed, o.output[:200]] for o in outcomes}))
""")


def public_run(submission, reference):
    done = subprocess.run([sys.executable, "-B", "-c", RUN, str(submission), str(reference)], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(label, submission, recording):
    started = time.perf_counter()
    offline = public_run(submission, recording)
    live = public_run(submission, "-")
    missing = [name for name, (_, output) in offline.items() if expected.OFFLINE_MESSAGE in output]
    differ = [name for name in live if name not in missing and live[name][0] != offline.get(name, [None])[0]]
    failed = sum(not passed for passed, _ in live.values())
    print(f"{label:45s} {len(live):4d} checks, {failed:3d} fail live, {len(missing):3d} not recorded, "
          f"{len(differ):3d} differ ({time.perf_counter() - started:.1f} s)", flush=True)
    for name in (missing + differ)[:3]:
        print(f"    {name}")
    return len(missing), len(differ)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=int, default=12, help="how many mutants (spread over the catalog)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gradecheck-offline-") as scratch:
        scratch = pathlib.Path(scratch)
        recording = scratch / "recording"
        started = time.perf_counter()
        bundle.record_expected(ROOT, ROOT / "reference", [ROOT / "reference", ROOT / "student_template"], recording)
        answers, _ = expected.load(recording)
        size = sum(p.stat().st_size for p in recording.iterdir())
        print(f"recording: {len(answers)} requests, {size / 1024:.0f} KiB, {time.perf_counter() - started:.1f} s")
        totals = {"variants": [0, 0], "mutants": [0, 0]}
        for name in variant_corpus.names():
            submission = variant_corpus.materialise(name, scratch / "variants" / name)
            for i, n in enumerate(compare(f"variant {name}", submission, recording)):
                totals["variants"][i] += n
        step = max(1, len(mutants.MUTANTS) // max(1, args.mutants))
        for mutant in mutants.MUTANTS[::step][: args.mutants]:
            submission = mutants.materialise(mutant, scratch / "mutants" / mutant.id)
            for i, n in enumerate(compare(f"mutant {mutant.id}", submission, recording)):
                totals["mutants"][i] += n
        for corpus, (missing, differ) in totals.items():
            print(f"{corpus}: {missing} checks not recorded, {differ} results that differ from the live reference")


if __name__ == "__main__":
    main()
