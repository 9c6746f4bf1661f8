"""Finding and killing everything a worker started.

The worker is started in a new session (its pid is the session and group
id) and makes itself a child subreaper, so student processes that
double-fork or call setsid() are still its descendants while it lives. We
collect the worker, every descendant and every process of its session or
group, stop them all (SIGSTOP: a stopped process cannot fork), and kill them.
"""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict


def _process_table(with_uids: bool = False) -> dict[int, tuple[int, int, int, str, int | None]]:
    """pid -> (ppid, process group, session, state, uid or None) from /proc."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat_file:
                data = stat_file.read()
            uid = os.stat(f"/proc/{name}").st_uid if with_uids else None
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2 :].split()  # the name may hold spaces and ")"
        table[int(name)] = (int(fields[1]), int(fields[2]), int(fields[3]), fields[0].decode(), uid)
    return table


def process_owners() -> dict[int, int]:
    """pid -> real uid of every process on the machine."""
    return {pid: uid for pid, (*_, uid) in _process_table(with_uids=True).items()}


def process_uids() -> set[int]:
    """The real uids of every process on the machine."""
    return set(process_owners().values())


def is_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie nobody reaped yet does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            data = stat_file.read()
    except OSError:
        return False
    return data[data.rindex(b")") + 2 :].split()[0] != b"Z"


def count_user_threads(uid: int) -> int:
    """Threads of every process whose real uid is `uid` (what RLIMIT_NPROC counts)."""
    total = 0
    for pid, owner in process_owners().items():
        if owner != uid:
            continue
        try:
            with open(f"/proc/{pid}/status") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("Threads:")), 1)
        except OSError:
            continue
    return total


def sandbox_processes(root: int, include_zombies: bool = False, owner: int | None = None) -> set[int]:
    """The worker `root`, its descendants, and its session/group members; with
    `owner`, a uid that only this sandbox runs as, every process of that uid too
    (a daemon that left the tree and the session)."""
    table = _process_table(owner)
    found = {pid for pid, (_, pgrp, sid, _, uid) in table.items() if root in (pgrp, sid) or (owner is not None and uid == owner)}
    if root in table:
        found.add(root)
    found = _with_descendants(table, found)
    if not include_zombies:
        found = {pid for pid in found if table.get(pid, (0, 0, 0, "Z", None))[3] != "Z"}
    return found


def _signal_all(pids, signum) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def process_tree(root: int) -> set[int]:
    """`root` and its living descendants (not its session or group: a batch's
    grading processes share the batch's group, and the batch must survive
    killing one of them)."""
    table = _process_table()
    found = _with_descendants(table, {root} if root in table else set())
    return {pid for pid in found if table[pid][3] != "Z"}


def _with_descendants(table, pids: set[int]) -> set[int]:
    """`pids` and every descendant of theirs in `table` (never this process)."""
    children = defaultdict(list)
    for pid, (ppid, *_) in table.items():
        children[ppid].append(pid)
    found = set(pids)
    todo = list(found)
    while todo:
        for child in children[todo.pop()]:
            if child not in found:
                found.add(child)
                todo.append(child)
    found.discard(os.getpid())
    return found


def kill_sandbox(root: int, grace: float, owner: int | None = None) -> None:
    """SIGTERM the worker's processes, wait up to `grace` s, then stop and SIGKILL the rest.
    `owner`: see sandbox_processes."""
    _terminate(lambda: sandbox_processes(root, owner=owner), grace)


def kill_tree(root: int, grace: float) -> None:
    """As `kill_sandbox`, for `root` and its descendants only (`process_tree`)."""
    _terminate(lambda: process_tree(root), grace)


def _terminate(find, grace: float) -> None:
    """SIGTERM the processes `find()` returns, wait up to `grace` s, then stop and SIGKILL the rest."""
    alive = find()
    if alive and grace > 0:
        _signal_all(alive, signal.SIGTERM)
        deadline = time.monotonic() + grace
        pause = 0.001  # an idle worker is gone within a millisecond or two: look again soon, then less often
        while alive and time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(2 * pause, 0.02)
            alive = find()
    stopped: set[int] = set()
    for _ in range(100):  # freeze until no new process appears
        fresh = find() - stopped
        if not fresh:
            break
        _signal_all(fresh, signal.SIGSTOP)
        stopped |= fresh
    _signal_all(stopped | find(), signal.SIGKILL)
