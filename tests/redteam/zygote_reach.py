"""Student code (pasted at the top of beras/layers.py by tests/test_attacks_zygote_witness.py)
that looks for the zygote, or a process of its own (the control), and reports what it could do to it:
`_report()` raises, once per worker, an exception whose message holds REACH{json}HCAER.
The test appends its own `_build_report(zygote)` (the attack's or the control's), which replaces the one here."""

import ctypes as _ctypes
import json as _json
import os as _os
import signal as _signal
import subprocess as _subprocess  # noqa: F401 - for the control's _build_report
import sys as _sys  # noqa: F401 - for the control's _build_report

_REACH = []


def _attempt(action):
    try:
        action()
        return "Y"
    except (PermissionError, ProcessLookupError, OSError):
        return "N"


def _reach(pid):
    """What this worker can do to process `pid`: read its environ, memory, fds;
    signal it; ptrace it; take a descriptor of it through a pidfd."""
    def read(path):
        with open(path, "rb") as stream:
            stream.read(1)

    def mem():
        with open(f"/proc/{pid}/mem", "rb") as stream:
            for line in open(f"/proc/{pid}/maps"):
                start = int(line.split("-")[0], 16)
                stream.seek(start)
                stream.read(16)
                return

    def fds():
        names = _os.listdir(f"/proc/{pid}/fd")
        _os.readlink(f"/proc/{pid}/fd/{names[0]}")

    def ptrace():
        libc = _ctypes.CDLL(None, use_errno=True)
        if libc.ptrace(16, pid, None, None) != 0:  # PTRACE_ATTACH
            raise PermissionError(_ctypes.get_errno(), "ptrace")
        libc.ptrace(17, pid, None, None)  # PTRACE_DETACH

    def getfd():
        handle = _os.pidfd_open(pid)
        try:
            libc = _ctypes.CDLL(None, use_errno=True)
            got = libc.syscall(438, handle, 0, 0)  # pidfd_getfd(pidfd, targetfd 0)
            if got < 0:
                raise PermissionError(_ctypes.get_errno(), "pidfd_getfd")
            _os.close(got)
        finally:
            _os.close(handle)

    return "".join(_attempt(a) for a in (
        lambda: read(f"/proc/{pid}/environ"), mem, fds, lambda: _os.kill(pid, 0),
        lambda: _os.kill(pid, _signal.SIGCONT), ptrace, getfd))


def _is_zygote_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            return b"--zygote" in stream.read()
    except OSError:
        return False


def _parent(pid):
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return int(stream.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _zygote_pid():
    """The zygote: a process run as `worker.py --zygote` whose parent is not (its children are too)."""
    for name in _os.listdir("/proc"):
        parent = _parent(name) if name.isdigit() else 0
        if parent and _is_zygote_line(name) and _os.path.exists(f"/proc/{parent}") and not _is_zygote_line(parent):
            return int(name)
    return 0


def _sockets():
    """How many of this process's descriptors are sockets (the zygote's would be)."""
    import stat
    count = 0
    for name in _os.listdir("/proc/self/fd"):
        try:
            count += stat.S_ISSOCK(_os.fstat(int(name)).st_mode)
        except OSError:
            pass
    return count


def _other_sandboxes():
    """Folders of other sandboxes named in this process's memory (the zygote's
    requests, inherited), and how many of them it can list."""
    import re
    own = _os.path.dirname(_os.getcwd())
    named = set()
    for line in open("/proc/self/maps"):
        fields = line.split()
        if "rw" not in fields[1] or len(fields) > 5:
            continue
        start, end = (int(a, 16) for a in fields[0].split("-"))
        if end - start > 2**26:
            continue
        try:
            data = _ctypes.string_at(start, end - start)
        except Exception:
            continue
        named |= {m.decode() for m in re.findall(rb"/[A-Za-z0-9_./-]*/harness-sandbox-[a-z0-9_]{8}(?![a-z0-9_-])", data)}
    named.discard(own)
    readable = 0
    for folder in named:
        try:
            _os.listdir(folder)
            readable += 1
        except OSError:
            pass
    return len(named), readable


def _build_report(zygote):
    """The report: what the probe found and could do (replaced by the test's)."""
    raise NotImplementedError


def _report():
    if not _REACH:
        _REACH.append(_json.dumps(_build_report(_zygote_pid())))
    raise RuntimeError("REACH" + _REACH[0] + "HCAER")
