"""The corpus of correct submissions in tests/variants/, as gradable folders.

A variant folder holds only what its author wrote: the files of `beras/`
and/or `bgd/` that differ from `student_template/`. The given files (the
beras core, the bgd Layer base, the packages' `__init__.py`) come from the
template when a variant is materialised, unless the variant changes them on
purpose (`variable_subclass` defines `Variable` as a subclass in its core).
"""

import pathlib
import shutil
import zlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
VARIANTS = ROOT / "tests" / "variants"
TEMPLATE = ROOT / "student_template"
PACKAGES = ("beras", "bgd")


def names():
    return sorted(
        p.name for p in VARIANTS.iterdir()
        if p.is_dir() and not p.name.startswith(("_", ".")) and any((p / package).is_dir() for package in PACKAGES)
    )


def seeds_of(name, count=3):
    """Fixed seeds, different for every variant (derived from its name)."""
    base = zlib.crc32(name.encode()) % 100_000
    return [base + 7919 * k for k in range(count)]


def materialise(name, destination):
    """The variant `name` as a whole submission in `destination` (template files under its own)."""
    destination = pathlib.Path(destination)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGES:
        if (VARIANTS / name / package).is_dir():
            shutil.copytree(TEMPLATE / package, destination / package, ignore=ignore, dirs_exist_ok=True)
            shutil.copytree(VARIANTS / name / package, destination / package, ignore=ignore, dirs_exist_ok=True)
    return destination
