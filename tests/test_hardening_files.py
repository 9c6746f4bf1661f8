"""Trees that attack the judge's file handling: copying a submission into the
sandbox is bounded (harness/sandbox/runtime.py: depth, entries, bytes, no
recursion), and removing a sandbox folder (harness/sandbox/cleanup.py) copes
with any tree student code leaves, after the results are written.

Every grading test runs `python -m harness grade` on a real submission with
a private temp dir: results.json must be written, the exit status must be
0/1 (2 with results.json for a refused copy), and no sandbox folder may be
left behind.
"""

import os
import pathlib
import pwd
import stat
import tempfile
import textwrap
import xml.etree.ElementTree as ET

import pytest
from hardening import DENSE_CALL, grade, leftovers, private_tmpdir, submission_with
from mutants import copy_reference

from harness import cli
from harness.sandbox import Sandbox, SubmissionRefused, cleanup, runtime

IS_ROOT = os.getuid() == 0


@pytest.fixture(autouse=True)
def no_deep_tree_left_for_pytest(tmp_path):
    """pytest deletes old temp dirs with shutil.rmtree, which a chain 1,000
    folders deep breaks (in every later run, everybody's): our trees go now."""
    yield
    cleanup.remove_tree(tmp_path)


@pytest.fixture(scope="module")
def tmpdir_for_the_judge():
    with private_tmpdir() as folder:
        yield folder


def chain(folder, depth, name="a"):
    """A chain of `depth` nested folders `name` under `folder` (made relative
    to directory fds: the full path is longer than the kernel accepts)."""
    os.makedirs(folder, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.close(os.open("bottom.py", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)


def full_marks(document):
    return document["score"] == document["extra_data"]["max_score"] > 0


# ------------------------------------------------------------- copying


def test_a_deep_chain_beside_the_packages_is_not_copied_and_changes_nothing(tmp_path, tmpdir_for_the_judge):
    before = set(leftovers(tmpdir_for_the_judge))
    control = copy_reference(tmp_path / "control")
    status, document, _, run = grade(control, tmp_path, tmpdir_for_the_judge, "--assignment", "beras")
    assert status == 0 and full_marks(document), run.stderr
    chained = copy_reference(tmp_path / "chained")
    chain(chained / "scratch", 1100)
    status, document, _, run = grade(chained, tmp_path, tmpdir_for_the_judge, "--assignment", "beras")
    assert status == 0 and full_marks(document), run.stderr
    assert set(leftovers(tmpdir_for_the_judge)) <= before  # none of this test's


@pytest.mark.parametrize("where", ["beras/scratch", "helper"])
def test_a_deep_chain_inside_what_is_copied_is_refused_with_results_and_exit_2(tmp_path, tmpdir_for_the_judge, where):
    """Inside a graded package, or in a top-level module folder that one imports."""
    before = set(leftovers(tmpdir_for_the_judge))
    folder = copy_reference(tmp_path / "submission")
    if where == "helper":  # beras imports it, so the sandbox would copy it
        (folder / "helper").mkdir()
        (folder / "helper" / "__init__.py").write_text("")
        (folder / "beras" / "uses_helper.py").write_text("import helper\n")
    chain(folder / where, 1100)
    status, document, junit, run = grade(folder, tmp_path, tmpdir_for_the_judge, "--assignment", "beras")
    assert status == 2, run.stderr
    assert document is not None and document["score"] == 0 and document["tests"] == []
    reason = document["output"]
    assert reason.startswith("This submission could not be graded: ") and f"{where}/a/" in reason
    assert f"more than {runtime.MAX_SUBMISSION_DEPTH} folders deep" in reason and len(reason) < 400
    assert "Traceback" not in run.stderr and "not graded" in run.stderr
    suite = ET.parse(junit).getroot()
    assert suite.get("errors") == "1" and f"{where}/a/" in suite.find("testcase/error").get("message")
    assert set(leftovers(tmpdir_for_the_judge)) <= before  # none of this test's


def make_package(folder, files=()):
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "__init__.py").write_text("")
    for name in files:
        (folder / "pkg" / name).write_text("x = 1\n")
    return folder


def test_copy_bounds_entries_bytes_depth_and_path_length(tmp_path):
    ok = make_package(tmp_path / "ok", ["a.py"])
    chain(ok / "pkg" / "deep", runtime.MAX_SUBMISSION_DEPTH - 2)  # pkg/deep/a/.../a: folders exactly as deep as allowed
    files = runtime.submission_files(ok, ("pkg",), 10**6)
    assert (runtime.PurePath("pkg", "deep", *["a"] * (runtime.MAX_SUBMISSION_DEPTH - 2), "bottom.py"), False) in files
    assert files[0] == (runtime.PurePath("pkg"), True)

    deeper = make_package(tmp_path / "deeper")
    chain(deeper / "pkg" / "deep", runtime.MAX_SUBMISSION_DEPTH - 1)  # one more
    with pytest.raises(SubmissionRefused, match="folders deep"):
        runtime.submission_files(deeper, ("pkg",), 10**6)

    many = make_package(tmp_path / "many", ["a.py"])
    for number in range(runtime.MAX_SUBMISSION_ENTRIES):  # hard links: a new inode each would be slow
        os.link(many / "pkg" / "a.py", many / "pkg" / f"copy{number}.py")
    with pytest.raises(SubmissionRefused, match="more than 10000 files and folders"):
        runtime.submission_files(many, ("pkg",), 10**9)

    with pytest.raises(SubmissionRefused, match="larger than the sandbox allows"):
        runtime.submission_files(ok, ("pkg",), 3)

    long = make_package(tmp_path / "long")
    chain(long / "pkg", 5, name="n" * 250)
    with pytest.raises(SubmissionRefused, match="path longer than"):
        runtime.submission_files(long, ("pkg",), 10**6)

    # Nothing is copied of a refused submission, and the refusal is a SandboxError.
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(runtime.SandboxError):
        runtime.copy_submission(deeper, target, 10**6, runtime.Identity(None, None), ("pkg",))
    assert list(target.iterdir()) == []


def test_a_sandbox_refusing_a_submission_leaves_no_folder(tmp_path, monkeypatch):
    """The judge refuses before any sandbox starts; a Sandbox used directly refuses too, and cleans up."""
    folder = make_package(tmp_path / "submission", ["a.py"])
    chain(folder / "pkg" / "scratch", 1100)
    with private_tmpdir() as tmpdir:
        monkeypatch.setattr(tempfile, "tempdir", tmpdir)
        with pytest.raises(SubmissionRefused, match="folders deep"):
            Sandbox(folder, user=None, graded=("pkg",))
        assert leftovers(tmpdir) == []


# ------------------------------------------------------------- clean-up

MAKE_DEEP_TREES = """\
import os
for top in (os.environ["TMPDIR"],):  # its HOME (its code copy is read-only)
    if not os.path.exists(os.path.join(top, "tree")):
        os.mkdir(os.path.join(top, "tree"))
        fd = os.open(os.path.join(top, "tree"), os.O_RDONLY)
        for level in range(3000):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            if level % 1000 == 999:
                os.chmod(fd, 0)  # unreadable levels on the way
            os.close(fd)
            fd = inner
        os.close(os.open("file", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
        os.symlink("/", "root", dir_fd=fd)
        os.close(fd)
"""
# 100,000 names of empty files, most of them hard links (ext4 allows 65,000
# per file): what the clean-up must remove is directory entries, and a fresh
# inode each would take this disk ~15 s to make.
MAKE_MANY_FILES = """\
import os
many = os.path.join(os.environ["TMPDIR"], "many")
if not os.path.exists(many):
    os.mkdir(many)
    fd = os.open(many, os.O_RDONLY)
    for number in range(100_000):
        if number % 50_000 == 0:
            first = str(number)
            os.close(os.open(first, os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
        else:
            os.link(first, str(number), src_dir_fd=fd, dst_dir_fd=fd)
    os.close(fd)
"""


# Where each is made: the trees by bgd's FullyConnected (graded in the forked
# process, whose sandbox folders this process removes: harness/grading.py),
# the files by beras's Dense (graded in this process).
PLACES = {
    "3000-deep trees": (MAKE_DEEP_TREES, "bgd/layers/fc.py", "            return nnmath.affine(X, self.weights, self.biases)\n", " " * 12),
    "100000 files": (MAKE_MANY_FILES, "beras/layers.py", DENSE_CALL, " " * 8),
}


@pytest.mark.parametrize("namespaces", [True, False], ids=["namespaces", "no namespaces"])
@pytest.mark.parametrize("attack", PLACES)
def test_what_student_code_leaves_is_removed_after_the_results_are_written(tmp_path, tmpdir_for_the_judge, attack, namespaces):
    """With namespaces the worker's HOME and temp dir are tmpfs that vanish
    with it; without (a container without CAP_SYS_ADMIN) they are on disk."""
    before = set(leftovers(tmpdir_for_the_judge))
    code, path, find, indent = PLACES[attack]
    folder = submission_with(tmp_path / "submission", textwrap.indent(code, indent), path=path, find=find)
    status, document, junit, run = grade(folder, tmp_path, tmpdir_for_the_judge, "--timeout", "30", namespaces=namespaces)
    failed = [t["output"] for t in document["tests"] if t["status"] == "failed"] if document else []
    assert status == 0 and full_marks(document), run.stderr + "".join(failed[:1])
    ET.parse(junit)
    assert "harness:" not in run.stderr  # not even a warning: everything was removed
    assert set(leftovers(tmpdir_for_the_judge)) <= before  # none of this test's


def test_results_are_written_before_sandbox_folders_are_removed(tmp_path, monkeypatch):
    results = tmp_path / "results.json"
    seen = []
    remove = cleanup.remove_tree

    def watched_remove(path, *args, **kwargs):
        seen.append((os.path.basename(path), results.exists()))
        return remove(path, *args, **kwargs)

    monkeypatch.setattr(cleanup, "remove_tree", watched_remove)
    reference = copy_reference(tmp_path / "submission")
    assert cli.main(["grade", str(reference), "--results", str(results), "--assignment", "beras"]) == 0
    sandboxes = [written for name, written in seen if name.startswith("harness-sandbox-")]
    # the student's and its finite-difference witness's (the reference runs in the judge), both after results.json
    assert len(sandboxes) == 2 and all(sandboxes), seen


def deep_tree_with_traps(top, outside, depth):
    """A chain `depth` deep under `top` with files, fifos, folders of mode 000
    and symlinks to `outside` (a folder and a file) at many levels."""
    os.makedirs(top)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for level in range(depth):
        os.mkdir("d", dir_fd=fd)
        if level % 100 == 0:
            os.symlink(str(outside), "to-folder", dir_fd=fd)
            os.symlink(str(outside / "keep.txt"), "to-file", dir_fd=fd)
            os.close(os.open("file", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
            os.mkfifo("fifo", dir_fd=fd)
            os.mkdir("locked", dir_fd=fd)
            os.close(os.open("locked/inside", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
            os.chmod("locked", 0, dir_fd=fd)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        if level % 300 == 299:
            os.fchmod(fd, 0o500)  # no write permission: nothing could be unlinked in it without a chmod
        os.close(fd)
        fd = inner
    os.fchmod(fd, 0)
    os.close(fd)


def outside_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("must survive")
    return outside


def test_remover_removes_a_deep_locked_tree_and_never_follows_a_symlink(tmp_path):
    outside = outside_folder(tmp_path)
    top = tmp_path / "sandbox"
    deep_tree_with_traps(top, outside, 1200)  # deeper than Python's recursion limit
    assert cleanup.remove_tree(top) is True
    assert not os.path.lexists(top)
    assert (outside / "keep.txt").read_text() == "must survive"
    link = tmp_path / "link"
    link.symlink_to(outside)
    assert cleanup.remove_tree(link) is True  # a symlink itself is removed, never its target
    assert not os.path.lexists(link) and (outside / "keep.txt").exists()
    assert cleanup.remove_tree(tmp_path / "missing") is True


@pytest.mark.skipif(not IS_ROOT, reason="needs root to become another user")
def test_remover_as_the_owner_but_not_root_chmods_what_it_cannot_open():
    """As root, mode 000 stops nothing; an owner who is not root must chmod
    first (the judge when it is not root: the worker is then its own user).
    A forked child becomes `nobody` and removes a tree of its own."""
    nobody = pwd.getpwnam("nobody")
    with private_tmpdir() as folder:  # one nobody can pass through
        base = pathlib.Path(folder)
        outside = outside_folder(base)
        (base / "mine").mkdir()
        os.chown(base / "mine", nobody.pw_uid, nobody.pw_gid)
        pid = os.fork()
        if pid == 0:  # the child: nobody, making and removing its own tree
            try:
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
                deep_tree_with_traps(base / "mine" / "sandbox", outside, 400)
                gone = cleanup.remove_tree(base / "mine" / "sandbox") and not os.path.lexists(base / "mine" / "sandbox")
                os._exit(0 if gone else 3)
            except BaseException:
                os._exit(4)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0  # 3: not removed, 4: failed to make it
        assert (outside / "keep.txt").read_text() == "must survive"


def test_remover_never_raises_and_stops_when_time_is_up(tmp_path, capsys):
    top = tmp_path / "tree"
    chain(top, 50)
    assert cleanup.remove_tree(top, timeout=0) is False  # gives up at once, leaving the tree
    assert "could not remove" in capsys.readouterr().err and top.exists()
    assert cleanup.remove_tree(top) is True and not top.exists()
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    assert cleanup.remove_tree(not_a_folder / "below") is False  # its parent is a file: a warning, no exception
    assert cleanup.remove_tree(not_a_folder) is True and not not_a_folder.exists()


def test_deferred_removal_waits_for_the_end_of_the_block(tmp_path):
    top = tmp_path / "tree"
    chain(top, 3)
    with cleanup.deferred():
        cleanup.discard(top)
        assert top.exists() and cleanup.queued() == [str(top)]
        with cleanup.deferred():  # nested: the outer block removes
            pass
        assert top.exists()
    assert not top.exists() and cleanup.queued() == []
    chain(top, 3)
    cleanup.discard(top)  # outside a block: at once
    assert not top.exists()


def test_a_mode_000_sandbox_folder_is_no_obstacle_either(tmp_path):
    top = tmp_path / "sandbox"
    (top / "work").mkdir(parents=True)
    os.chmod(top / "work", 0)
    os.chmod(top, stat.S_IRUSR)
    assert cleanup.remove_tree(top) is True and not top.exists()
