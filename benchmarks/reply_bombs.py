"""What a hostile reply costs the judge: time and peak memory per reply bomb.

    python benchmarks/reply_bombs.py [--size MIB] [CASE ...]

Student code runs inside the worker's interpreter and can write any bytes to
the reply pipe (tests/bombs.py forges them). Each case runs in a fresh
process: it starts a Sandbox on the bomb submission, sends one request whose
student function forges the reply, and measures, in the judge's process, the
wall-clock and CPU seconds of that request and the peak resident memory it
added (VmHWM after the request minus VmRSS before it; /proc/self/clear_refs
resets the high-water mark). "normal" is an honest reply of the same size (a
float64 array of --size MiB, default 48): the other rows are compared with it
("x normal") and with the size of the reply they sent ("x size"). Run and
reported, never asserted (tests/test_sandbox.py asserts the bounds).
"""

import argparse
import json
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import bombs  # noqa: E402  (the forging submission)

from harness.sandbox import Limits, Sandbox  # noqa: E402

MiB = 1 << 20


def cases(size: float) -> dict:
    """name -> (kind of bombs.attack.send or "normal", args, ops in the request, request timeout,
    reply MiB, what it is)."""
    return {
        "normal": ("normal", [size], 1, None, size, f"honest reply: a {size:g} MiB float64 array"),
        "nested-lists": ("nested_lists", [size], 1, None, size, f"[[],[],...] ({size:g} MiB of JSON)"),
        "nested-lists-8": ("nested_lists", [7.9], 1, None, 7.9, "[[],[],...] just under the JSON byte limit"),
        "deep": ("deep", [int(size * MiB) // 2], 1, None, size, f"[[[...]]] ({size:g} MiB of JSON)"),
        "deep-1000": ("deep", [1000], 1, None, None, "[[[...]]] 1000 levels (2 KB)"),
        "long-string": ("long_string", [64], 1, None, 64, "one string of 64 MiB"),
        "wide-string-7": ("long_string", [7, True], 1, None, 7, "7 MiB string ending in an astral character"),
        "huge-toc": ("huge_toc", [size], 1, None, size, f"array blob with a {size:g} MiB table of contents"),
        "tiny-arrays": ("tiny_arrays", [200_000], 1, None, 7.5, "200,000 one-byte arrays"),
        "many-frames": ("many_frames", [300], 300, None, 1.8, "300 replies of 1000 empty lists each, one per op"),
        "trickle": ("trickle", [30], 1, 2.0, None, "a reply trickled one byte at a time (request timeout 2 s)"),
    }


def peak_reset() -> bool:
    """Reset this process's VmHWM (Linux >= 4.0); False where it cannot be done."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def status(field: str) -> int:
    """A /proc/self/status field in bytes (VmRSS, VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def measure(name: str, size: float) -> dict:
    """Run one case in this process; its numbers as a dict."""
    kind, args, ops, timeout, _, _ = cases(size)[name]
    with tempfile.TemporaryDirectory() as folder:
        submission = bombs.make_submission(pathlib.Path(folder) / "sub")
        with Sandbox(submission, Limits(timeout=20)) as sandbox:
            sandbox.start()
            if kind == "normal":
                call = {"op": "call", "function": "bombs.attack.normal", "args": list(args)}
            else:  # the bytes are built in an earlier request: only their sending is measured
                sandbox.call("bombs.attack.prepare", kind, *args)
                call = {"op": "call", "function": "bombs.attack.send", "args": [kind, *args]}
            assert sandbox.call("bombs.attack.ping") == 1
            before_rss = status("VmRSS")
            exact = peak_reset()
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            request = [call] + [{"op": "call", "function": "bombs.attack.ping"} for _ in range(ops - 1)]
            try:
                results = sandbox.run(request, timeout=timeout)
                failed = [(i, r) for i, r in enumerate(results) if not r.ok and not r.skipped]
                if not failed:
                    outcome = "ok" if kind == "normal" else "accepted"
                else:
                    index, result = failed[0]
                    outcome = f"op {index}: {result.error.kind}: {result.error.message}"
            except BaseException as exc:  # noqa: BLE001 - a judge crash is what we measure too
                outcome = f"JUDGE RAISED {type(exc).__name__}: {exc}"
            seconds = time.perf_counter() - started
            used = resource.getrusage(resource.RUSAGE_SELF)
            peak = status("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            if outcome == "accepted":
                # A well-formed forgery is accepted (the judge cannot tell it from an honest reply) while
                # the student function still sleeps in the worker: start afresh for the check below.
                sandbox.restart()
            try:  # the judge keeps working (a refused reply has killed the worker: on a fresh one)
                again = sandbox.call("bombs.attack.ping") == 1
            except BaseException:  # noqa: BLE001
                again = False
    return {
        "case": name,
        "seconds": seconds,
        "cpu": (used.ru_utime + used.ru_stime) - (cpu.ru_utime + cpu.ru_stime),
        "peak_mib": max(0, peak - before_rss) / MiB,
        "exact_peak": exact,
        "outcome": outcome[:160],
        "works_after": again,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", help="cases to run (default: all)")
    parser.add_argument("--size", type=float, default=48, help="MiB of the bombs and of the normal reply (default 48)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # run one case in this process, print JSON
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.size)))
        return
    table = cases(args.size)
    names = args.cases or list(table)
    if "normal" not in names:
        names.insert(0, "normal")
    rows = {}
    for name in names:
        run = subprocess.run(
            [sys.executable, __file__, "--one", name, "--size", str(args.size)],
            capture_output=True, text=True, cwd=ROOT, timeout=600,
        )
        lines = run.stdout.strip().splitlines()
        if run.returncode or not lines:
            rows[name] = {"case": name, "error": (run.stderr or run.stdout)[-400:]}
        else:
            rows[name] = json.loads(lines[-1])
    normal = rows["normal"]
    print(f"{'case':15} {'reply MiB':>9} {'wall s':>7} {'cpu s':>6} {'peak MiB':>8} {'x size':>6} "
          f"{'t x normal':>10} {'mem x normal':>12}  outcome")
    for name in names:
        row = rows[name]
        if "error" in row:
            print(f"{name:15} the measuring process failed: {row['error']}")
            continue
        reply = table[name][4]
        x_size = f"{row['peak_mib'] / reply:6.2f}" if reply and reply >= 1 else "     -"
        t_ratio = row["seconds"] / normal["seconds"] if "seconds" in normal else float("nan")
        m_ratio = row["peak_mib"] / normal["peak_mib"] if normal.get("peak_mib") else float("nan")
        reply_text = f"{reply:9.1f}" if reply else "        -"
        print(f"{name:15} {reply_text} {row['seconds']:7.3f} {row['cpu']:6.3f} {row['peak_mib']:8.1f} {x_size} "
              f"{t_ratio:10.2f} {m_ratio:12.2f}  {row['outcome'][:90]}"
              + ("" if row["works_after"] else "  [JUDGE BROKEN AFTERWARDS]"))
    print()
    for name in names:
        print(f"  {name}: {table[name][5]}")
    if not all(row.get("exact_peak", True) for row in rows.values()):
        print("(peak memory is the process's lifetime maximum: /proc/self/clear_refs was not writable)")


if __name__ == "__main__":
    main()
