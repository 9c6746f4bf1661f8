"""Preparing a sandbox on disk: the interpreter, the allowed packages, the directory.

Layout of one sandbox (root-owned unless said otherwise):

    harness-sandbox-XXXX/       0711  (the worker can enter it, not list it)
        worker.py               0644  copy of harness/sandbox/worker.py
        site/                   0755  symlinks to the allowed packages only, and copies
                                      of the harness's own in-sandbox code (scenarios, probes)
        work/                   0750  copy of the graded packages (and the modules they import),
                                      root-owned, group the worker's: readable, not writable; its cwd
        tmp/                    0700  HOME and TMPDIR, owned by the worker's uid (a fresh
                                      size-limited tmpfs for every worker, where mounts are allowed)
        out/                    0700  stdout/stderr capture files (the judge's; the
                                      worker only holds file descriptors)

When the judge is root the worker drops to an unprivileged uid of its own
(`Identity`, FRESH: one per sandbox, never shared while it lives), who must be
able to read the interpreter, the standard library and numpy. A Python
installed under /root (pyenv) is not readable by `nobody`; we then build, once
per machine and Python/numpy version, a "runtime mirror" in the temp dir: hard
links (copies across file systems) of the interpreter, libpython, the standard
library (without its tests) and the allowed packages. Hard links need no
access to /root's directories and cost ~0.1 s the first time.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import marshal
import os
import pwd
import shutil
import stat
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath

from . import cleanup, process

WORKER_SOURCE = Path(__file__).with_name("worker.py")
# ".harness": what `check` writes into the student's folder (reproducers), never graded.
SKIP_IN_SUBMISSION = {"__pycache__", ".git", ".hg", ".svn", ".tox", ".venv", "venv", ".harness"}
SKIP_IN_STDLIB = frozenset(
    {
        "site-packages",
        "dist-packages",
        "test",
        "idlelib",
        "tkinter",
        "turtledemo",
        "ensurepip",
        "lib2to3",
    }
)
MIRROR_VERSION = "1"


class SandboxError(Exception):
    """The sandbox itself could not be set up or used (not a student error)."""


# A uid of its own for every sandbox, when the judge is root: drawn from a
# block far above any real account or subordinate-id range, with no passwd
# entry. Two sandboxes never share one while both live (a lock held for the
# sandbox's life), so the kernel keeps them apart: one student's worker
# cannot read, signal or trace the reference's worker or another student's,
# and RLIMIT_NPROC, counted per uid, is the sandbox's own.
FRESH = "fresh"
UID_BLOCK_START = 1_900_000_000
UID_BLOCK_SIZE = 1 << 16


@dataclass(frozen=True)
class Identity:
    """Who the worker runs as: uid/gid to switch to, or None to stay the judge's user.

    `lease`: the open lock file that reserves a fresh uid (closed with the sandbox).
    """

    uid: int | None
    gid: int | None
    lease: int | None = None

    @classmethod
    def lookup(cls, user: str | int | None) -> Identity:
        """`user`: FRESH (a uid of the sandbox's own), a name or uid, or None (stay).

        Only root switches users; anyone else runs the worker as itself.
        Raises SandboxError for an unknown name, root, or an exhausted uid block.
        """
        if os.getuid() != 0 or user is None:
            return cls(None, None)
        if user == FRESH:
            return _lease_fresh_uid()
        try:
            entry = pwd.getpwuid(user) if isinstance(user, int) else pwd.getpwnam(user)
        except KeyError:
            if isinstance(user, int):
                return cls(user, user)
            raise SandboxError(f"no user named {user!r} to run the sandbox as") from None
        if entry.pw_uid == 0:
            raise SandboxError("refusing to run student code as root")
        return cls(entry.pw_uid, entry.pw_gid)

    @property
    def switches(self) -> bool:
        return self.uid is not None

    def release(self) -> None:
        """Give the uid back (the lock closes; the sandbox's processes must be gone)."""
        if self.lease is not None:
            try:
                os.close(self.lease)
            except OSError:
                pass


def _lease_dir() -> Path:
    """A root-only folder for the uid locks (/run when there is one)."""
    for base in (Path("/run"), Path(tempfile.gettempdir())):
        folder = base / "gradecheck-uids"
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            info = os.lstat(folder)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and not info.st_mode & 0o077:
            return folder
    raise SandboxError("no root-only folder for the sandbox uid locks (/run or the temp dir)")


def _lease_fresh_uid() -> Identity:
    """Reserve a uid no other live sandbox holds and no process runs as.

    The reservation is an flock on a file per uid: the kernel drops it when
    the judge dies, however it dies, so nothing ever needs cleaning up.
    """
    import fcntl  # Linux-only, like the rest of the root path

    folder = _lease_dir()
    first = int.from_bytes(os.urandom(4), "little") % UID_BLOCK_SIZE
    running = None
    for step in range(UID_BLOCK_SIZE):
        uid = UID_BLOCK_START + (first + step) % UID_BLOCK_SIZE
        fd = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        if running is None:
            running = process.process_uids()
        if uid in running:  # a process of a judge killed earlier lives on: not ours to share
            os.close(fd)
            continue
        return Identity(uid, uid, fd)
    raise SandboxError("every sandbox uid is in use")


@dataclass(frozen=True)
class Interpreter:
    """How to start the worker's Python, and where the allowed packages are."""

    executable: str
    packages: tuple[str, ...]  # paths to link into the sandbox's site dir
    env: tuple[tuple[str, str], ...] = ()  # extra environment (LD_LIBRARY_PATH)
    roots: tuple[str, ...] = ()  # folders in the temp dir the worker needs (the runtime mirror)


# ---------------------------------------------------------------- packages


def package_paths(names: tuple[str, ...]) -> list[Path]:
    """The installed files of each package: the package itself, `name.libs`, its dist-info."""
    paths: list[Path] = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise SandboxError(f"package {name!r} is not installed for the judge's Python")
        if spec.submodule_search_locations:
            location = Path(next(iter(spec.submodule_search_locations)))
        else:
            location = Path(spec.origin)
        parent = location.parent
        paths.append(location)
        normalized = name.replace("-", "_")
        for extra in sorted(parent.glob(f"{normalized}.libs")) + sorted(
            parent.glob(f"{normalized}-*.dist-info")
        ):
            paths.append(extra)
    return paths


# ------------------------------------------------------------ access checks


def _others_can_reach(path: Path) -> bool:
    """Whether a user who is neither owner nor group member can read `path`.

    Conservative: if it says False we merely build the runtime mirror.
    """
    path = Path(os.path.realpath(path))
    for parent in reversed(path.parents):
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
    mode = os.stat(path).st_mode
    need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
    return mode & need == need


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _libpython() -> list[Path]:
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        return []
    libdir = Path(sysconfig.get_config_var("LIBDIR") or "")
    return sorted(libdir.glob("libpython*.so*"))


# ----------------------------------------------------------- runtime mirror


def _link_or_copy(source: Path, target: Path) -> None:
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _mirror_tree(source: Path, target: Path, skip: frozenset[str] = frozenset()) -> None:
    """Hard-link the files of `source` into a new `target` (top-level names in `skip` left out)."""
    target.mkdir(mode=0o755)
    target.chmod(0o755)
    for entry in os.scandir(source):
        if entry.name in skip or (skip and entry.name.startswith("config-")):
            continue
        if entry.is_dir(follow_symlinks=False):
            _mirror_tree(Path(entry.path), target / entry.name)
        elif entry.is_file(follow_symlinks=False) or entry.is_symlink():
            _link_or_copy(Path(entry.path), target / entry.name)


def _mirror_key(executable: Path, packages: list[Path]) -> str:
    digest = hashlib.sha256(MIRROR_VERSION.encode())
    for path in [executable, stdlib_dir(), *packages]:
        st = os.stat(path)
        digest.update(f"{path}|{st.st_mtime_ns}|{st.st_size}|".encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()[:16]


def _usable_mirror(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return (
        stat.S_ISDIR(st.st_mode)
        and st.st_uid == os.getuid()
        and not st.st_mode & 0o022
        and (path / ".complete").exists()
    )


def _build_mirror(executable: Path, packages: list[Path]) -> Path:
    final = Path(tempfile.gettempdir()) / f"harness-sandbox-runtime-{_mirror_key(executable, packages)}"
    if _usable_mirror(final):
        return final
    building = Path(tempfile.mkdtemp(prefix=final.name + ".tmp-", dir=final.parent))
    building.chmod(0o755)
    (building / "bin").mkdir(mode=0o755)
    _link_or_copy(executable, building / "bin" / executable.name)
    (building / "lib").mkdir(mode=0o755)
    for library in _libpython():
        _link_or_copy(library, building / "lib" / library.name)
    _mirror_tree(stdlib_dir(), building / "lib" / stdlib_dir().name, SKIP_IN_STDLIB)
    (building / "site").mkdir(mode=0o755)
    for package in packages:
        if package.is_dir():
            _mirror_tree(package, building / "site" / package.name)
        else:
            _link_or_copy(package, building / "site" / package.name)
    (building / ".complete").write_text("")
    try:
        os.rename(building, final)
    except OSError:  # another judge won the race, or something else sits there
        if _usable_mirror(final):
            shutil.rmtree(building, ignore_errors=True)
            return final
        return building
    return final


def prepare_interpreter(packages: tuple[str, ...], identity: Identity) -> Interpreter:
    executable = Path(os.path.realpath(sys.executable))
    paths = package_paths(packages)
    needed = [executable, stdlib_dir(), *_libpython(), *paths]
    if not identity.switches or all(_others_can_reach(p) for p in needed):
        return Interpreter(str(executable), tuple(map(str, paths)))
    mirror = _build_mirror(executable, paths)
    env = (("LD_LIBRARY_PATH", str(mirror / "lib")),) if _libpython() else ()
    return Interpreter(
        str(mirror / "bin" / executable.name),
        tuple(str(mirror / "site" / p.name) for p in paths),
        env,
        (os.path.realpath(mirror),),
    )


# One thread for every BLAS and OpenMP pool numpy may use, in the workers and
# in the judge (harness/__main__.py): their arrays are small, and a pool of one
# thread per core costs CPU at import and spins after each call, on the cores
# the other processes of a run need.
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}


def worker_environment(interpreter: Interpreter, tmp: Path | None = None) -> dict[str, str]:
    """The whole environment of a worker (nothing else of the judge's): its
    HOME and TMPDIR are `tmp` (none given: left out, as for the zygote)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    if tmp is not None:
        env["HOME"] = env["TMPDIR"] = str(tmp)
    env.update(ONE_THREAD)
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(interpreter.env)
    return env


# ----------------------------------------------------------- sandbox dirs


@dataclass(frozen=True)
class SandboxDir:
    root: Path
    worker: Path
    site: Path
    work: Path
    tmp: Path
    out: Path


# A submission is a few folders of Python files. These bounds are far beyond
# any real homework; they stop a tree made to break the copy (a chain of
# thousands of folders, a million files) after little work, with a message
# that says what to remove. Nothing here recurses: a tree of any shape costs
# at most MAX_SUBMISSION_ENTRIES directory entries looked at.
MAX_SUBMISSION_DEPTH = 32  # folder levels, counting the top-level folder (beras/ is 1)
MAX_SUBMISSION_ENTRIES = 10_000  # files and folders looked at, skipped ones included
MAX_SUBMISSION_PATH = 1024  # bytes of a path inside the submission (the kernel's own limit is 4096)
MAX_SCANNED_SOURCE = 4 * 2**20  # a .py file longer than this is copied but not read for its imports


class SubmissionRefused(SandboxError):
    """The submission cannot be copied into a sandbox: folders nested too
    deep, too many files, too many bytes, a path too long. The student's to
    fix: the message names the place and the limit."""


def _shown(relative: PurePath, parts: int = 4) -> str:
    """`relative` for a message: a path thousands of folders deep is cut short."""
    if len(relative.parts) <= parts:
        return relative.as_posix()
    return "/".join(relative.parts[:parts]) + "/…"


class _Bounds:
    """What the copy of one submission may still look at and copy; raises
    SubmissionRefused when a bound is passed."""

    def __init__(self, max_bytes: float):
        self.max_bytes = max_bytes
        self.bytes = max_bytes
        self.entries = MAX_SUBMISSION_ENTRIES

    def look(self, relative: PurePath) -> None:
        """Count one directory entry (a file or folder, skipped or not) at `relative`."""
        self.entries -= 1
        if self.entries < 0:
            raise SubmissionRefused(
                f"the submission holds more than {MAX_SUBMISSION_ENTRIES} files and folders (counting up to "
                f"{_shown(relative)}); the sandbox copies at most that many. Remove what your graded code does not need."
            )

    def place(self, relative: PurePath, is_folder: bool) -> None:
        """Refuse a path nested too deep (a folder) or too long to copy."""
        if is_folder and len(relative.parts) > MAX_SUBMISSION_DEPTH:
            raise SubmissionRefused(
                f"{_shown(relative)} is nested more than {MAX_SUBMISSION_DEPTH} folders deep; the sandbox copies "
                f"at most {MAX_SUBMISSION_DEPTH} levels. Remove that folder from your submission."
            )
        if len(os.fsencode(relative)) > MAX_SUBMISSION_PATH:
            raise SubmissionRefused(
                f"{_shown(relative)} has a path longer than {MAX_SUBMISSION_PATH} bytes, which the sandbox does not "
                "copy. Shorten or remove it."
            )

    def take(self, size: int) -> None:
        """Count `size` bytes of file content."""
        self.bytes -= size
        if self.bytes < 0:
            raise SubmissionRefused(
                f"the submission is larger than the sandbox allows ({self.max_bytes / 2**20:g} MiB of files); "
                "not copied. Remove large files (data sets, checkpoints) your graded code does not need."
            )


def _survey(source: Path, name: str, bounds: _Bounds) -> list[tuple[PurePath, bool]]:
    """What the sandbox gets of the top-level entry `source / name`, as
    (path relative to `source`, is a folder), every folder before what it holds.

    Regular files and folders only: no symlinks, fifos or devices, no caches
    or bytecode (SKIP_IN_SUBMISSION, .pyc). An explicit stack, not recursion
    (os.walk and Path.rglob recurse and break on a deep chain); unreadable or
    vanished folders are skipped. Raises SubmissionRefused when `bounds` is passed.
    """
    top = PurePath(name)
    try:
        info = os.lstat(source / top)
    except OSError:
        return []
    if stat.S_ISREG(info.st_mode):
        if name.endswith((".pyc", ".pyo")):
            return []
        bounds.place(top, False)
        bounds.take(info.st_size)
        return [(top, False)]
    if not stat.S_ISDIR(info.st_mode):
        return []
    found: list[tuple[PurePath, bool]] = []
    todo = [top]
    while todo:
        folder = todo.pop()
        bounds.place(folder, True)
        try:
            entries = []
            with os.scandir(source / folder) as listing:
                for entry in listing:  # counted as they come: a folder of a million files stops early
                    bounds.look(folder / entry.name)
                    entries.append(entry)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue  # vanished or unreadable: not copied, as a file that cannot be opened
        except OSError as error:
            raise SubmissionRefused(f"{_shown(folder)} cannot be read ({error.strerror}); not copied") from None
        found.append((folder, True))
        subfolders = []
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name in SKIP_IN_SUBMISSION or entry.is_symlink():
                continue
            relative = folder / entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(relative)
                elif entry.is_file(follow_symlinks=False) and not entry.name.endswith((".pyc", ".pyo")):
                    bounds.place(relative, False)
                    bounds.take(entry.stat(follow_symlinks=False).st_size)
                    found.append((relative, False))
            except FileNotFoundError:
                continue
        todo += reversed(subfolders)  # depth first, in name order
    return found


def _imports(source: Path, files: list[tuple[PurePath, bool]]) -> set[str]:
    """The top-level module names that the .py files among `files` import (read, never run)."""
    names: set[str] = set()
    for relative, is_folder in files:
        if not is_folder and relative.suffix == ".py":
            names |= _imports_of(source / relative)
    return names


# file -> (its size, mtime and inode, the names it imports): a grading run makes
# two sandboxes of the submission (`harness/own_forward.py`), parsing it once.
_IMPORTS_OF: dict[str, tuple[tuple[int, int, int], frozenset[str]]] = {}


# The fields of a node that hold statements (a def's or a class's body, an if's
# or a loop's else, a try's handlers and finally, a match's cases).
_STATEMENT_LISTS = ("body", "orelse", "finalbody", "handlers", "cases")


def import_statements(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every `import` and `from ... import` statement of a parsed module, at
    any depth. Imports are statements: only statement lists are walked, never
    expressions (ast.walk visits every node, about ten times as many). An
    explicit stack, not recursion: any depth of nesting."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        for field in _STATEMENT_LISTS:
            children = getattr(node, field, None)
            if isinstance(children, list):  # a lambda's or an if-expression's body is an expression
                todo.extend(children)


def _imports_of(file: Path) -> frozenset[str]:
    """The top-level names one .py file imports, remembered by its file stamp."""
    try:
        info = os.stat(file)
    except OSError:
        return frozenset()
    stamp = (info.st_size, info.st_mtime_ns, info.st_ino)
    known = _IMPORTS_OF.get(str(file))
    if known is not None and known[0] == stamp:
        return known[1]
    names: set[str] = set()
    try:
        with open(file, "rb") as stream:
            text = stream.read(MAX_SCANNED_SOURCE + 1)
        if len(text) > MAX_SCANNED_SOURCE:
            return frozenset()  # not worth parsing in the judge; if it imports a helper, the student hears of it
        tree = ast.parse(text)
    except (SyntaxError, ValueError, OSError, RecursionError, MemoryError):
        return frozenset()  # importing it in the worker reports the error to the student
    for node in import_statements(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    if len(_IMPORTS_OF) > 10_000:  # a long test session: forget, rather than grow
        _IMPORTS_OF.clear()
    _IMPORTS_OF[str(file)] = (stamp, frozenset(names))
    return _IMPORTS_OF[str(file)][1]


def imported_top_level_names(path: Path) -> set[str]:
    """The top-level module names that the .py file(s) at `path` import (read, never run).

    Raises SubmissionRefused for a folder beyond the copy's bounds.
    """
    return _imports(path.parent, _survey(path.parent, path.name, _Bounds(float("inf"))))


def _select(source: Path, packages: tuple[str, ...] | None, bounds: _Bounds) -> dict[str, list]:
    """{top-level name: `_survey` of it} of what the worker gets (see `submission_entries`)."""

    def usable(name: str) -> bool:
        try:
            info = os.lstat(source / name)
        except OSError:
            return False
        return name not in SKIP_IN_SUBMISSION and (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode))

    if packages is None:
        names = []
        with os.scandir(source) as listing:
            for entry in listing:
                bounds.look(PurePath(entry.name))
                names.append(entry.name)
        return {name: _survey(source, name, bounds) for name in sorted(names) if usable(name)}
    chosen: dict[str, list] = {}
    todo = list(packages)
    while todo:
        name = todo.pop(0)
        if name in chosen or not usable(name) or ((source / name).is_file() and not name.endswith(".py")):
            continue
        chosen[name] = _survey(source, name, bounds)
        for module in sorted(_imports(source, chosen[name])):
            todo += [module, f"{module}.py"]
    return chosen


def submission_entries(source: Path, packages: tuple[str, ...] | None) -> list[Path]:
    """The top-level files and folders of `source` that the worker gets.

    Only the graded `packages` belong on the worker's import path, so that a
    scratch `random.py` beside them cannot shadow anything; a top-level module
    that graded code itself imports (a helper module, SPEC 4) comes along,
    found by reading import statements, transitively. None: everything.
    Raises SubmissionRefused as `submission_files` does.
    """
    return [source / name for name in _select(source, packages, _Bounds(float("inf")))]


def submission_files(
    source: Path, packages: tuple[str, ...] | None, max_bytes: float
) -> list[tuple[PurePath, bool]]:
    """Every folder and file of `source` that a sandbox gets (of the
    `submission_entries`), as (path relative to `source`, is a folder),
    every folder before what it holds. Looks, never copies: the judge calls
    it before starting any sandbox, to refuse a submission early.

    Raises SubmissionRefused when the submission passes a bound: folders
    nested more than MAX_SUBMISSION_DEPTH deep, more than
    MAX_SUBMISSION_ENTRIES files and folders, more than `max_bytes` bytes of
    files, a path longer than MAX_SUBMISSION_PATH.
    """
    bounds = _Bounds(max_bytes)
    return [item for found in _select(source, packages, bounds).values() for item in found]


def _copy_tree(
    source: Path, target: Path, files: list[tuple[PurePath, bool]], budget: list[int], identity: Identity
) -> None:
    """Copy `files` (from `submission_files`) of `source` into `target`:
    regular files and folders only, never through a symlink.

    `budget` is a one-item list of the bytes still allowed, checked again on
    the open file (it may have changed since it was surveyed); SubmissionRefused
    when exhausted.
    """

    def own(path: Path) -> None:
        if identity.switches:
            os.chown(path, identity.uid, identity.gid)

    for relative, is_folder in files:
        destination = target / relative
        if is_folder:
            destination.mkdir(mode=0o755, exist_ok=True)
            own(destination)
            continue
        try:
            fd = os.open(source / relative, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue  # a symlink, unreadable, vanished
        with os.fdopen(fd, "rb") as stream:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                continue
            budget[0] -= info.st_size
            if budget[0] < 0:
                raise SubmissionRefused("the submission is larger than the sandbox allows; not copied")
            with open(destination, "wb") as copy:
                left = info.st_size  # no more than fstat said: a file that grows meanwhile is cut there
                while left > 0:
                    chunk = stream.read(min(left, 2**20))
                    if not chunk:
                        break
                    copy.write(chunk)
                    left -= len(chunk)
        own(destination)


def copy_submission(
    source: Path, target: Path, max_bytes: int, identity: Identity, packages: tuple[str, ...] | None = None
) -> None:
    """Copy `submission_files(source, packages, max_bytes)` into `target`.

    Raises SubmissionRefused as `submission_files` does (before anything is copied).
    """
    files = submission_files(source, packages, max_bytes)
    _copy_tree(source, target, files, [max_bytes], identity)


# The bytecode of a source (by its SHA-256) as a checked-hash .pyc (PEP 552):
# the sandboxes of a run share their sources (the submission's twice, the
# harness's scenarios thrice), compiled here once instead of in every worker.
_PYC_OF: dict[bytes, bytes] = {}
_CHECKED_HASH = 0b11  # PEP 552 flags: hash-based, checked against the source at every import


def compile_beside(folder: Path, owner: Identity | None) -> None:
    """Write beside every .py file of `folder` (a copy made by the judge:
    regular files and folders only) the .pyc its import would compile, in
    `__pycache__` (owned like the copy: `owner`, readable, never writable by a
    worker). Hash-based and checked: the worker's interpreter uses it only if
    it is of the same version and the source's hash matches, and compiles the
    source itself otherwise (-B: it never writes one). Compiling runs no code;
    a source that does not compile (or is too large to be worth it) is left
    to the worker, which reports its error to the student. Never raises."""
    for directory, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if name != "__pycache__"]
        for name in files:
            if not name.endswith(".py"):
                continue
            source = Path(directory) / name
            try:
                data = source.read_bytes()
                if len(data) > MAX_SCANNED_SOURCE:
                    continue
                pyc = _bytecode(data, source)
                if pyc is None:
                    continue
                target = Path(importlib.util.cache_from_source(str(source)))
                target.parent.mkdir(mode=0o750 if owner else 0o755, exist_ok=True)
                target.write_bytes(pyc)
                target.chmod(0o640 if owner else 0o644)
                if owner is not None and owner.switches:
                    os.chown(target.parent, owner.uid, owner.gid)
                    os.chown(target, owner.uid, owner.gid)
            except OSError:
                continue


def _bytecode(data: bytes, source: Path) -> bytes | None:
    key = hashlib.sha256(data).digest()
    if key not in _PYC_OF:
        try:
            code = compile(data, str(source), "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
            return None
        if len(_PYC_OF) > 10_000:  # a long batch: forget, rather than grow
            _PYC_OF.clear()
        _PYC_OF[key] = (importlib.util.MAGIC_NUMBER + _CHECKED_HASH.to_bytes(4, "little")
                        + importlib.util.source_hash(data) + marshal.dumps(code))
    return _PYC_OF[key]


def create_sandbox_dir(
    submission: Path,
    interpreter: Interpreter,
    identity: Identity,
    max_bytes: int,
    packages: tuple[str, ...] | None = None,
    shipped: tuple[tuple[Path, str], ...] = (),
) -> SandboxDir:
    """A fresh sandbox folder (layout in the module docstring). `packages`: see
    `submission_entries`; `shipped`: (folder, name) pairs of the harness's own
    packages that the worker may import (copied read-only into site/ as `name`)."""
    if not submission.is_dir():
        raise SandboxError(f"submission {submission} is not a directory")
    root = Path(tempfile.mkdtemp(prefix="harness-sandbox-"))
    try:
        root.chmod(0o711)
        layout = SandboxDir(
            root=root,
            worker=root / "worker.py",
            site=root / "site",
            work=root / "work",
            tmp=root / "tmp",
            out=root / "out",
        )
        shutil.copyfile(WORKER_SOURCE, layout.worker)
        layout.worker.chmod(0o644)
        layout.site.mkdir(mode=0o755)
        for package in interpreter.packages:
            os.symlink(package, layout.site / Path(package).name)
        for folder, name in shipped:
            shutil.copytree(folder, layout.site / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            compile_beside(layout.site / name, None)
            for path in [layout.site / name, *(layout.site / name).rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
        layout.out.mkdir(mode=0o700)
        layout.tmp.mkdir(mode=0o700)
        layout.work.mkdir(mode=0o700)
        # The code is the judge's copy: the worker may read it (group), not
        # change it (owner root), and nobody else may enter (0750). Changing
        # it would let one worker leave something for the next one of the
        # same sandbox (a fresh worker must start from the submission).
        readers = Identity(os.getuid(), identity.gid) if identity.switches else identity
        copy_submission(submission, layout.work, max_bytes, readers, packages)
        compile_beside(layout.work, readers)
        if identity.switches:
            os.chown(layout.tmp, identity.uid, identity.gid)
            os.chown(layout.work, os.getuid(), identity.gid)
        layout.work.chmod(0o750 if identity.switches else 0o700)
        return layout
    except BaseException:
        cleanup.remove_tree(root)
        raise
