"""Removing a sandbox folder, whatever student code left in it.

The worker may leave a tree of any shape in its folders (a chain of
thousands of folders, a hundred thousand files, folders with mode 000,
symlinks to anything). `shutil.rmtree` recurses (Python 3.11) and holds one
file descriptor per level: such a tree makes it raise, or leave the folder
behind. `remove_tree` walks with an explicit stack and one open directory
at a time (it climbs back with ".." and checks it arrived where it came
from), works relative to directory file descriptors, never follows a
symlink, never raises, and stops after a time limit.

`deferred()` puts removals off: the command line grades, writes its reports,
and only then removes the folders (`discard` queues them meanwhile), so that
clean-up can neither prevent nor delay the results.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator

# A sandbox folder is removed in well under a second; a hostile one (or all
# the folders of a deferred block together) gets this long at most.
REMOVE_SECONDS = 60.0
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_RESCANS = 2  # times a folder is emptied again when something appeared in it meanwhile

# While `deferred()` is active: the folders `discard` was asked to remove.
_pending: list[str] | None = None
_actions: list[Callable[[], object]] = []  # `after`: called when the active deferred() block ends


class _Stop(Exception):
    """Removal stopped (time is up, or the tree moved under us): leave the rest."""


def _warn(message: str) -> None:
    try:
        print(f"harness: {message}", file=sys.stderr, flush=True)
    except Exception:  # noqa: BLE001 - a closed stderr must not make clean-up raise
        pass


def remove_tree(path: str | os.PathLike, timeout: float = REMOVE_SECONDS) -> bool:
    """Delete `path` and everything under it; True if it is gone.

    Never raises (a problem is one warning on stderr), never follows a
    symlink (a symlink is removed, not what it points to), removes folders
    of any depth and mode (a folder the judge may not open or change is made
    0700 first: the judge is root or the owner), and gives up after
    `timeout` seconds, leaving what is left.
    """
    path = os.path.abspath(os.fspath(path))
    parent, name = os.path.split(path)
    if not name:  # "/": never
        _warn(f"refusing to remove {path}")
        return False
    try:
        parent_fd = os.open(parent, _DIRECTORY)
    except FileNotFoundError:
        return True
    except Exception as error:  # noqa: BLE001 - never raises
        _warn(f"could not remove {path}: {error}")
        return False
    problems: list[str] = []
    try:
        _remove(parent_fd, name, time.monotonic() + timeout, problems)
    except _Stop as stop:
        problems.insert(0, str(stop))
    except Exception as error:  # noqa: BLE001 - a bug here must not cost the run
        problems.insert(0, f"{type(error).__name__}: {error}")
    finally:
        os.close(parent_fd)
    if problems:
        _warn(f"could not remove {path} completely ({problems[0]}); what is left stays")
        return False
    return True


def _chmod_folder(parent_fd: int, name: str) -> None:
    """Make the folder `name` (in `parent_fd`) 0700, without following a symlink."""
    try:
        os.chmod(name, 0o700, dir_fd=parent_fd, follow_symlinks=False)
        return
    except (NotImplementedError, OSError) as error:
        if isinstance(error, OSError) and error.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    # An older C library: change it through an O_PATH descriptor, which
    # O_NOFOLLOW pins to the folder itself (Linux).
    fd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
    try:
        os.chmod(f"/proc/self/fd/{fd}", 0o700)
    finally:
        os.close(fd)


def _open_folder(parent_fd: int, name: str) -> tuple[int, tuple[int, int]]:
    """An fd of the folder `name` (never through a symlink: OSError ELOOP or
    ENOTDIR then), made 0700 if the judge could not list or change it, and its (device, inode)."""
    try:
        fd = os.open(name, _DIRECTORY, dir_fd=parent_fd)
    except PermissionError:  # mode 000 and the judge is its owner, not root
        _chmod_folder(parent_fd, name)
        fd = os.open(name, _DIRECTORY, dir_fd=parent_fd)
    info = os.fstat(fd)
    if info.st_mode & 0o700 != 0o700:  # unlinking what it holds needs write and search permission
        try:
            os.fchmod(fd, 0o700)
        except OSError:
            pass  # root needs none
    return fd, (info.st_dev, info.st_ino)


def _empty_files(fd: int, deadline: float, problems: list[str]) -> list[str]:
    """Unlink everything but folders in the folder `fd`; the names of its folders."""
    folders = []
    with os.scandir(fd) as listing:
        for count, entry in enumerate(listing):
            if count % 1024 == 0 and time.monotonic() > deadline:
                raise _Stop("out of time")
            try:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.name)
                else:
                    os.unlink(entry.name, dir_fd=fd)
            except FileNotFoundError:
                pass
            except OSError as error:
                problems.append(f"{entry.name}: {error.strerror}")
    return folders


def _remove(parent_fd: int, name: str, deadline: float, problems: list[str]) -> None:
    """Remove `name` in the folder `parent_fd`: depth first, one folder open at a time."""
    try:
        info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(name, dir_fd=parent_fd)
        return
    fd, identity = _open_folder(parent_fd, name)
    # One frame per folder on the way down: its name in its parent, its
    # identity (to check the way back up), its folders still to remove (None:
    # not emptied yet), and how often it was emptied again.
    frames = [[name, identity, None, 0]]
    try:
        while frames:
            if time.monotonic() > deadline:
                raise _Stop("out of time")
            frame = frames[-1]
            if frame[2] is None:
                frame[2] = _empty_files(fd, deadline, problems)
            if frame[2]:
                child = frame[2].pop()
                try:
                    child_fd, child_identity = _open_folder(fd, child)
                except FileNotFoundError:
                    continue
                except OSError as error:
                    if error.errno in (errno.ELOOP, errno.ENOTDIR):  # replaced by a symlink or file meanwhile
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(child, dir_fd=fd)
                    else:
                        problems.append(f"{child}: {error.strerror}")
                    continue
                os.close(fd)
                fd = child_fd
                frames.append([child, child_identity, None, 0])
                continue
            # Emptied: climb to the parent and remove this folder from there.
            frames.pop()
            if frames:
                up = os.open("..", _DIRECTORY, dir_fd=fd)
                info = os.fstat(up)
                if (info.st_dev, info.st_ino) != frames[-1][1]:
                    os.close(up)
                    raise _Stop("a folder was moved while it was being removed")
            else:
                up = os.dup(parent_fd)
            os.close(fd)
            fd = up
            try:
                os.rmdir(frame[0], dir_fd=fd)
            except FileNotFoundError:
                pass
            except OSError as error:
                if error.errno in (errno.ENOTEMPTY, errno.EEXIST) and not problems and frame[3] < _RESCANS:
                    # Something appeared in it since it was emptied (a process
                    # left over?): go down once more.
                    child_fd, identity = _open_folder(fd, frame[0])
                    os.close(fd)
                    fd = child_fd
                    frames.append([frame[0], identity, None, frame[3] + 1])
                else:
                    problems.append(f"{frame[0]}: {error.strerror}")
    finally:
        os.close(fd)


def discard(path: str | os.PathLike) -> None:
    """Remove the folder `path` now, or once the `deferred()` block ends if one is active. Never raises."""
    if _pending is not None:
        _pending.append(os.fspath(path))
    else:
        remove_tree(path)


def after(action: Callable[[], object]) -> None:
    """Call `action` once the `deferred()` block ends, before its folders are
    removed (now if none is active): what may wait until the results are
    written (e.g. reaping a grading process that has already reported). It
    must not raise."""
    if _pending is not None:
        _actions.append(action)
    else:
        action()


def forget_inherited() -> None:
    """In a process forked inside a `deferred()` block: what is queued is the
    parent's to do; this process starts afresh (its own blocks remove its own)."""
    global _pending, _actions
    _pending, _actions = None, []


def queued() -> list[str]:
    """The folders waiting for the end of the active `deferred()` block."""
    return list(_pending or ())


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within this block `discard` only queues folders; they are removed when
    it ends (by the outermost block, if they nest), whatever happened in it,
    all of them within REMOVE_SECONDS. Never raises of its own."""
    global _pending, _actions
    if _pending is not None:  # nested: the outer block removes everything
        yield
        return
    _pending, _actions = [], []
    try:
        yield
    finally:
        actions, _actions = _actions, []
        for action in actions:
            action()
        paths, _pending = _pending, None
        deadline = time.monotonic() + REMOVE_SECONDS
        for path in paths:
            remove_tree(path, timeout=max(0.0, deadline - time.monotonic()))
