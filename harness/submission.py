"""What a submission folder holds, judged without importing any of it."""

import pathlib

ASSIGNMENTS = ("beras", "bgd")


class SubmissionError(Exception):
    """The harness cannot grade this folder (exit status 2)."""


def find_packages(folder, assignment=None):
    """The assignment packages present in `folder`, in SPEC order.

    A package is a directory `beras/` or `bgd/` holding an `__init__.py`.
    `assignment` narrows the search to one of them, which must be present.
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise SubmissionError(f"{folder}: no such folder")
    if assignment is not None and assignment not in ASSIGNMENTS:
        raise SubmissionError(f"unknown assignment {assignment!r}: choose one of {', '.join(ASSIGNMENTS)}")
    wanted = [assignment] if assignment else list(ASSIGNMENTS)
    found = [name for name in wanted if (folder / name / "__init__.py").is_file()]
    if not found:
        looked_for = " or ".join(f"{name}/__init__.py" for name in wanted)
        hint = ""
        nested = sorted(p.parent.relative_to(folder) for name in wanted for p in folder.glob(f"*/{name}/__init__.py"))
        if nested:
            hint = f" (found one a level down, in {nested[0]}/: grade that folder instead)"
        raise SubmissionError(f"{folder}: no {looked_for} found{hint}")
    return found
