"""Red-team round on the zygote (harness/sandbox/zygote.py) and the
finite-difference witness (harness/own_forward.py), as a hostile student.

Every attack is student code: a copy of the reference with one method
changed, graded beside a control that differs only by the attack. Where the
defence holds, the test asserts it; where the attack gets through, the test
is marked `xfail(strict=True)` with the reason (the harness is not fixed
here: see the report of this round), so that it turns into a failure, to be
unmarked, the day the hole is closed.

Witness attacks reuse the wrong backward of tests/test_witness_attack.py
(Dense's gradients `GARBAGE` times too large) and its `_forged` answer
(`GARBAGE * y - (GARBAGE - 1) * y0`: a function with the slope the wrong
backward claims, through the graded output y0 at the graded point); they are
graded on the beras generic checks only (`generic_checks`, a subprocess).
Zygote attacks are graded by `python -m harness grade --assignment beras`
(tests/hardening.py) and report what they could do through the message of an
exception raised from `Dense.call`, the ordinary channel of a student.
"""

import json
import os
import re
import secrets
import shutil
from pathlib import Path

import pytest
import test_witness_attack as witness
from hardening import DAEMON, DENSE_CALL, grade, private_tmpdir
from mutants import apply_patch, copy_reference
from test_generic_checks import failures, generic_checks

IS_ROOT = os.getuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="kernel separation (uids, namespaces) needs a root judge")

BERAS_FD_CHECKS = tuple(name for name in witness.FD_CHECKS if name.startswith("beras."))
BERAS_FD_REFERENCE_CHECKS = (
    "beras.layers.Dense: input gradient matches the reference",
    "beras.layers.Dense: weight gradients match the reference",
)


def _beras_generic(folder, seed=1):
    return generic_checks(folder, seed, assignments=("beras",))


def _witness_attack(name, source, destination):
    """The reference with Dense's wrong backward and `source` as its `_attack` (see test_witness_attack)."""
    folder = copy_reference(destination)
    for number, (path, find, replace) in enumerate(witness._patches(source, witness.GARBAGE)):
        if path.startswith("beras/"):
            apply_patch(folder, path, find, replace, label=f"attack {name} patch {number}")
    return folder


# ----------------------------------------------------------------- witness 1
#
# The replay op carries every point of the finite differences in one request
# (`Batch.replay`: "stack", shape (K+1, ...)), the unperturbed point x0 among
# them. The worker keeps that array in the `replay` frame (local `stack`)
# while the forward runs, so the forward reads it before its first answer:
# x0 is the point the others are symmetric about (x0 +- h u, x0 +- h/2 u),
# which is the row nearest the stack's mean. Around it, the forward answers
# f(x0) + GARBAGE (f(x) - f(x0)): exactly f(x0) at x0 (so it reproduces the
# graded output), the wrong slope everywhere else. harness/own_forward.py says
# "none of it gives the forward x0 or the graded output before it must
# answer"; the request does.

READS_THE_STACK = '''
def _replay_stack():
    """The points of the replay op this forward runs in (its frame's `stack`), or None."""
    frame = _sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "replay" and "stack" in frame.f_locals and "own" in frame.f_locals:
            return frame.f_locals["stack"]
        frame = frame.f_back
    return None


def _attack(layer, x, params, y):
    stack = _replay_stack()
    if stack is None:
        return y  # a graded call: honest
    arrays = [np.asarray(a, dtype=float) for a in [x, *params]]
    for which, array in enumerate(arrays):
        if stack.shape[1:] != array.shape or not any(np.array_equal(row, array) for row in stack):
            continue  # not the array being differentiated
        spread = ((stack - stack.mean(0)) ** 2).reshape(len(stack), -1).sum(1)
        centre = list(arrays)
        centre[which] = stack[int(np.argmin(spread))]  # x0: the centre of the symmetric points
        return _forged(y, centre[0] @ centre[1] + centre[2])
    return y
'''


@pytest.fixture(scope="module")
def graded_beras(tmp_path_factory):
    """name -> {check: (passed, points, output)}, each attack graded once (beras generic checks)."""
    sources = {"control": witness.ATTACKS["control"], "reads_the_stack": READS_THE_STACK}
    cache = {}

    def run(name):
        if name not in cache:
            folder = _witness_attack(name, sources[name], tmp_path_factory.mktemp(name) / "submission")
            cache[name] = _beras_generic(folder)
        return cache[name]

    return run


def test_control_wrong_backward_loses_the_finite_difference_checks(graded_beras):
    failed = failures(graded_beras("control"))
    assert set(BERAS_FD_CHECKS) | set(BERAS_FD_REFERENCE_CHECKS) <= set(failed), sorted(failed)


@pytest.mark.xfail(strict=True, reason=(
    "hole: the replay request carries every finite-difference point, x0 among them; the forward reads them "
    "from the worker's `replay` frame before its first answer and forges around x0 (harness/own_forward.py, "
    "worker.Worker.replay)"))
def test_a_forward_that_reads_the_replayed_points_cannot_forge_its_finite_differences(graded_beras):
    results = graded_beras("reads_the_stack")
    failed = failures(results)
    # The attack is a wrong backward all the same: the reference checks see it.
    assert set(BERAS_FD_REFERENCE_CHECKS) <= set(failed), sorted(failed)
    for name in BERAS_FD_CHECKS:
        assert name in results, f"no check named {name}"
        assert name in failed, f"{name} passed with gradients {witness.GARBAGE} times too large"


# ----------------------------------------------------------------- witness 2
#
# A channel between the graded worker and the witness's outside the
# interpreter: /var/tmp (and /run/lock) are world-writable, on the host's
# file system, and not replaced by the worker's private mounts (only the temp
# dir, /dev/shm and the sandbox's HOME are). The graded worker writes each
# graded point and output there; the witness worker, on a point a small step
# from one written by another uid, forges around it (the `near_graded`
# attack of test_witness_attack, across the two processes: no frame is
# inspected). The control writes to its private temp dir instead, which
# nothing shares: the only difference.

SHARED_NOTES = '''
import glob as _glob
import os as _os
import pickle as _pickle

_NOTES = NOTES_DIR


def _attack(layer, x, params, y):
    point = _point(x, params)
    nearest = None
    for note in _glob.glob(_os.path.join(_NOTES, "*.pkl")):
        if note.endswith(f"-{_os.getuid()}.pkl"):
            continue  # our own
        try:
            with open(note, "rb") as stream:
                seen, output = _pickle.load(stream)
        except Exception:
            continue
        if [p.shape for p in seen] != [p.shape for p in point]:
            continue
        distance = max(float(np.max(np.abs(a - b), initial=0.0)) for a, b in zip(point, seen))
        if distance < 0.2 and (nearest is None or distance < nearest[0]):
            nearest = (distance, output)
    if nearest is not None and nearest[0] > 0:
        return _forged(y, nearest[1])  # a point of another worker's graded call, moved a little: watched
    try:
        _os.mkdir(_NOTES)
        _os.chmod(_NOTES, 0o777)  # for the other worker, another uid
    except FileExistsError:
        pass
    name = _os.path.join(_NOTES, f"{len(_os.listdir(_NOTES))}-{_os.getuid()}.pkl")
    with open(name, "wb") as stream:
        _pickle.dump((point, np.array(y, dtype=float)), stream)
    _os.chmod(name, 0o644)
    return y
'''


def _notes_attack(destination, notes_dir_expression):
    return _witness_attack("shared_notes", SHARED_NOTES.replace("NOTES_DIR", notes_dir_expression), destination)


@pytest.fixture(scope="module")
def notes_in_var_tmp(tmp_path_factory):
    """(results, files left) of the attack whose notes go to a fresh folder of
    /var/tmp (the attack makes it; removed afterwards)."""
    if not IS_ROOT:
        pytest.skip("kernel separation (uids, namespaces) needs a root judge")
    notes = Path("/var/tmp") / f"gradecheck-redteam-{secrets.token_hex(6)}"
    try:
        folder = _notes_attack(tmp_path_factory.mktemp("notes") / "submission", repr(str(notes)))
        results = _beras_generic(folder)
        yield results, sorted(os.listdir(notes)) if notes.exists() else []
    finally:
        shutil.rmtree(notes, ignore_errors=True)


@needs_root
def test_control_notes_in_the_private_temp_dir_reach_no_witness(tmp_path):
    folder = _notes_attack(tmp_path / "submission", '_os.path.join(__import__("tempfile").gettempdir(), "notes")')
    failed = failures(_beras_generic(folder))
    assert set(BERAS_FD_CHECKS) <= set(failed), sorted(failed)


def test_notes_left_in_var_tmp_do_not_reach_the_witness(notes_in_var_tmp):
    results, _ = notes_in_var_tmp
    failed = failures(results)
    assert set(BERAS_FD_REFERENCE_CHECKS) <= set(failed), sorted(failed)
    for name in BERAS_FD_CHECKS:
        assert name in failed, f"{name} passed with gradients {witness.GARBAGE} times too large"


def test_a_sandbox_leaves_nothing_in_var_tmp(notes_in_var_tmp):
    _, left = notes_in_var_tmp
    assert not left, f"the sandboxes left {len(left)} files on the host: {left[:4]}"


# ----------------------------------------------------------------- witness 3
#
# Legitimate nondeterminism must not be taken for a forward that "behaves
# differently when it is watched": Dense computing in float32 and summing its
# inner products in an order drawn from np.random at each call (the sum is
# the same up to float32 rounding), with results in float32 or cast back to
# float64; or remembering its results by content; beside the plain
# reference. Every generic check of Dense passes.

RANDOM_ORDER_FLOAT32 = '''        x32, w32 = np.asarray(x, dtype=np.float32), np.asarray(self.w, dtype=np.float32)
        out = np.zeros((x32.shape[0], w32.shape[1]), dtype=np.float32)
        for i in np.random.permutation(x32.shape[1]):  # the order of the sum, drawn anew: rounding only
            out += x32[:, i:i + 1] * w32[i]
        return (out + np.asarray(self.b, dtype=np.float32))CAST
'''


# A forward that remembers its results across calls and objects, keyed by
# the bytes of its input and parameters (right however often it is called).
CONTENT_CACHE = '''        key = b"|".join(np.ascontiguousarray(a).tobytes() + str(np.shape(a)).encode() for a in (x, self.w, self.b))
        if key not in _RESULTS:
            _RESULTS[key] = np.array(nnmath.affine(x, self.w, self.b))
        return _RESULTS[key].copy()
'''


@pytest.mark.parametrize(
    "variant", ["reference", "float32_random_order", "float32_random_order_as_float64", "content_cache"])
def test_correct_forwards_with_irrelevant_randomness_keep_every_dense_check(variant, tmp_path):
    folder = copy_reference(tmp_path / "submission")
    if variant == "content_cache":
        apply_patch(folder, "beras/layers.py", "import numpy as np\n", "import numpy as np\n\n_RESULTS = {}\n")
        apply_patch(folder, "beras/layers.py", DENSE_CALL, CONTENT_CACHE)
    elif variant != "reference":
        cast = ".astype(np.float64)" if variant.endswith("as_float64") else ""
        apply_patch(folder, "beras/layers.py", DENSE_CALL, RANDOM_ORDER_FLOAT32.replace("CAST", cast))
    for seed in (1, 2):
        results = _beras_generic(folder, seed)
        assert set(BERAS_FD_CHECKS) <= set(results)
        failed = failures(results)
        assert not failed, f"seed {seed}: " + "\n\n".join(f"{n}\n{o[:800]}" for n, o in failed.items())


# ------------------------------------------------------------------ zygote 1
#
# Reach the zygote from a worker: find it in /proc (a `worker.py --zygote`
# process whose parent is not one), then read its environment block, its
# memory and its descriptors, signal it, ptrace it, take a descriptor of it
# through a pidfd; look for a socket among one's own descriptors (the
# zygote's, had one leaked); list the folders of other sandboxes named in
# one's own memory (inherited from the zygote's earlier requests). The
# control does the same to a process of its own (an exec'd child), where
# every operation must work: the probe is not broken, the defence is what
# stops it. With namespaces the zygote is not even in sight; without them
# (GRADECHECK_NAMESPACES=off, a container without CAP_SYS_ADMIN) it is, and
# its uid (root) refuses everything.

REACH_PROBE = Path(__file__).with_name("redteam") / "zygote_reach.py"
OPERATIONS = "environ, mem, fd, kill 0, SIGCONT, ptrace, pidfd_getfd"
REACH_ZYGOTE = '''

def _build_report(zygote):
    return {"found": bool(zygote), "ops": _reach(zygote) if zygote else "", "sockets": _sockets(),
            "others": _other_sandboxes()}
'''
REACH_OWN_CHILD = '''

def _build_report(zygote):
    child = _subprocess.Popen([_sys.executable, "-c", "print(1, flush=True); import time; time.sleep(60)"],
                              stdout=_subprocess.PIPE)
    child.stdout.readline()  # exec'd: its own, dumpable process
    try:
        return {"found": bool(zygote), "ops": _reach(child.pid), "sockets": _sockets(), "others": _other_sandboxes()}
    finally:
        child.kill()
        child.wait()
'''


def _reach_submission(destination, target):
    folder = copy_reference(destination)
    code = REACH_PROBE.read_text() + target
    apply_patch(folder, "beras/layers.py", "import numpy as np\n", "import numpy as np\n" + code)
    apply_patch(folder, "beras/layers.py", DENSE_CALL, "        _report()\n" + DENSE_CALL)
    return folder


def _reports(document):
    """Every report the probe raised, from the checks' outputs."""
    found = re.findall(r"REACH(\{.*?\})HCAER", "\n".join(t["output"] for t in document["tests"]))
    return [json.loads(text) for text in dict.fromkeys(found)]


@pytest.fixture(scope="module")
def reached(tmp_path_factory):
    """(target, namespaces) -> the probe's reports, each graded once (beras, seed 3)."""
    cache = {}

    def run(target, namespaces):
        key = (target, namespaces)
        if key not in cache:
            base = tmp_path_factory.mktemp(f"reach-{target}-{namespaces}")
            folder = _reach_submission(base / "submission", REACH_ZYGOTE if target == "zygote" else REACH_OWN_CHILD)
            with private_tmpdir() as tmpdir:
                status, document, _, run = grade(folder, base, tmpdir, "--assignment", "beras", "--seed", "3",
                                                 namespaces=namespaces)
            assert document is not None and status == 1, run.stderr[-2000:]
            cache[key] = _reports(document)
            assert cache[key], "the probe reported nothing: " + json.dumps(document)[:2000]
        return cache[key]

    return run


@needs_root
@pytest.mark.parametrize("namespaces", [True, False], ids=["namespaces", "no-namespaces"])
def test_control_a_worker_can_do_all_of_it_to_a_process_of_its_own(reached, namespaces):
    for report in reached("own", namespaces):
        assert report["ops"] == "YYYYYYY", f"{OPERATIONS}: {report}"


@needs_root
@pytest.mark.parametrize("namespaces", [True, False], ids=["namespaces", "no-namespaces"])
def test_a_worker_cannot_reach_the_zygote(reached, namespaces):
    reports = reached("zygote", namespaces)
    for report in reports:
        assert report["sockets"] == 0, report  # no descriptor of the zygote's
        assert report["others"][1] == 0, f"another sandbox's folder could be listed: {report}"
        if namespaces:
            assert not report["found"], f"the zygote is in sight of a worker: {report}"
        else:
            assert report["found"], report  # in sight (a shared /proc) ...
            assert report["ops"] == "NNNNNNN", f"{OPERATIONS}: {report}"  # ... and out of reach


# ------------------------------------------------------------------ zygote 2
#
# Outlive the judge: a submission with both packages is graded by the judge
# and its forked twin (grading.py `_each_in_parallel`; the twin holds its own
# zygote connection and its sandboxes' lifelines). SIGKILL to the judge's
# pid alone (a supervisor that kills the process it started, not its group)
# used to leave the twin grading, with its sandboxes (student code, and their
# daemons) and the zygote, until its budget ran out; the twin now dies with
# its parent (PR_SET_PDEATHSIG) and takes them along. The control kills the
# group, as tests/test_attacks_grading.py does: nothing is left.



def _children(pid):
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append((int(name), cmdline))
    return found


def _descends_from_any(pid, ancestors):
    for _ in range(20):
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
        if pid in ancestors:
            return True
        if pid in (0, 1):
            return False
    return False


def _killed_judge_leaves(tmp_path, kill):
    """Processes of the run alive 5 s after `kill(judge)`: (sandbox processes, twin, zygote)."""
    import signal
    import subprocess
    import sys
    import time

    from test_attacks_grading import _descends_from_or_daemon, sandbox_uid_processes

    from harness.sandbox import process

    folder = copy_reference(tmp_path / "submission")
    for package in ("beras", "bgd"):
        init = folder / package / "__init__.py"
        init.write_text(init.read_text() + DAEMON)
    apply_patch(folder, "bgd/layers/fc.py", "            return nnmath.affine(X, self.weights, self.biases)\n",
                "            __import__('time').sleep(0.3)  # a slow forward: the twin grades for minutes\n"
                "            return nnmath.affine(X, self.weights, self.biases)\n")
    judge = subprocess.Popen(
        [sys.executable, "-m", "harness", "grade", str(folder), "--results", str(tmp_path / "r.json")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    twins, zygotes, mine = [], [], set()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (twins and zygotes and len(mine) >= 4):
            children = _children(judge.pid)
            twins = [pid for pid, line in children if b"harness\x00grade" in line]
            zygotes = [pid for pid, line in children if b"--zygote" in line]
            mine |= {pid for pid in sandbox_uid_processes() if _descends_from_or_daemon(pid, judge.pid)}
            time.sleep(0.05)
        assert twins and zygotes and mine, (twins, zygotes, mine)
        kill(judge.pid, signal.SIGKILL)
        judge.wait()
        time.sleep(5)
        mine |= {pid for pid in sandbox_uid_processes() if _descends_from_any(pid, set(twins) | set(zygotes))}
        return ([p for p in mine if process.is_alive(p)], [p for p in twins if process.is_alive(p)],
                [p for p in zygotes if process.is_alive(p)])
    finally:
        if judge.poll() is None:
            judge.kill()
            judge.wait()
        for twin in twins:  # the twin we started: its sandboxes' guards and the zygote follow it
            try:
                os.kill(twin, signal.SIGKILL)
            except ProcessLookupError:
                pass


@needs_root
def test_control_killing_the_judges_group_leaves_nothing(tmp_path):
    assert _killed_judge_leaves(tmp_path, os.killpg) == ([], [], [])


@needs_root
def test_killing_the_judge_alone_leaves_nothing(tmp_path):
    sandboxes, twins, zygotes = _killed_judge_leaves(tmp_path, os.kill)
    assert (sandboxes, twins, zygotes) == ([], [], []), \
        f"alive 5 s after the judge: sandbox processes {sandboxes}, twin {twins}, zygote {zygotes}"


# ------------------------------------------------------------------ zygote 3
#
# A spawn storm: a worker that kills itself in every call makes the judge
# fork a new one from the zygote for the next (test_zygote checks one
# restart). After 25 of them the zygote must still answer, hold no zombie
# (every dead worker reaped), and have no child left once the sandbox is
# closed. The control calls a function that returns, in the same sandbox:
# one worker, no restart.


def _zygote_children(zygote_pid):
    """(pid, state) of the zygote's children."""
    found = []
    for pid, _ in _children(zygote_pid):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        found.append((pid, state))
    return found


@pytest.mark.parametrize("call", ["suicide", "control"])
def test_a_worker_that_dies_in_every_call_does_not_exhaust_the_zygote(call, tmp_path):
    from harness.sandbox import Limits, Sandbox, start_zygote, zygote

    folder = tmp_path / "submission"
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "__init__.py").write_text("")
    (folder / "pkg" / "calls.py").write_text(
        "import os\n\n\ndef suicide():\n    os.kill(os.getpid(), 9)\n\n\ndef control():\n    return os.getpid()\n")
    started = start_zygote(1)
    zygote.use(started.connections[0])
    try:
        with Sandbox(folder, Limits(timeout=5)) as sandbox:
            pids = set()
            for _ in range(25):
                sandbox.start()
                assert isinstance(sandbox._resources.worker.popen, zygote.ForkedWorker)  # forked, not exec'd
                pids.add(sandbox.worker_pid)
                [result] = sandbox.run([{"op": "call", "function": f"pkg.calls.{call}"}])
                assert result.ok == (call == "control"), result
            assert len(pids) == (25 if call == "suicide" else 1)
            assert sandbox.call("numpy.add", 2, 3) == 5  # the zygote still answers
            left = _zygote_children(started.popen.pid)
            assert [state for _, state in left].count("Z") == 0, f"zombies of the zygote: {left}"
            assert len(left) == 1, left  # the live worker's guard alone
        assert _zygote_children(started.popen.pid) == []
    finally:
        zygote.use(None)
        started.close()
