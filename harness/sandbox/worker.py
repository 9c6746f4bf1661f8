"""The sandbox worker: runs untrusted student code on behalf of the judge.

The judge (`harness/sandbox/client.py`) copies this file into a private
sandbox directory and starts it, as root or as the judge's own user, with

    python -I -S -B -u worker.py CONFIG_JSON

or forks it from a zygote, this file run as `worker.py --zygote SETUP`
(see `zygote` below and harness/sandbox/zygote.py), which then calls the
same bootstrap() with numpy already imported.
It uses only the standard library and numpy and never imports `harness`.

Life of a worker
  1. bootstrap(): still trusted, no student code loaded yet. Move the two
     protocol pipes to low fds; as root, enter new network, mount, IPC and
     PID namespaces where the system allows (enter_namespaces); fork, this
     process staying behind as the guard that kills the worker when the
     judge dies (split); in the new namespaces, mount a private /proc and
     size-limited tmpfs on the temp dir, /dev/shm and HOME, and hide the
     project (private_mounts, hide_paths); become the PID namespace's init
     and fork once more (become_init); set resource limits, drop root
     privileges (to the sandbox's own uid), forbid regaining them, become a
     child subreaper (without a PID namespace, orphans of student processes
     stay in our process tree, where the judge finds them), build sys.path
     (stdlib, private site dir with numpy and the harness's in-sandbox
     code, then the graded packages), import
     numpy, send "ready".
  2. Worker.serve(): read a request (a list of ops), run the ops in order,
     and send their reply frames (one per op) together when the request
     ends, or as soon as they exceed 64 KiB; before each op, and before
     each evaluation of a map, write (request id, op index, evaluation,
     start time) to the progress file, so that the judge can hold every call
     to its own time limit and name the op a dead worker was running.
     SIGUSR1 makes faulthandler write every thread's stack to the stack file:
     the judge asks for it before it kills a call that ran out of time, to
     name the student function that was running (this works even while C
     code holds the GIL).
     Student code runs only here; any exception, even SystemExit or
     KeyboardInterrupt, fails the op it happened in and the remaining ops
     are reported skipped.
  3. Exit when the judge closes the request pipe. On a timeout the judge
     kills our whole process tree; we never have to cooperate.

Wire format, both directions (the judge's side lives in wire.py):
    frame = b"SBX1" | json_len: u64 LE | npz_len: u64 LE | json | npz
The JSON holds the structure; arrays travel in the npz (no pickle) and are
referenced from the JSON as {"$array": key}. Other value forms:
{"$tuple": [...]}, {"$dict": {...}} (a dict whose keys start with "$"),
{"$ref": handle-or-name, "path": [...]} (an object kept in this process).

Student stdout/stderr are files the judge opened (fds 1 and 2, append
mode); each reply frame says which byte range the op wrote, and the judge
reads it from the files itself. The protocol never shares a channel with
student output.

This process is not a security boundary against the student: student code
runs in this interpreter and can rewrite anything here, including its own
replies. The judge treats every reply as untrusted data; the boundary is
the process, its limits and its uid.
"""

import ctypes
import faulthandler
import importlib
import io
import json
import math
import os
import resource
import select  # here, not in the guard: the worker remounts the file system under it
import signal
import socket
import struct
import sys
import threading
import time
import traceback

MAGIC = b"SBX2"
HEADER = struct.Struct("<4sQQ")
NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floats
MAX_DEPTH = 32  # deeper containers come back as refs
# What one request's replies may hold, all together (the judge refuses more
# as a protocol error, harness/sandbox/wire.py ReplyBudget): an op over
# these fails as a "result" error instead. Arrays: wire.MAX_ARRAYS. Bytes:
# the message limit, less a reserve for the error reply of the op that
# crossed it (the judge allows the limit and a little per reply).
MAX_ARRAYS = 10_000
REPLY_RESERVE = 256 * 1024
MAX_NDIM = 32  # dimensions of an array (wire.MAX_NDIM)
MESSAGE_CHARS = 4000
TRACEBACK_CHARS = 8000
TYPE_CHARS = 200
# The progress record: request id, op index, evaluation of a map (-1: none),
# time.monotonic() when it started (the judge's clock too: CLOCK_MONOTONIC).
PROGRESS = struct.Struct("<QQqd")
# The evaluation field of a record that says: in an op that makes many calls
# (its "calls" field), one call of the submission's code has run longer than
# the per-call limit (its start time is the record's).
STALLED = -2
# ... that the running op entered a submission function the judge refuses
# (one that timed out earlier in the run: the request's "refused" list).
REFUSED = -3
# The array key that stands, in the ops of a replay's body, for the slice of
# the stack each evaluation replaces (the judge's keys are "a0", "a1", ...).
SLOT = "$slot"

np = None  # imported by bootstrap() once the limits are in place


class BadRequest(Exception):
    """The judge sent an op this worker cannot run (a harness bug, or a stale handle)."""


class UnsupportedResult(Exception):
    """An op's value cannot be sent back (dtype, size)."""


class Replayed:
    """The value of a replay op, already encoded: one list of nodes per evaluation, and their arrays."""

    def __init__(self, evaluations, arrays):
        self.evaluations = evaluations
        self.arrays = arrays


# --------------------------------------------------------------- bootstrap


def low_fd(fd):
    """Move `fd` to the lowest free descriptor, close-on-exec."""
    new = os.dup(fd)
    os.close(fd)
    os.set_inheritable(new, False)
    return new


def set_limit(which, value):
    if value is not None:
        value = int(value)
        resource.setrlimit(which, (value, value))


def apply_limits(config):
    limits = config["limits"]
    set_limit(resource.RLIMIT_CORE, 0)
    set_limit(resource.RLIMIT_AS, limits["memory_bytes"])
    set_limit(resource.RLIMIT_FSIZE, limits["file_size_bytes"])
    set_limit(resource.RLIMIT_NOFILE, limits["open_files"])
    set_limit(resource.RLIMIT_NPROC, config["nproc"])


def libc_call(name, *args):
    libc = ctypes.CDLL(None, use_errno=True)
    return getattr(libc, name)(*args) == 0


CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x08000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
# Per-mount options a read-only remount must keep (a bind remount sets them all anew).
MOUNT_OPTION_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": 0x400,
                      "nodiratime": 0x800, "relatime": 1 << 21}
PR_SET_PDEATHSIG = 1


def unshare(flag):
    """Enter a new namespace of one kind; False where the system refuses
    (not root, or a container without CAP_SYS_ADMIN)."""
    try:
        return libc_call("unshare", flag)
    except (OSError, AttributeError):
        return False


def mount(source, target, fstype, flags, data=None):
    libc = ctypes.CDLL(None, use_errno=True)
    encode = lambda text: None if text is None else os.fsencode(str(text))  # noqa: E731 - any path's own bytes
    return libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)) == 0


def enter_namespaces(config):
    """New network (unless allowed), mount, IPC and PID namespaces, each
    where the system allows it; the names of those entered. Needs root.

    The PID namespace applies to our children: `split()` makes the first one
    its init, so that when it dies the kernel kills every process in it
    (setsid daemons, orphans, anything), and the worker sees no process but
    its own. The IPC namespace gives it System V objects and POSIX queues of
    its own, gone with it.
    """
    if os.getuid() != 0 or not config["limits"].get("namespaces", True):
        return set()
    wanted = [("mount", CLONE_NEWNS), ("ipc", CLONE_NEWIPC), ("pid", CLONE_NEWPID)]
    if not config["limits"]["network"]:
        wanted.insert(0, ("network", CLONE_NEWNET))
    return {name for name, flag in wanted if unshare(flag)}


def split(lifeline, child_is_init=False, owner=None):
    """Fork the process that will run student code; this one stays behind as
    its guard and never returns.

    The guard runs no student code (and, as root, cannot be signalled by the
    worker's uid). It kills the worker when the judge dies (`lifeline`, a
    pipe whose other end only the judge holds, reads end-of-file however the
    judge ends), passes SIGUSR1 (the judge's "where are you?") and SIGTERM
    on, and ends with the worker's status, so that to the judge it is the
    worker. The worker in turn dies with its guard (PR_SET_PDEATHSIG).
    `child_is_init`: the child is a PID namespace's init (see become_init);
    `owner`: the uid the worker will run as, when it is the sandbox's alone.
    """
    child = _fork_watched()
    if child == 0:
        os.close(lifeline)
        return
    for fd in range(3, 1024):  # the pipes and files are the worker's business alone
        if fd != lifeline:
            try:
                os.close(fd)
            except OSError:
                pass
    status = _wait(child, lifeline, owner)
    if child_is_init and os.WIFEXITED(status) and 128 < os.WEXITSTATUS(status) < 128 + signal.NSIG:
        status = os.WEXITSTATUS(status) - 128  # the worker died of that signal (see _mirror)
    _mirror(status)


def become_init():
    """In a new PID namespace we are its init (pid 1), whose death takes every
    process of the namespace with it, and to whom orphans are given. The init
    of a namespace ignores signals it has no handler for, even its own
    kill(getpid(), SIGKILL) or abort(): student code must not run as it. So
    init forks the worker (pid 2), reaps orphans, passes signals on, and
    ends with the worker's status. Returns in the worker."""
    if os.getpid() != 1:
        return
    child = _fork_watched()
    if child == 0:
        return
    _mirror(_wait(child, None))


def _fork_watched():
    """fork(); the child dies with us (PR_SET_PDEATHSIG) and our signals for
    it (SIGUSR1, SIGTERM, SIGINT, SIGHUP) reach it."""
    parent = os.getpid()
    child = os.fork()
    if child == 0:
        for signum in FORWARDED:
            signal.signal(signum, signal.SIG_DFL)
        libc_call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # Our parent died before we could ask? (In a new PID namespace the
        # parent, outside it, shows as 0.)
        if os.getppid() not in (parent, 0):
            os._exit(70)
        return 0
    for signum in FORWARDED:
        signal.signal(signum, lambda number, _frame: _pass_on(child, number))
    return child


FORWARDED = (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _pass_on(child, number):
    try:
        os.kill(child, number)
    except OSError:
        pass


def _wait(child, lifeline, owner=None):
    """The wait status of `child`, reaping any other child meanwhile (orphans,
    when we are a namespace's init); SIGKILL it first if `lifeline` ends, and
    every process of the uid `owner` (the sandbox's own) with it."""
    poller = select.poll()
    if lifeline is not None:
        poller.register(lifeline, select.POLLIN | select.POLLHUP)
    try:
        child_fd = os.pidfd_open(child)
        poller.register(child_fd, select.POLLIN)
    except (AttributeError, OSError):
        child_fd = None
    while True:
        try:
            while True:  # reap whatever has ended
                done, status = os.waitpid(-1, os.WNOHANG)
                if done == child:
                    return status
                if done == 0:
                    break
        except ChildProcessError:
            return 0
        for fd, _ in poller.poll(None if child_fd is not None else 50):
            if fd == lifeline:  # the judge never writes: any event is its end
                _pass_on(child, signal.SIGKILL)
                if owner is not None:  # without a PID namespace, a setsid daemon is no child of ours
                    kill_every_process_of(owner)
                poller.unregister(lifeline)
                lifeline = None


def kill_every_process_of(uid):
    """SIGSTOP, then SIGKILL, every process whose real uid is `uid` (the
    sandbox's own, so nothing else), until none is left."""
    for _ in range(50):
        found = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    if os.stat(f"/proc/{name}").st_uid == uid:
                        found.append(int(name))
                except OSError:
                    pass
        if not found:
            return
        for number in (signal.SIGSTOP, signal.SIGKILL):  # stopped first: a stopped process cannot fork
            for pid in found:
                _pass_on(pid, number)


def _mirror(status):
    """End as the child whose wait `status` this is ended: the same exit code,
    or the same signal. A namespace's init cannot signal itself to death; it
    exits 128 + the signal instead, which its guard turns back (split)."""
    set_limit(resource.RLIMIT_CORE, 0)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        if os.getpid() == 1:  # a namespace's init cannot signal itself to death
            os._exit(128 + number)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 70)


def private_mounts(config, uid, gid):
    """In the worker's own mount namespace: a /proc that lists only its PID
    namespace, and fresh size-limited tmpfs on the temp dir, on /dev/shm and
    on the sandbox's tmp/ (HOME, TMPDIR). What lives in the real temp dir
    (other sandboxes, the judge's files) is out of sight and out of reach,
    filling them cannot starve the judge, and each worker starts empty.
    The sandbox folder and the runtime mirror (`keep`) are bound back at
    their own paths. Returns the names of what was set up."""
    done = set()
    if not mount(None, "/", None, MS_REC | MS_PRIVATE):
        return done
    if mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC):
        done.add("proc")
    size = config["limits"].get("tmp_bytes") or 64 * 2**20
    tmp_root = config["tmp_root"]
    keep = sorted(k for k in config["keep"] if k.startswith(tmp_root.rstrip("/") + "/") and os.path.isdir(k))
    try:
        held = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in keep]
    except OSError:
        held = None
    if held is not None and mount("tmpfs", tmp_root, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777"):
        for path, fd in held:
            os.makedirs(path, mode=0o711, exist_ok=True)
            if not mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC):
                raise SystemExit(f"sandbox worker: could not keep {path} in sight")
            os.close(fd)
        done.add("tmp")
    owner = f",uid={uid},gid={gid}" if uid is not None else ""
    if mount("tmpfs", config["sandbox_tmp"], "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=0700{owner}"):
        done.add("home")
    if os.path.isdir("/dev/shm") and mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777"):
        done.add("shm")
    return done


def _mount_points():
    """[(mount point, its per-mount options)] of this mount namespace, from /proc/self/mountinfo."""
    found = []
    with open("/proc/self/mountinfo", "rb") as table:
        for line in table:
            fields = line.split()
            point = fields[4]
            # The kernel writes space, tab, newline and backslash as \ooo (backslash last: it may start the others).
            for code in (b"\\040", b"\\011", b"\\012", b"\\134"):
                point = point.replace(code, bytes([int(code[1:], 8)]))
            found.append((os.fsdecode(point), fields[5].decode("ascii", "replace").split(",")))
    return found


def read_only_elsewhere(config):
    """Remount every file system of the worker's mount namespace read-only,
    but its own tmpfs (the temp dir, HOME, /dev/shm) and /dev, /proc, /sys: a
    world-writable folder we did not think of (/var/tmp, /run/lock,
    /dev/mqueue) can then neither carry notes from one worker to another (the
    graded worker to its finite-difference witness) nor be left full on the
    host. Each mount keeps its other options (nosuid, nodev, ...). Returns
    True when every remount succeeded."""
    ours = {config["tmp_root"], config["sandbox_tmp"], "/dev/shm", "/dev"}
    spared = ("/proc", "/sys")
    done = True
    for point, options in _mount_points():
        if point in ours or any(point == top or point.startswith(top + "/") for top in spared):
            continue
        if "ro" in options:
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for option in options:
            flags |= MOUNT_OPTION_FLAGS.get(option, 0)
        if not mount(None, point, None, flags):
            done = False
    return done


def hide_paths(paths, keep):
    """Each of `paths` shows an empty, read-only tmpfs in the worker's mount
    namespace: the project (reference solutions, the harness) cannot be
    read, nor imported by adding it to sys.path. Needs root. A path that holds
    something the worker needs (`keep`) is left alone. True when every path
    is hidden."""
    if not paths or os.getuid() != 0:
        return False
    flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
    hidden = True
    for path in paths:
        if not os.path.isdir(path):
            continue
        if any(k == path or k.startswith(path.rstrip("/") + "/") for k in keep):
            hidden = False  # it holds what the worker needs: left in sight
            continue
        # A path already out of sight (a clone under the temp dir, which the
        # worker's private temp dir replaced) is hidden as it is.
        hidden = mount("tmpfs", path, "tmpfs", flags, "size=4k") and hidden
    return hidden


def drop_privileges(uid, gid):
    if uid is None or os.getuid() != 0:
        return
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise SystemExit("sandbox worker: could not drop root privileges")


def bootstrap(config):
    global np
    fd_in, fd_out = low_fd(config["fd_in"]), low_fd(config["fd_out"])
    fd_progress = low_fd(config["fd_progress"])
    fd_stack = low_fd(config["fd_stack"]) if config.get("fd_stack") is not None else None
    saved_stdout, saved_stderr = low_fd(os.dup(1)), low_fd(os.dup(2))
    os.umask(0o077)
    set_limit(resource.RLIMIT_CORE, 0)
    namespaces = enter_namespaces(config)
    split(config["lifeline"], child_is_init="pid" in namespaces, owner=config["uid"] if config.get("own_uid") else None)
    isolation = set(namespaces)
    if "mount" in namespaces:
        isolation |= private_mounts(config, config["uid"], config["gid"])
    keep = [config["workdir"], config["sitedir"], os.path.realpath(sys.executable)]
    hidden = "mount" in namespaces and hide_paths(config.get("hide", []), keep)
    if "mount" in namespaces and read_only_elsewhere(config):
        isolation.add("read-only")
    become_init()
    apply_limits(config)
    drop_privileges(config["uid"], config["gid"])
    PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 36, 38
    libc_call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc_call("prctl", PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # without a PID namespace, orphans stay ours
    faulthandler.enable()  # a segfault prints where it happened on student stderr
    if fd_stack is not None:  # the judge's question "where are you?" before it kills a slow call
        faulthandler.register(signal.SIGUSR1, file=fd_stack, all_threads=True, chain=False)
    os.chdir(config["workdir"])
    stdlib = list(sys.path)  # -I -S: the standard library only
    sys.path[:] = stdlib + [config["sitedir"]]
    import numpy

    np = numpy
    # The standard library and numpy first: a student's module can never
    # shadow them (only the graded packages and what they import are copied).
    sys.path[:] = stdlib + [config["sitedir"], config["workdir"]]
    worker = Worker(config, Channel(fd_in, fd_out), saved_stdout, saved_stderr, fd_progress)
    worker.start_watchdog()
    worker.channel.send(
        {
            "ready": True,
            "pid": os.getpid(),
            "uid": os.getuid(),
            "python": sys.version.split()[0],
            "numpy": numpy.__version__,
            "network_isolated": "network" in isolation,
            "paths_hidden": hidden,
            "isolation": sorted(isolation),
        }
    )
    return worker


# ----------------------------------------------------------------- channel


# Arrays travel as `toc_len: u32 LE | toc JSON | raw bytes`: the table of
# contents lists [key, dtype string, shape] and the data follow in that
# order, C-contiguous. No zip, no pickle; the judge parses it in wire.py.
TOC = struct.Struct("<I")


def pack_arrays(arrays):
    parts, toc = [], []
    for key, array in arrays.items():
        array = np.asarray(array)  # tobytes() writes C order, whatever the layout
        toc.append([key, array.dtype.str, list(array.shape)])
        parts.append(array.tobytes())
    head = json.dumps(toc, separators=(",", ":")).encode()
    return TOC.pack(len(head)) + head + b"".join(parts)


def unpack_arrays(blob):
    (head_len,) = TOC.unpack_from(blob)
    offset = TOC.size + head_len
    arrays = {}
    for key, dtype, shape in json.loads(blob[TOC.size : offset]):
        dtype = np.dtype(dtype)
        if dtype.kind not in "biuf":
            raise SystemExit("sandbox worker: bad array from the judge")
        size = dtype.itemsize * math.prod(shape)
        arrays[key] = np.frombuffer(blob, dtype, math.prod(shape), offset).reshape(shape).copy()
        offset += size
    return arrays


class Channel:
    """Frames over two pipes: requests in, replies out."""

    def __init__(self, fd_in, fd_out):
        self.fd_in = fd_in
        self.fd_out = fd_out

    def _read_exact(self, size):
        chunks, got = [], 0
        while got < size:
            chunk = os.read(self.fd_in, min(size - got, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def receive(self):
        """The next request as (message, arrays), or None once the judge hung up."""
        header = self._read_exact(HEADER.size)
        if header is None:
            return None
        magic, json_len, blob_len = HEADER.unpack(header)
        if magic != MAGIC:
            raise SystemExit("sandbox worker: bad frame from the judge")
        message = json.loads(self._read_exact(json_len) or b"null")
        arrays = unpack_arrays(self._read_exact(blob_len)) if blob_len else {}
        return message, arrays

    @staticmethod
    def pack(message, arrays=None):
        body = json.dumps(message, separators=(",", ":")).encode()
        blob = pack_arrays(arrays) if arrays else b""
        return HEADER.pack(MAGIC, len(body), len(blob)), body, blob

    def send_parts(self, parts):
        """Write every part, in order, without joining them (writev)."""
        views = [memoryview(part) for part in parts if len(part)]
        first = 0
        while first < len(views):
            written = os.writev(self.fd_out, views[first : first + 512])
            while first < len(views) and written >= len(views[first]):
                written -= len(views[first])
                first += 1
            if written:
                views[first] = views[first][written:]

    def send(self, message, arrays=None):
        self.send_parts(self.pack(message, arrays))


# ------------------------------------------------------------------ values


def qualname(cls):
    try:
        module = getattr(cls, "__module__", None) or "?"
        name = f"{module}.{cls.__qualname__}" if module != "builtins" else cls.__qualname__
        return str(name)[:TYPE_CHARS]
    except Exception:
        return "?"


def follow(value, path):
    """value[step] for int steps; value[key] (dicts) or getattr for str steps."""
    for step in path:
        if isinstance(step, str) and not isinstance(value, dict):
            value = getattr(value, step)
        else:
            value = value[step]
    return value


def resolve(dotted):
    """The object named "package.module.Name[.attr...]", importing as needed."""
    parts = dotted.split(".")
    # A package whose __init__ raises is broken for every use, although the
    # submodules its first attempt imported stay in sys.modules (where a later
    # import of them would find them): import the package itself each time,
    # which costs nothing once it has succeeded.
    importlib.import_module(parts[0])
    first_error = None
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # Only "this prefix is not a module" lets us try a shorter one;
            # a failing import *inside* the student's module is their error.
            missing = exc.name or ""
            if not (module_name == missing or module_name.startswith(missing + ".")):
                raise
            first_error = first_error or exc
            continue
        try:
            return follow(obj, parts[split:])
        except AttributeError:
            if first_error is not None:
                raise first_error from None
            raise
    if first_error is not None:
        raise first_error
    return importlib.import_module(dotted)


class Encoder:
    """Turns one op's value into JSON + arrays; anything else becomes a ref."""

    def __init__(self, worker):
        self.worker = worker
        self.arrays = {}
        self.nbytes = 0

    def array(self, value):
        if isinstance(value, np.ndarray):
            plain = np.ndarray.view(value, np.ndarray)  # drop any subclass (e.g. Tensor)
        else:  # a numpy scalar
            plain = np.asarray(value)
        dtype = plain.dtype
        # The judge's rules (wire.ALLOWED_DTYPES, MAX_NDIM, ReplyBudget): an array it would refuse
        # as a protocol error is a "result" error here (a long double, a zero-size array of shape
        # (0, 2**40) or of 40 dimensions are honest numpy arrays).
        if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.itemsize > 8:
            raise UnsupportedResult(
                f"cannot return an array of dtype {dtype}: only bool, integer and "
                "float arrays of up to 64 bits cross the sandbox boundary"
            )
        if plain.ndim > MAX_NDIM or any(n > self.worker.message_bytes for n in plain.shape):
            raise UnsupportedResult(
                f"cannot return an array of shape {plain.shape}: at most {MAX_NDIM} dimensions "
                f"of at most {self.worker.message_bytes} each cross the sandbox boundary"
            )
        self.nbytes += plain.nbytes
        if self.nbytes > self.worker.message_bytes:
            raise UnsupportedResult(
                f"result too large: more than {self.worker.message_bytes} bytes of arrays"
            )
        self.worker.reply_arrays += 1
        if self.worker.reply_arrays > MAX_ARRAYS:
            raise UnsupportedResult(f"result too large: more than {MAX_ARRAYS} arrays in one request")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = plain
        node = {"$array": key}
        if type(value) is not np.ndarray:
            node["type"] = qualname(type(value))
        return node

    def encode(self, value, depth=0):
        # Builtin containers and scalars are read through their base-class
        # methods, so a subclass's overrides never run here.
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            number = int.__int__(value)
            if -(2**63) <= number < 2**63:
                return number
        elif isinstance(value, float):
            return float.__float__(value)
        elif isinstance(value, str):
            return str.__str__(value)
        elif isinstance(value, (np.ndarray, np.generic)):
            return self.array(value)
        elif depth < MAX_DEPTH:
            if isinstance(value, tuple):
                return {"$tuple": [self.encode(v, depth + 1) for v in tuple.__iter__(value)]}
            if isinstance(value, list):
                return [self.encode(v, depth + 1) for v in list.__iter__(value)]
            if isinstance(value, dict) and all(isinstance(k, str) for k in dict.keys(value)):
                items = {str.__str__(k): self.encode(v, depth + 1) for k, v in dict.items(value)}
                if any(key.startswith("$") for key in items):
                    return {"$dict": items}
                return items
        return self.worker.store(value)


def describe_error(exc, workdir, kind=None):
    """{"type", "message", "traceback", "kind"} for an exception, frames in the submission only."""
    cls = type(exc)
    if kind is None:
        if isinstance(exc, BadRequest):
            kind = "request"
        elif isinstance(exc, UnsupportedResult):
            kind = "result"
        elif isinstance(exc, MemoryError):
            kind = "memory"
        else:
            kind = "exception"
    try:
        message = str(exc)
    except BaseException:
        message = "<the exception's message could not be printed>"
    prefix = workdir + os.sep
    frames = traceback.extract_tb(exc.__traceback__)
    frames = [frame for frame in frames if frame.filename.startswith(prefix)]
    for frame in frames:
        frame.filename = frame.filename[len(prefix) :]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames)
    try:
        lines += traceback.format_exception_only(cls, exc)
    except BaseException:
        lines.append(f"{qualname(cls)}: {message}\n")
    text = "".join(lines)
    where = innermost_submission_function(exc.__traceback__, prefix)
    if len(text) > TRACEBACK_CHARS:
        half = TRACEBACK_CHARS // 2
        text = text[:half] + "\n  [... traceback shortened ...]\n" + text[-half:]
    return {
        "type": qualname(cls),
        "message": message[:MESSAGE_CHARS],
        "traceback": text,
        "kind": kind,
        "where": where,
    }


def innermost_submission_function(tb, prefix):
    """"beras.layers:Dense.call": the submission's function where the exception arose
    (its innermost frame in the submission), so the judge can tell which class is at fault."""
    where = ""
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.startswith(prefix):
            module = code.co_filename[len(prefix):].removesuffix(".py").replace(os.sep, ".").removesuffix(".__init__")
            name = getattr(code, "co_qualname", None)  # Python >= 3.11
            if name is None:
                owner = tb.tb_frame.f_locals.get("self")
                name = f"{type(owner).__name__}.{code.co_name}" if owner is not None else code.co_name
            where = f"{module}:{name}"
        tb = tb.tb_next
    return where


def check_same_size(target, value, what):
    """`target[...] = value` is how the harness sets a parameter (SPEC 4): numpy broadcasts a
    (1, n) value into an (n,) array; a value of another size means a parameter of the wrong shape."""
    if target.size != value.size:
        raise ValueError(f"{what}: the array has shape {target.shape}, the value {value.shape}")


# -------------------------------------------------------------------- ops


class Worker:
    def __init__(self, config, channel, saved_stdout, saved_stderr, fd_progress):
        self.channel = channel
        self.fd_progress = fd_progress
        self.workdir = config["workdir"]
        self.limits = config["limits"]
        self.message_bytes = int(self.limits["message_bytes"])
        self.saved_fds = (saved_stdout, saved_stderr)
        self.streams = (sys.stdout, sys.stderr)
        self.objects = {}  # handle -> object kept for the judge
        self.next_handle = 1
        self.request_id = None
        self.index = 0  # the op running
        self.watching = None  # (request id, op index, makes many calls) of the op the watchdog watches
        self.refused = frozenset()  # "module:qualname" of functions the judge will not let run
        self.reply_bytes = 0  # bytes of the current request's replies so far
        self.reply_arrays = 0  # ... and arrays
        self.progress_lock = threading.Lock()

    # -- handles

    def store(self, value):
        handle = self.next_handle
        self.next_handle += 1
        self.objects[handle] = value
        return {"$ref": handle, "type": qualname(type(value))}

    def lookup(self, node, scope):
        key = node["$ref"]
        if isinstance(key, str):
            if key not in scope:
                raise BadRequest(f"no earlier op in this request is named {key!r}")
            value = scope[key]
        elif key in self.objects:
            value = self.objects[key]
        else:
            raise BadRequest(f"unknown handle {key} (released, or from another worker)")
        return follow(value, node.get("path") or [])

    def decode(self, node, arrays, scope):
        """A request value -> Python. Arrays are fresh copies at every call."""
        if isinstance(node, list):
            return [self.decode(item, arrays, scope) for item in node]
        if not isinstance(node, dict):
            return node
        if "$array" in node:
            array = arrays[node["$array"]].copy()
            return array[()] if node.get("scalar") else array
        if "$tuple" in node:
            return tuple(self.decode(item, arrays, scope) for item in node["$tuple"])
        if "$ref" in node:
            return self.lookup(node, scope)
        items = node.get("$dict", node)
        return {key: self.decode(value, arrays, scope) for key, value in items.items()}

    # -- running ops

    def callee(self, op, decode):
        if op.get("target") is not None:
            target = decode(op["target"])
        elif op.get("function"):
            target = resolve(op["function"])
        else:
            raise BadRequest(f"{op['op']} needs a target or a function")
        return getattr(target, op["method"]) if op.get("method") else target

    def run_op(self, op, arrays, scope):
        """Execute one op and return its (unencoded) value."""
        kind = op.get("op")

        def decode(node):
            return self.decode(node, arrays, scope)

        if kind != "map" and op.get("seed") is not None:
            np.random.seed(op["seed"])
        if kind == "new":
            value = resolve(op["class"])(*decode(op.get("args", [])), **decode(op.get("kwargs", {})))
        elif kind == "call":
            function = self.callee(op, decode)
            value = function(*decode(op.get("args", [])), **decode(op.get("kwargs", {})))
        elif kind == "getattr":
            value = follow(decode(op["target"]), op["name"].split("."))
        elif kind == "setattr":
            *path, name = op["name"].split(".")
            setattr(follow(decode(op["target"]), path), name, decode(op.get("value")))
            value = None
        elif kind == "assign":
            value = self.assign(decode(op["target"]), decode(op["value"]))
        elif kind == "map":
            value = self.map(op, decode)
        elif kind == "replay":
            value = self.replay(op, arrays, scope)
        elif kind == "import":
            importlib.import_module(op["module"])
            value = None
        elif kind == "release":
            for handle in op.get("handles", []):
                self.objects.pop(handle, None)
            value = None
        else:
            raise BadRequest(f"unknown op {kind!r}")
        if op.get("pick"):
            value = follow(value, op["pick"])
        self.bind(op.get("as"), value, scope)
        return value

    @staticmethod
    def assign(target, value):
        if not isinstance(target, np.ndarray):
            raise BadRequest(f"assign needs an ndarray target, got {qualname(type(target))}")
        value = np.asarray(value)
        check_same_size(target, value, "assign")
        target[...] = value  # numpy's broadcasting, as SPEC 4's `w[...] = value`
        return None

    @staticmethod
    def bind(names, value, scope):
        if names is None:
            return
        if isinstance(names, str):
            scope[names] = value
            return
        items = list(value)
        if len(items) != len(names):
            raise ValueError(f"expected {len(names)} values to unpack, got {len(items)}")
        scope.update(zip(names, items))

    def map(self, op, decode):
        """Evaluate once per slice of op["stack"]; return the (K, ...) stack of results."""
        function = self.callee(op, decode)
        stack = decode(op["stack"])
        if not isinstance(stack, np.ndarray) or stack.ndim == 0:
            raise BadRequest("map needs a stack array of shape (K, ...)")
        into = decode(op["write_into"]) if op.get("write_into") is not None else None
        arg_index, arg_name = op.get("arg_index"), op.get("arg_name")
        if (into is None) == (arg_index is None and arg_name is None):
            raise BadRequest("map needs exactly one of arg_index/arg_name and write_into")
        if into is not None:
            if not isinstance(into, np.ndarray):
                raise BadRequest(f"write_into needs an ndarray, got {qualname(type(into))}")
            check_same_size(into, stack[0], "map")
            saved = into.copy()
        seed, pick = op.get("seed"), op.get("pick")
        results = []
        try:
            for k in range(stack.shape[0]):
                args, kwargs = decode(op.get("args", [])), decode(op.get("kwargs", {}))
                if into is not None:
                    into[...] = stack[k]
                elif arg_name is not None:
                    kwargs[arg_name] = stack[k].copy()
                else:
                    if not 0 <= arg_index < len(args):
                        raise BadRequest(f"arg_index {arg_index} but only {len(args)} args")
                    args[arg_index] = stack[k].copy()
                if seed is not None:
                    np.random.seed(seed)
                self.progress(self.index, k)  # every evaluation is a call of its own, with its own limit
                value = function(*args, **kwargs)
                if pick:
                    value = follow(value, pick)
                results.append(self.as_numeric(value, k, results))
        finally:
            if into is not None:
                into[...] = saved
        if not results:
            return np.empty((0,))
        return np.stack(results)

    def replay(self, op, arrays, scope):
        """Run the ops of op["body"] once per slice of op["stack"], each time
        as a request of those ops alone runs them: an array argument written
        {"$array": SLOT} is a fresh copy of the slice at each use (as any
        array argument is a fresh copy of what the judge sent), the names the
        ops bind are the evaluation's own, objects are kept as a request keeps
        them (`new`, "keep") and, once the evaluation is over, nothing else of
        it is held here. The value: for each evaluation, the values of the
        ops op["collect"] lists, encoded as replies are, their arrays copied
        (so no object of the student's outlives its evaluation for their
        sake); the other ops' values are not sent (encoding runs no student
        code: nothing to see there)."""
        body, collect = op.get("body"), op.get("collect")
        if not isinstance(body, list) or not body or not all(
            isinstance(sub, dict) and sub.get("op") not in ("map", "replay", "release") for sub in body
        ):
            raise BadRequest("replay needs a body of plain ops (no map, replay or release)")
        if not isinstance(collect, list) or not all(type(j) is int and 0 <= j < len(body) for j in collect):
            raise BadRequest("replay needs the indices of the body ops to collect")
        stack = self.decode(op.get("stack"), arrays, scope)
        if not isinstance(stack, np.ndarray) or stack.ndim == 0:
            raise BadRequest("replay needs a stack array of shape (K, ...)")
        encoder = Encoder(self)
        evaluations = []
        own = dict(arrays)
        collect = set(collect)
        for k in range(stack.shape[0]):
            own[SLOT] = stack[k]  # decoded into a fresh copy at every use
            names = dict(scope)
            self.progress(self.index, k)  # every evaluation has its own limit (op["calls"] calls)
            collected = []
            for j, sub in enumerate(body):
                value = self.run_op(sub, own, names)
                if j in collect:
                    first = len(encoder.arrays)
                    node, _ = self.encode_value(sub, value, encoder)
                    for key in list(encoder.arrays)[first:]:
                        encoder.arrays[key] = np.array(encoder.arrays[key], copy=True)
                    collected.append(node)
                elif sub.get("keep") or sub.get("op") == "new":
                    self.encode_value(sub, value)  # kept, as a request keeps it (its object lives on)
            evaluations.append(collected)
            del names, value  # the evaluation's objects go, as a request's go at its end
        return Replayed(evaluations, encoder.arrays)

    @staticmethod
    def as_numeric(value, k, earlier):
        if value is None:
            raise TypeError(f"map: evaluation {k} returned None")
        array = np.array(value, copy=True, subok=False)  # a copy: later calls may mutate it
        if array.dtype.kind not in NUMERIC_KINDS:
            raise TypeError(f"map: evaluation {k} returned {qualname(type(value))}, not an array of numbers")
        if earlier and array.shape != earlier[0].shape:
            raise ValueError(
                f"map: evaluation {k} returned shape {array.shape}, evaluation 0 returned {earlier[0].shape}"
            )
        return array

    def encode_value(self, op, value, encoder=None):
        """The op's reply value: encoded data, a ref, refs, or nothing
        (arrays go to `encoder`'s, a new one's by default)."""
        keep = op.get("keep")
        if op.get("quiet"):
            return None, {}
        if isinstance(value, Replayed):
            return value.evaluations, value.arrays
        if keep == "items":
            return [self.store(item) for item in value], {}
        if keep or op.get("op") == "new":
            return self.store(value), {}
        encoder = encoder or Encoder(self)
        return encoder.encode(value), encoder.arrays

    # -- the request loop

    def output_sizes(self):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        sizes = []
        for fd in self.saved_fds:
            try:
                sizes.append(os.fstat(fd).st_size)
            except OSError:
                sizes.append(0)
        return sizes

    def before_request(self, message=None):
        """Undo what the previous request's student code may have broken."""
        try:
            os.chdir(self.workdir)
        except OSError:
            pass
        for fd, saved in zip((1, 2), self.saved_fds):
            try:
                os.dup2(saved, fd, inheritable=True)
            except OSError:
                pass
        streams = []
        for fd, name, stream in zip((1, 2), ("stdout", "stderr"), self.streams):
            if stream.closed:
                stream = io.TextIOWrapper(
                    io.FileIO(fd, "w", closefd=False),
                    encoding="utf-8",
                    errors="backslashreplace",
                    write_through=True,
                )
            setattr(sys, name, stream)
            setattr(sys, f"__{name}__", stream)
            streams.append(stream)
        self.streams = tuple(streams)
        # Re-arm the CPU limit: this request may use cpu_seconds more (the
        # judge scales it with the calls the request makes).
        if self.limits["cpu_seconds"] is not None:
            allowed = self.limits["cpu_seconds"]
            if isinstance(message, dict) and type(message.get("cpu_seconds")) in (int, float):
                allowed = max(allowed, message["cpu_seconds"])
            usage = resource.getrusage(resource.RUSAGE_SELF)
            soft = math.ceil(usage.ru_utime + usage.ru_stime) + math.ceil(allowed)
            try:
                resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))
            except (ValueError, OSError):
                pass
        # Reap children that student code left behind (we are their subreaper).
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break

    def progress(self, index, evaluation=-1, when=None, only_if=None):
        """Tell the judge (the progress file) which op, and which evaluation of a map, starts now."""
        with self.progress_lock:
            if only_if is not None and only_if != self.watching:
                return
            when = time.monotonic() if when is None else when
            try:
                os.pwrite(self.fd_progress, PROGRESS.pack(self.request_id, index, evaluation, when), 0)
            except (OSError, struct.error):
                pass

    # -- calls inside an op that makes many (a training run, a scenario)

    def start_watchdog(self):
        """A thread that, while an op runs, looks at the main thread's stack
        every 0.1 s at most (an op of a few milliseconds is never looked at):
        when the same activation of a submission function has been the
        innermost one for the whole per-call limit (STALLED: inside an op that
        makes many calls, the judge stops it at once; for any op, it tells the
        judge that this function timed out by itself), or a refused function is
        on the stack (REFUSED), it tells the judge. Needs the GIL: code that
        holds it (C code) is stopped by the op's own limit instead."""
        per_call = self.limits.get("timeout")
        if not per_call or per_call <= 0:
            return
        thread = threading.Thread(target=self.watchdog, args=(float(per_call),), name="sandbox-call-watch", daemon=True)
        thread.start()

    def where_of(self, code, prefix, names={}):  # noqa: B006 - a cache
        """"beras.layers:Dense.call" for a code object of the submission (as the judge names it)."""
        where = names.get(code)
        if where is None:
            module = code.co_filename[len(prefix):].removesuffix(".py").replace(os.sep, ".").removesuffix(".__init__")
            where = names[code] = f"{module}:{getattr(code, 'co_qualname', code.co_name)}"
        return where

    def watchdog(self, per_call):
        interval = min(0.1, max(0.01, per_call / 4))
        prefix = self.workdir + os.sep
        main = threading.main_thread().ident
        target = leaf = done = None
        since = 0.0
        while True:
            time.sleep(interval)
            watching = self.watching
            if watching is None or watching == done:
                target = leaf = None
                continue
            if watching != target:
                target, leaf = watching, None
            refused = self.refused
            frame = sys._current_frames().get(main)
            innermost, hit = None, False
            while frame is not None:
                code = frame.f_code
                if code.co_filename.startswith(prefix):
                    innermost = innermost or frame
                    if not refused:
                        break
                    if self.where_of(code, prefix) in refused:
                        hit = True
                        break
                frame = frame.f_back
            frame = None
            now = time.monotonic()
            if hit:
                self.progress(target[1], REFUSED, now, only_if=target)
                done, target, leaf = target, None, None
            elif innermost is not leaf:
                leaf, since = innermost, now  # first seen (the call began up to an interval earlier)
            elif leaf is not None and now - since >= per_call:
                self.progress(target[1], STALLED, since, only_if=target)
                leaf = None
            innermost = None

    def run_request(self, message, arrays):
        self.request_id = message["id"]
        refused = message.get("refused")
        self.refused = frozenset(r for r in refused if isinstance(r, str)) if isinstance(refused, list) else frozenset()
        ops = message["ops"]
        scope = {}  # names bound by "as", for this request only
        failed = None
        # Replies go out together at the end (one wake-up of the judge per
        # request, not per op); should this process die, the progress file
        # tells the judge which op was running.
        self.replies = []
        self.reply_bytes = self.reply_arrays = 0
        for index, op in enumerate(ops):
            self.index = index
            self.progress(index)
            calls = op.get("calls") if isinstance(op, dict) else None
            self.watching = (self.request_id, index, type(calls) is int and calls > 1)
            out_start, err_start = self.output_sizes()
            started = time.perf_counter()
            frame = {"id": self.request_id, "index": index}
            values = {}
            if failed is not None:
                frame["ok"] = False
                frame["error"] = {
                    "type": "Skipped",
                    "message": f"not run: op {failed} of this request failed",
                    "traceback": "",
                    "kind": "skipped",
                }
            else:
                try:
                    value = self.run_op(op, arrays, scope)
                    frame["value"], values = self.encode_value(op, value)
                    frame["ok"] = True
                except BaseException as exc:  # noqa: BLE001 - SystemExit too: fail the op
                    frame["ok"] = False
                    frame["error"] = self.describe(exc)
                    failed = index
                    values = {}
            self.watching = None
            frame["elapsed"] = time.perf_counter() - started
            out_end, err_end = self.output_sizes()
            frame["stdout"] = [out_start, out_end]
            frame["stderr"] = [err_start, err_end]
            self.queue_reply(frame, values)
        self.channel.send_parts(self.replies)

    def queue_reply(self, frame, values):
        try:
            parts = self.channel.pack(frame, values)
            size = sum(len(part) for part in parts)
            allowed = self.message_bytes - min(REPLY_RESERVE, self.message_bytes // 4)
            if self.reply_bytes + size > allowed:
                raise UnsupportedResult(
                    f"result too large: the replies of this request would exceed {allowed} bytes together"
                )
            self.reply_bytes += size
        except BaseException as exc:  # noqa: BLE001
            frame.pop("value", None)
            frame["ok"] = False
            frame["error"] = self.describe(exc, kind="result")
            parts = self.channel.pack(frame)
        self.replies.extend(parts)
        # Large replies go at once (the judge decodes them while we go on);
        # small ones wait for the end of the request.
        if sum(len(part) for part in self.replies) > 64 * 1024:
            self.channel.send_parts(self.replies)
            self.replies = []

    def describe(self, exc, kind=None):
        try:
            error = describe_error(exc, self.workdir, kind)
            if error["kind"] == "memory" and self.limits["memory_bytes"]:
                limit = int(self.limits["memory_bytes"]) // 2**20
                error["message"] += f" (the sandbox's memory limit is {limit} MiB)"
            return error
        except BaseException:  # noqa: BLE001 - e.g. a __str__ that raises SystemExit
            return {
                "type": "?",
                "message": "<the exception could not be described>",
                "traceback": "",
                "kind": kind or "exception",
            }

    def serve(self):
        while True:
            received = self.channel.receive()
            if received is None:
                return
            self.before_request(received[0])
            self.run_request(*received)


WORKER = None  # the running Worker, for debugging (and for the tests' attack code)


def main():
    global WORKER
    if sys.argv[1] == "--zygote":
        zygote(json.loads(sys.argv[2]))
        # Every judge connection is closed: leave at once. Tearing down an
        # interpreter that holds numpy takes tens of milliseconds, and the
        # judge waits for this process at the end of its run.
        os._exit(0)
    config = json.loads(sys.argv[1])
    WORKER = bootstrap(config)
    WORKER.serve()


# ------------------------------------------------------------------ zygote
#
# Starting a worker costs an interpreter and an `import numpy` (~0.1 s of
# CPU, most of a sandbox's start). A grading run starts several sandboxes, so
# the judge may start one zygote instead (harness/sandbox/zygote.py): this
# file run as `worker.py --zygote SETUP`, which imports numpy once, as root,
# before any student code exists anywhere, and then only forks. Each child
# becomes a worker exactly as an exec'd one does (bootstrap(): namespaces,
# guard, mounts, limits, its own uid), with numpy already loaded. The zygote
# never runs student code and holds nothing of the judge's (no seed, no
# result, no reference): it was started from a clean environment, and it
# reads only the judge's requests on its sockets, which no worker holds.

# A spawn's descriptors, in this order (SCM_RIGHTS): request pipe (read end),
# reply pipe (write end), progress file, stack file, lifeline (read end),
# the student's stdout and stderr files.
SPAWN_FDS = 7


def zygote(setup):
    """Serve the judge's requests on the SOCK_SEQPACKET sockets `setup["fds"]`
    (one per judge process) until every one of them is closed.

    Requests (JSON): {"op": "spawn", "config", "env", "cwd"} with SPAWN_FDS
    descriptors -> {"pid"}; {"op": "status", "pid", "reap"} -> {"status"}:
    None while the child runs, else its returncode (-signal when killed),
    "gone" when it was reaped before; {"op": "connect"} -> {"connected"} with
    one descriptor, the judge's end of a new connection (for another judge
    process: a batch's gradings). Any other request -> {"error"}.
    """
    stdlib = list(sys.path)
    sys.path[:] = stdlib + list(setup["paths"])
    import numpy  # noqa: F401 - the point of the zygote: every child has it
    import numpy.random  # noqa: F401 - loaded lazily by numpy, and by almost every worker (~20% of its own work)

    sys.path[:] = stdlib
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the judge's ^C is the judge's to handle
    sockets = [socket.socket(fileno=fd) for fd in setup["fds"]]
    while sockets:
        readable, _, _ = select.select(sockets, [], [])
        for sock in readable:
            try:
                data, fds, _, _ = socket.recv_fds(sock, 1 << 20, SPAWN_FDS)
            except OSError:
                data, fds = b"", []
            if not data:
                sockets.remove(sock)
                sock.close()
                continue
            given = None  # a descriptor the answer hands over (a new connection's other end)
            try:
                reply, given = _zygote_answer(json.loads(data), fds, sockets, stdlib)
            except Exception as exc:  # noqa: BLE001 - the judge hears of it, the zygote goes on
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            finally:
                for fd in fds:
                    os.close(fd)  # the child has its own copies
            if given is not None:
                socket.send_fds(sock, [json.dumps(reply).encode()], [given.fileno()])
                given.close()
            else:
                sock.send(json.dumps(reply).encode())


def _zygote_answer(request, fds, sockets, stdlib):
    """(the reply to `request`, a socket to hand over with it or None)."""
    if request.get("op") == "connect":
        ours, given = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sockets.append(ours)
        return {"connected": True}, given
    return _zygote_reply(request, fds, sockets, stdlib), None


def _zygote_reply(request, fds, sockets, stdlib):
    if request.get("op") == "status":
        flags = os.WEXITED | os.WNOHANG | (0 if request.get("reap") else os.WNOWAIT)
        try:
            info = os.waitid(os.P_PID, int(request["pid"]), flags)
        except ChildProcessError:
            return {"status": "gone"}
        if info is None:
            return {"status": None}
        return {"status": info.si_status if info.si_code == os.CLD_EXITED else -info.si_status}
    if request.get("op") != "spawn":
        return {"error": f"unknown request {request.get('op')!r}"}
    if len(fds) != SPAWN_FDS:
        return {"error": f"a spawn needs {SPAWN_FDS} descriptors, got {len(fds)}"}
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            _become_worker(request, fds, sockets, stdlib)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
            if not isinstance(exc.code, int) and exc.code is not None:
                print(exc.code, file=sys.stderr)
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except BaseException:  # noqa: BLE001
                pass
            os._exit(code)
    return {"pid": pid}


def _fresh_random_state():
    """Every child of the zygote would start with the zygote's random state
    (numpy's global generator, Python's `random` if loaded): seeded from the
    OS's entropy here, as an exec'd worker's is when it imports them, so that
    no two workers (the student's, the reference's, the finite-difference
    witness's) draw the same numbers unless a request seeds them."""
    import numpy.random

    numpy.random.seed()
    if "random" in sys.modules:
        sys.modules["random"].seed()


def _become_worker(request, fds, sockets, stdlib):
    """In a fresh child of the zygote: take the place an exec'd worker would
    have (its descriptors, session, cwd, environment), then bootstrap and serve."""
    global WORKER
    for sock in sockets:
        sock.detach()  # closed below with every other descriptor that is not the worker's
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fds[5], 1)
    os.dup2(fds[6], 2)
    wanted = {0, 1, 2, *fds[:5]}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in wanted:
            try:
                os.close(fd)
            except OSError:
                pass
    for fd in fds[:5]:
        os.set_inheritable(fd, True)
    os.setsid()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    config = dict(request["config"])
    config.update(fd_in=fds[0], fd_out=fds[1], fd_progress=fds[2], fd_stack=fds[3], lifeline=fds[4])
    sys.path[:] = stdlib
    _fresh_random_state()
    WORKER = bootstrap(config)
    WORKER.serve()


if __name__ == "__main__":
    main()
