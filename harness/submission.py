"""What a submission folder holds, judged without importing any of it."""

import dataclasses
import pathlib

ASSIGNMENTS = ("beras", "bgd")
# Left in a folder by zipping on macOS, by version control, by editors: never the top folder of a submission.
IGNORED = ("__MACOSX",)


class SubmissionError(Exception):
    """The harness cannot grade this folder (exit status 2)."""


@dataclasses.dataclass(frozen=True)
class Located:
    """Where a submission's packages are: `folder` (the one given, or the one
    folder inside it that holds them) and what to tell the student about it."""

    folder: pathlib.Path
    packages: list
    note: str = ""  # "graded the folder hw2/ inside your submission, ...", or ""


def find_packages(folder, assignment=None):
    """The assignment packages present in `folder`, in SPEC order.

    A package is a directory `beras/` or `bgd/` holding an `__init__.py`.
    `assignment` narrows the search to one of them, which must be present.
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise SubmissionError(f"{folder}: no such folder")
    wanted = _wanted(assignment)
    found = _packages_in(folder, wanted)
    if not found:
        raise SubmissionError(_nothing_found(folder, wanted))
    return found


def locate(folder, assignment=None):
    """The packages of a submission, and the folder that holds them (`Located`).

    Usually that is `folder` itself. A zip made of the folder rather than of
    its contents unpacks to one folder that holds the packages (`hw2/beras/`):
    when `folder` holds none itself and exactly one of its folders does
    (`__MACOSX/` and hidden folders aside), that folder is graded, and the
    note says so. Raises SubmissionError (exit status 2) otherwise, naming the
    folders to look at when the packages sit deeper.
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise SubmissionError(f"{folder}: no such folder")
    wanted = _wanted(assignment)
    found = _packages_in(folder, wanted)
    if found:
        return Located(folder, found)
    holders = [inner for inner in _subfolders(folder) if _packages_in(inner, wanted)]
    if len(holders) == 1:
        inner = holders[0]
        packages = _packages_in(inner, wanted)
        note = (
            f"Graded the folder {inner.name}/ inside your submission: it holds {' and '.join(f'{p}/' for p in packages)}. "
            f"Next time, submit {' and '.join(f'{p}/' for p in packages)} at the top (zip the files, not the folder)."
        )
        return Located(inner, packages, note)
    raise SubmissionError(_nothing_found(folder, wanted, holders))


def _wanted(assignment):
    if assignment is not None and assignment not in ASSIGNMENTS:
        raise SubmissionError(f"unknown assignment {assignment!r}: choose one of {', '.join(ASSIGNMENTS)}")
    return [assignment] if assignment else list(ASSIGNMENTS)


def _packages_in(folder, wanted):
    return [name for name in wanted if (folder / name / "__init__.py").is_file()]


def _subfolders(folder):
    """The folders directly in `folder` that may hold a submission, by name."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    return [
        entry for entry in entries
        if entry.is_dir() and not entry.is_symlink() and not entry.name.startswith(".") and entry.name not in IGNORED
    ]


def _nothing_found(folder, wanted, holders=None):
    looked_for = " or ".join(f"{name}/__init__.py" for name in wanted)
    if holders is None:
        holders = [inner for inner in _subfolders(folder) if _packages_in(inner, wanted)]
    hint = ""
    if holders:
        names = ", ".join(f"{inner.name}/" for inner in holders)
        hint = f" (found them a level down, in {names}: submit one of these folders' contents, or grade that folder)"
    return f"{folder}: no {looked_for} found{hint}"
