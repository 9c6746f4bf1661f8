"""What `python -m harness check` prints (harness/console.py), as a student sees it.

Measured on the untouched template before this report existed: 1,888 lines
(459 KB, lines up to 81,494 characters), the checks in catalog order (the
optimizers first), the score at the very bottom; on a one-bug submission
(`dense_input_grad_transposed`): 214 lines. The bounds below are far under both.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
from mutants import MUTANTS_BY_ID, materialise

from harness import console, outcomes, selection
from harness.results import CheckOutcome

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "student_template"
REFERENCE = ROOT / "reference"
ROW = re.compile(r"^  (ok  |FAIL)  (\S+)\s+(\d+) of (\d+)\s+(\S+)$")  # a class's row in the summary


def harness(*args, cwd=None, env=None):
    environment = {key: value for key, value in os.environ.items() if key not in ("NO_COLOR", "FORCE_COLOR")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=environment)


@pytest.fixture(scope="module")
def template_check(tmp_path_factory):
    """`python -m harness check` in an untouched copy of the template, as the README says to run it."""
    mine = tmp_path_factory.mktemp("template") / "mine"
    shutil.copytree(TEMPLATE, mine, ignore=shutil.ignore_patterns("__pycache__"))
    return harness("check", cwd=mine)


@pytest.fixture(scope="module")
def one_bug_check(tmp_path_factory):
    folder = tmp_path_factory.mktemp("one_bug") / "submission"
    materialise(MUTANTS_BY_ID["dense_bias_grad_divided_by_batch"], folder)
    return harness("check", folder)


def rows(stdout):
    """[(mark, class, passed, checks)] of the summary, in order."""
    return [(m[1].strip(), m[2], int(m[3]), int(m[4])) for m in map(ROW.match, stdout.splitlines()) if m]


# ----------------------------------------------------------- the template


def test_the_template_report_is_short(template_check):
    run = template_check
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) < 600, len(lines)
    assert max(map(len, lines)) < 1000
    assert "harness-sandbox-" not in run.stdout


def test_the_summary_comes_first_with_every_class(template_check):
    lines = template_check.stdout.splitlines()
    assert re.match(r"Public checks of beras and bgd in \.: \d+ of \d+ passed, 0/\d+ points", lines[0]), lines[0]
    summary = rows(template_check.stdout)
    first_failure = next(i for i, line in enumerate(lines) if line.startswith("FAIL "))
    last_row = max(i for i, line in enumerate(lines) if ROW.match(line))
    assert last_row < first_failure  # every class's row before any failure
    assert len(summary) >= 25 and len({target for _, target, _, _ in summary}) == len(summary)
    # The given code passes on the template, the rest fails.
    for mark, target, passed, checks in summary:
        given = target.startswith("beras.core.") or target == "bgd.layers.layer.Layer"
        assert (mark, passed == checks) == (("ok", True) if given else ("FAIL", False)), (target, mark)


def test_classes_come_in_the_readme_order(template_check):
    shown = [target for _, target, _, _ in rows(template_check.stdout)]
    assert shown[0] == "beras.layers.Dense" and shown[shown.index("bgd.layers.fc.FullyConnected") - 1].startswith("beras.")
    listed = [target for target in shown if target in outcomes.TEACHING_ORDER]
    assert listed == [target for target in outcomes.TEACHING_ORDER if target in shown]
    # Classes the list does not name are the given code, at the end of their package.
    others = [target for target in shown if target not in outcomes.TEACHING_ORDER]
    assert others == ["beras.core.Tensor", "beras.core.Callable", "beras.core.Weighted", "beras.core.Diffable",
                      "bgd.layers.layer.Layer"]
    assert shown.index("beras.core.Diffable") < shown.index("bgd.layers.fc.FullyConnected")


def test_the_teaching_order_is_the_readme_order():
    """outcomes.TEACHING_ORDER is the one list of the order; the student README must tell the same."""
    readme = (TEMPLATE / "README.md").read_text()
    section = readme.split("## In which order", 1)[1].split("\n## ", 1)[0]
    for package, text in re.findall(r"\*\*(\w+)\*\*\n(.*?)(?=\n\*\*|\Z)", section, re.S):
        in_readme = [name for name in re.findall(r"`([A-Z]\w*)", text)]
        in_order = [t.rsplit(".", 1)[1] for t in outcomes.TEACHING_ORDER if t.startswith(package + ".")]
        assert [name for name in in_order if name in in_readme] == list(dict.fromkeys(in_readme)), package
        assert set(in_order) - set(in_readme) <= {"ReLU"}  # a LeakyReLU with alpha 0, not named by the README


def sections(stdout):
    """{class: [lines of its section of failures]}."""
    found, current = {}, None
    for line in stdout.splitlines():
        heading = re.match(r"── (\S+): \d+ failed ──$", line)
        if heading:
            current = found.setdefault(heading[1], [])
        elif current is not None and line and not line[0].isspace() and not line.startswith("FAIL "):
            current = None  # the closing totals
        elif current is not None and line:
            current.append(line)
    return found


def test_the_first_failure_of_each_class_in_full_the_others_one_line(template_check):
    found = sections(template_check.stdout)
    failed = [target for mark, target, _, _ in rows(template_check.stdout) if mark == "FAIL"]
    assert list(found) == failed
    for target, lines in found.items():
        assert lines[0].startswith(f"FAIL {target}: ")
        end = next((i for i, line in enumerate(lines[1:], start=1) if line.startswith("FAIL ")), len(lines))
        full, others = lines[1:end], lines[end:]
        assert full and full[0].startswith("  ") and "raised NotImplementedError" in full[0], (target, full[:2])
        assert any("traceback (your code):" in line for line in full)
        assert all(line.startswith(f"FAIL {target}: ") for line in others)  # one line each
    assert template_check.stdout.count("traceback (your code):") == len(found)


def test_a_method_still_to_write_gets_no_reproducer(template_check):
    assert "reproduce with:" not in template_check.stdout


# ----------------------------------------------------------- one bug


def test_one_bug_reports_its_class_only_in_a_few_lines(one_bug_check):
    run = one_bug_check
    assert run.returncode == 1, run.stderr
    assert len(run.stdout.splitlines()) < 100
    found = sections(run.stdout)
    assert list(found) == ["beras.layers.Dense"]
    full = "\n".join(found["beras.layers.Dense"])
    assert "Dense.get_weight_gradients" in full and "reproduce: python .harness/failures/" in full
    script = full.split("reproduce: python ", 1)[1].split()[0]
    folder = pathlib.Path(run.args[-1])
    assert "layer = Dense(" in (folder / script).read_text()


# ----------------------------------------------------------- -k by printed names


def verbose_names(stdout):
    """The checks `--verbose` lists under the classes' rows."""
    return [line.split(None, 1)[1] for line in stdout.splitlines() if re.match(r"^ {10}(ok  |FAIL)  ", line)]


@pytest.mark.parametrize("name", [
    "beras.layers.Dense: forward matches the reference",
    # printed names with and, not, parentheses and quotes in them, pasted whole
    "beras.optimizers.BasicOptimizer: apply_gradients moves every given array in place, against its gradient, "
    "and changes nothing else",
    'beras.model.SequentialModel: fit trains on every batch of every epoch once and returns {"loss": [...], '
    '"acc": [...]}, one value per epoch',
    "beras.gradient_tape.GradientTape: a source the loss does not depend on gets None; the others get their gradients",
])
def test_a_pasted_printed_name_runs_that_check(name):
    run = harness("check", REFERENCE, "--assignment", "beras", "--verbose", "-k", name)
    assert run.returncode == 0, run.stdout + run.stderr
    assert verbose_names(run.stdout) == [name]


def test_k_combines_parts_of_names_with_and_not():
    run = harness("check", TEMPLATE, "--verbose", "-k", "dense AND NOT gradient")
    assert run.returncode == 1, run.stderr
    names = verbose_names(run.stdout)
    every_dense = verbose_names(harness("check", TEMPLATE, "--verbose", "-k", "Dense").stdout)
    assert names and names == [n for n in every_dense if "gradient" not in n.lower()] != every_dense
    either = verbose_names(harness("check", TEMPLATE, "--verbose", "-k", "(Tanh or Sigmoid) and input gradient").stdout)
    assert either and all(("tanh" in n.lower() or "sigmoid" in n.lower()) and "input gradient" in n for n in either)


def test_k_errors_say_how_to_fix_them():
    unbalanced = harness("check", TEMPLATE, "-k", "Dense and (forward")
    assert unbalanced.returncode == 2 and "parenthesis is not closed" in unbalanced.stderr
    nothing = harness("check", TEMPLATE, "-k", "no such check")
    assert nothing.returncode == 2 and "matches the names check prints" in nothing.stderr


def test_selection_reads_names_as_printed():
    names = ["beras.layers.Dense: forward matches the reference",
             "beras.layers.Dense: input gradient matches the reference",
             "bgd.cost.MSE: forward matches the reference (and 4 variants)",
             "beras.optimizers.Adam: apply_gradients moves every given array in place, and changes nothing else"]

    def chosen(expression):
        match = selection.matcher(expression, names)
        return [n for n in names if match(n)]

    assert chosen("dense") == names[:2]
    assert chosen("Dense and not input") == names[:1]
    assert chosen("  FORWARD   matches  ") == [names[0], names[2]]  # white space as printed, any case
    assert chosen("MSE or (Dense and input gradient)") == names[1:3]
    assert chosen("the reference (and 4") == names[2:3]  # a piece of a name: text, not an expression
    assert chosen('"changes nothing" and not Dense') == names[3:]
    assert chosen("not (forward or input)") == names[3:]
    for bad in ("", "Dense and", "(Dense", "Dense)", "and Dense", '"open', '""'):
        with pytest.raises(selection.ExpressionError):
            selection.matcher(bad, names)


# ----------------------------------------------------------- help and colour


@pytest.mark.parametrize("command", ["check", "grade"])
def test_help_describes_with_examples_and_exit_codes(command):
    text = harness(command, "--help").stdout
    assert f"python -m harness {command} " in text.split("examples:")[1]
    assert re.search(r"exit status:\n  0 .*\n  1 .*\n  2 ", text)
    if command == "grade":
        assert "results.json is written even when exit status is 2" in text
    if command == "check":
        assert "-k EXPR" in text and "NO_COLOR" in text and "--verbose" in text
        assert "and, or, not" in text and "pasted" in text


def test_colour_only_on_a_terminal_or_when_forced():
    args = ("check", TEMPLATE, "-k", "beras.layers.Dense: forward matches the reference")
    plain, forced, refused = (harness(*args, env=env).stdout for env in ({}, {"FORCE_COLOR": "1"},
                                                                         {"FORCE_COLOR": "1", "NO_COLOR": "1"}))
    assert "\x1b[" not in plain and "\x1b[" not in refused
    assert "\x1b[1;31mFAIL\x1b[0m" in forced
    def without_time(text):
        return re.sub(r"\(\d+\.\d s\)", "(time)", text)

    assert without_time(re.sub(r"\x1b\[[0-9;]*m", "", forced)) == without_time(plain)


class Terminal:
    def __init__(self, tty):
        self.tty = tty

    def isatty(self):
        return self.tty


def test_colour_wanted_follows_the_conventions():
    assert console.colour_wanted(Terminal(True), {}) is True
    assert console.colour_wanted(Terminal(False), {}) is False
    assert console.colour_wanted(Terminal(True), {"NO_COLOR": "1"}) is False
    assert console.colour_wanted(Terminal(True), {"TERM": "dumb"}) is False
    assert console.colour_wanted(Terminal(False), {"FORCE_COLOR": "1"}) is True
    assert console.colour_wanted(Terminal(True), {"FORCE_COLOR": "0"}) is False
    assert console.colour_wanted(Terminal(False), {"FORCE_COLOR": "1", "NO_COLOR": "1"}) is False
    assert console.colour_wanted(Terminal(True), {"NO_COLOR": ""}) is True  # empty: not set


def test_student_text_cannot_colour_the_terminal():
    outcome = CheckOutcome(name="beras.layers.Dense: forward matches the reference", target="beras.layers.Dense",
                           max_score=1, passed=False, output="x",
                           details={"summary": "Dense.call raised E: \x1b[2J\x1b[31mred", "printed": "\x1b]0;title\x07"})
    text = console.render([outcome], 1.0, colour=True)
    assert "\x1b[2J" not in text and "\x1b[31m" not in text and "\x1b]0" not in text
    assert "\x1b[1;31mFAIL\x1b[0m" in text
