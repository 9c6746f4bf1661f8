"""The user documentation (README.md, docs/*.md) stays true to the repository.

- every relative link, and every relative path written as code, points at a
  file inside the repository (a clone has nothing beside it), and a link's
  `#fragment` at a heading of the page it names;
- README links every docs page;
- every option that `grade --help`, `check --help` (and the --help of any
  command added later) print is documented in its command's `## command`
  section of docs/commands.md, in the first cell of a table row;
- every class the catalog checks is named, fully qualified as in check names,
  in docs/student-api.md;
- the Python examples of docs/student-api.md run against the reference.

Markdown is parsed with markdown-it-py (CommonMark, plus tables), not with
regular expressions: code spans, fenced blocks and link syntax have edge cases
a parser already handles.
"""

import pathlib
import re
import subprocess
import sys
import urllib.parse

import pytest
from markdown_it import MarkdownIt

from harness.clauses import catalog_checks
from harness.cli import build_parser

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
OPTION = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*")


def tokens(path):
    """The markdown-it token stream of a Markdown file (block tokens; inline ones are their children)."""
    return MarkdownIt("commonmark").enable("table").parse(path.read_text(encoding="utf-8"))


def inline_children(path):
    for token in tokens(path):
        if token.type == "inline":
            yield from token.children or []


def links(path):
    """Every link and image target of a Markdown file, as written."""
    for child in inline_children(path):
        if child.type == "link_open":
            yield child.attrs["href"]
        elif child.type == "image":
            yield child.attrs["src"]


def code_spans(path):
    return [child.content for child in inline_children(path) if child.type == "code_inline"]


def heading_slug(text):
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path):
    """The `#fragment`s a Markdown file's headings define (a repeated slug gets -1, -2, ...)."""
    found, seen, stream = set(), {}, tokens(path)
    for token, following in zip(stream, stream[1:]):
        if token.type != "heading_open":
            continue
        text = "".join(c.content for c in following.children if c.type in ("text", "code_inline"))
        slug = heading_slug(text)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def is_external(target):
    return bool(urllib.parse.urlsplit(target).scheme)


def resolve(page, target):
    """(the file a relative link of `page` names, its fragment)."""
    parts = urllib.parse.urlsplit(target)
    path = urllib.parse.unquote(parts.path)
    return ((page.parent / path).resolve() if path else page.resolve()), parts.fragment


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(page):
    relative = [target for target in links(page) if not is_external(target)]
    broken = []
    for target in relative:
        file, fragment = resolve(page, target)
        if not file.is_relative_to(ROOT):
            broken.append(f"{target}: outside the repository")
        elif not file.exists():
            broken.append(f"{target}: no such file")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            broken.append(f"{target}: no heading with the anchor #{fragment} in {file.relative_to(ROOT)}")
    # Paths written as code (`../shared/SPEC.md`) are read as links by people: the same rule.
    for span in code_spans(page):
        if span.startswith("../") and not (page.parent / span).resolve().is_relative_to(ROOT):
            broken.append(f"`{span}`: a path outside the repository")
    assert not broken, f"{page.relative_to(ROOT)}:\n" + "\n".join(broken)


def test_link_checking_sees_links_and_catches_bad_ones(tmp_path):
    """The checker is not blind: it finds links in tables and text, and tells a
    missing file, a path out of the repository and an unknown anchor apart."""
    page = DOCS / "commands.md"
    found = list(links(page))
    assert "files.md#resultsjson" in found and "#grade" in found  # in a table cell, and in text
    assert resolve(page, "files.md#time-limits") == ((DOCS / "files.md").resolve(), "time-limits")
    assert "time-limits" in anchors(DOCS / "files.md")
    assert "no-such-heading" not in anchors(DOCS / "files.md")
    assert not resolve(page, "../../shared/SPEC.md")[0].is_relative_to(ROOT)
    assert heading_slug("Instructor commands (being built)") == "instructor-commands-being-built"
    assert heading_slug("The given core (beras/core.py)") == "the-given-core-berascorepy"
    assert "the-given-core-berascorepy" in anchors(DOCS / "student-api.md")  # code in a heading counts


def test_readme_links_every_docs_page():
    linked = {resolve(ROOT / "README.md", target)[0] for target in links(ROOT / "README.md") if not is_external(target)}
    missing = [page.name for page in sorted(DOCS.glob("*.md")) if page.resolve() not in linked]
    assert not missing, f"README.md's Documentation table does not link {missing}"


# ------------------------------------------------------------ commands.md


def help_text(command):
    run = subprocess.run([sys.executable, "-m", "harness", command, "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def printed_arguments(text):
    """(options, positionals) that a --help prints: the invocation column (up
    to the first gap of two spaces) of the lines indented by exactly two
    spaces in its "options:" and "positional arguments:" blocks."""
    options, positionals, block = set(), set(), None
    for line in text.splitlines():
        if line and not line[0].isspace():  # "options:", "examples:", "exit status:", ...
            block = line.strip()
            continue
        if not re.match(r"  \S", line):  # blank, or the help text's continuation
            continue
        invocation = re.split(r"\s{2,}", line.strip())[0]
        if block == "positional arguments:":
            positionals.add(invocation)
        elif block in ("options:", "optional arguments:"):  # Python 3.10+ / older
            options.update(OPTION.findall(invocation))
    return options, positionals


def subcommands():
    """{name: parser} of every `python -m harness` command."""
    return next(action.choices for action in build_parser()._actions if action.choices)


COMMANDS = sorted(subcommands())


def parser_arguments(command):
    """(options, positionals) of a subcommand, as argparse holds them."""
    actions = subcommands()[command]._actions
    options = {s for a in actions for s in a.option_strings}
    return options, {a.dest for a in actions if not a.option_strings}


def documented_in_tables(section):
    """Code spans in the first cell of every table row under the `## section` heading of commands.md."""
    found, heading, cell, stream = set(), None, 0, tokens(DOCS / "commands.md")
    for token, following in zip(stream, stream[1:]):
        if token.type == "heading_open" and token.tag == "h2":
            heading = following.content.strip("`").strip()
        elif token.type in ("tr_open", "table_close"):
            cell = 0
        elif token.type in ("td_open", "th_open"):
            cell += 1
        elif token.type == "inline" and cell == 1 and heading == section:
            found.update(c.content for c in token.children if c.type == "code_inline")
    return found


def test_every_command_is_found():
    assert {"grade", "check"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_help_prints_is_documented(command):
    """Every command's `## command` section of docs/commands.md has a table row
    for each of its options and positional arguments."""
    options, positionals = printed_arguments(help_text(command))
    # The help was read right: exactly what argparse holds (so this test cannot pass on nothing).
    assert (options, positionals) == parser_arguments(command)
    cells = documented_in_tables(command)
    words = {word for cell in cells for word in OPTION.findall(cell)} | {w for cell in cells for w in cell.split()}
    undocumented = sorted(o for o in options if o not in words)
    undocumented += sorted(p for p in positionals if p.upper() not in words)
    assert not undocumented, (
        f"docs/commands.md, section `{command}`: no table row documents {undocumented} "
        f"(the first cell of a row names the option in code, e.g. `--results RESULTS`)"
    )


def test_undocumented_option_is_noticed():
    cells = documented_in_tables("grade")
    assert any("--results" in cell for cell in cells)
    assert not any("--no-such-option" in cell for cell in cells)
    assert documented_in_tables("no such section") == set()


# ------------------------------------------------------------ student-api.md


def test_every_checked_class_is_named_in_the_student_api():
    targets = {target for _module, _function, rows, *_ in catalog_checks() for target, _title in rows}
    assert {t.split(".")[0] for t in targets} == {"beras", "bgd"} and len(targets) > 20
    named = set(code_spans(DOCS / "student-api.md"))
    missing = sorted(targets - named)
    assert not missing, f"docs/student-api.md does not name (as code, fully qualified) {missing}"


def python_examples(path):
    return [token.content for token in tokens(path) if token.type == "fence" and token.info.strip() == "python"]


@pytest.mark.parametrize("index", range(len(python_examples(DOCS / "student-api.md"))))
def test_student_api_examples_run_against_the_reference(index):
    """Each example is a complete program; it runs from the reference's folder,
    as a student runs it from their submission's."""
    example = python_examples(DOCS / "student-api.md")[index]
    run = subprocess.run([sys.executable, "-c", example], cwd=ROOT / "reference",
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"example {index + 1} of docs/student-api.md failed:\n{example}\n{run.stderr}"
