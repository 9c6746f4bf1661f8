"""Generate `student_template/` from `reference/` (solution markers).

    python -m harness.template            # rewrite student_template/
    python -m harness.template --check    # exit 1 if it is out of date

The reference is the single source of truth: code a student writes is fenced
by markers (docs/solution-markers.md) and replaced here by a
`raise NotImplementedError` that names the method and says what to compute.
"""

import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE_DIR = ROOT / "reference"
TEMPLATE_DIR = ROOT / "student_template"
PACKAGES = ("beras", "bgd")

BEGIN = re.compile(r"^(?P<indent>\s*)# SOLUTION(?::\s*(?P<todo>.*\S))?\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
SOLUTION_LINE = re.compile(r"#\s*SOLUTION LINE\s*$")
DEFINITION = re.compile(r"^(?P<indent>\s*)(?:async\s+)?(?:def|class)\s+(?P<name>\w+)")


class MarkerError(ValueError):
    pass


def strip_solutions(source, filename="<source>"):
    """The template version of one reference file's source text."""
    out = []
    scopes = []  # (indent, name) of the enclosing classes and functions
    in_solution = False
    drop_blank = False  # a removed line between two blank lines takes one with it
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        where = f"{filename}:{number}"
        begin, end = BEGIN.match(line), END.match(line)
        if in_solution:
            if begin:
                raise MarkerError(f"{where}: SOLUTION inside another SOLUTION")
            if end:
                in_solution = False
            continue
        if end:
            raise MarkerError(f"{where}: END SOLUTION without SOLUTION")
        if begin:
            in_solution = True
            if begin["todo"]:
                owner = ".".join(name for _, name in scopes) or "<module>"
                message = f"{owner}: TODO {begin['todo']}"
                out.append(f"{begin['indent']}raise NotImplementedError({_python_string(message)})\n")
            continue
        if SOLUTION_LINE.search(line):
            drop_blank = bool(out) and not out[-1].strip()
            continue
        if drop_blank and not line.strip():
            drop_blank = False
            continue
        drop_blank = False
        definition = DEFINITION.match(line)
        if definition:
            indent = len(definition["indent"])
            scopes = [(i, n) for i, n in scopes if i < indent] + [(indent, definition["name"])]
        out.append(line)
    if in_solution:
        raise MarkerError(f"{filename}: SOLUTION not closed by END SOLUTION")
    return _squeeze_blank_lines("".join(out))


def _python_string(text):
    """A double-quoted Python literal for `text` (students read these lines)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _squeeze_blank_lines(text):
    """No more than two blank lines in a row where code was taken out."""
    return re.sub(r"\n{4,}", "\n\n\n", text)


def template_files(reference_dir=REFERENCE_DIR):
    """{relative path: text} of every file the template should hold."""
    files = {}
    for package in PACKAGES:
        for path in sorted((reference_dir / package).rglob("*.py")):
            relative = path.relative_to(reference_dir)
            files[relative.as_posix()] = strip_solutions(path.read_text(), relative.as_posix())
    return files


def differences(template_dir=TEMPLATE_DIR, reference_dir=REFERENCE_DIR):
    """Paths where the committed template is not what the generator writes."""
    wanted = template_files(reference_dir)
    present = {
        p.relative_to(template_dir).as_posix()
        for package in PACKAGES
        for p in (template_dir / package).rglob("*.py")
    }
    stale = [p for p, text in wanted.items() if not (template_dir / p).is_file() or (template_dir / p).read_text() != text]
    return sorted(stale + [p for p in present - wanted.keys()])


def write_template(template_dir=TEMPLATE_DIR, reference_dir=REFERENCE_DIR):
    wanted = template_files(reference_dir)
    for package in PACKAGES:
        for path in (template_dir / package).rglob("*.py"):
            if path.relative_to(template_dir).as_posix() not in wanted:
                path.unlink()
    for relative, text in wanted.items():
        target = template_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return sorted(wanted)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m harness.template", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether the template is up to date")
    args = parser.parse_args(argv)
    if args.check:
        stale = differences()
        for path in stale:
            print(f"out of date: student_template/{path}")
        if stale:
            print("run `python -m harness.template` to regenerate it")
        return 1 if stale else 0
    for path in write_template():
        print(f"wrote student_template/{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
