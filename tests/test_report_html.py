"""report.html (SPEC 5): what a student reads about one submission.

Unit tests render hand-built `CheckOutcome`s (harness/report.py): a failure's
diagnosis and heatmap are shown, a hidden check shows its name and nothing
else, student text is escaped, nothing outside the page is referred to. The
error maps behind the heatmaps are tested where they are made
(`numerics.error_map`, `checks.expect_close`). Then the command line writes
the page, and a real headless browser (Debian's chromium: the `browser` fixture
of tests/conftest.py installs it; tests/headless.py runs it) opens the page of a submission with three bugs: its screenshot is kept
in test-artifacts/report.png.
"""

import dataclasses
import json
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

import mutants
import numpy as np
import pytest
from autograde import grade
from headless import Page, open_in_chromium
from headless import screenshot as take_screenshot

from harness import numerics, report
from harness.checks import CheckFailure, Diagnosis, expect_close
from harness.results import CheckOutcome

ROOT = pathlib.Path(__file__).resolve().parents[1]

# A hidden check's output and details, every piece of which must stay off the page.
HIDDEN_SECRETS = ["SECRET-OUTPUT-31337", "SECRET-SUMMARY", "SECRET-SNIPPET", "SECRET-HINT", "424242.5", "-97531.25"]


def failing_details(**overrides):
    """A diagnosis as the plugin stores it (dataclasses.asdict of a Diagnosis)."""
    details = {
        "summary": "Dense.get_weight_gradients: the weight gradients differ from the reference: 6 of 12 entries differ",
        "method": "Dense.get_weight_gradients",
        "worst": [((2, 1), -0.75, 0.75), ((0, 3), 1.5, 0.5)],
        "hints": ["sign flipped: actual ~ -expected"],
        "culprit": "Dense.get_weight_gradients (the backward)",
        "snippet": "import numpy as np\nlayer = Dense(4, 3)",
        "case": "batch 5",
        "traceback": "",
        "printed": "",
        "error_map": [[0, 0.01, 0.5], [1, 0, 0.78], [0, 0, 0], [0.2, 0, 1]],
        "error_shape": [4, 3],
    }
    return {**details, **overrides}


def outcomes(published_hidden_fails=True):
    """One passing and one failing public check, and a hidden failing one (2 of 5 points)."""
    return [
        CheckOutcome("beras.layers.Dense: forward matches the reference", "beras.layers.Dense", 1.0, True),
        CheckOutcome(
            "beras.layers.Dense: weight gradients match the reference", "beras.layers.Dense", 2.0, False,
            output=Diagnosis(**failing_details()).as_text(), details=failing_details(),
        ),
        CheckOutcome(
            "beras.layers.Dense: weights are right for extreme inputs", "beras.layers.Dense", 2.0,
            not published_hidden_fails, visibility="hidden",
            output="SECRET-OUTPUT-31337 424242.5 vs -97531.25",
            details=failing_details(summary="SECRET-SUMMARY", snippet="SECRET-SNIPPET", hints=["SECRET-HINT"],
                                    worst=[((0, 0), 424242.5, -97531.25)], case="SECRET-CASE"),
        ),
    ]


def row_of(source, title):
    """The table row (<tr>...</tr>) of the check titled `title`."""
    rows = [row for row in re.findall(r"<tr\b.*?</tr>", source, flags=re.S) if title in row]
    assert len(rows) == 1, rows
    return rows[0]


def assert_self_contained(source):
    """No script, no URL, nothing that makes a browser fetch anything."""
    assert "<script" not in source.lower()
    assert "http://" not in source and "https://" not in source
    for css_fetch in ("url(", "@import"):
        assert css_fetch not in source
    for tag, name, value in Page(source).attributes:
        if name in ("src", "href", "srcset", "action", "formaction", "poster", "data", "xlink:href"):
            assert value.startswith("#") or value.startswith("data:"), (tag, name, value)
        assert not name.startswith("on"), (tag, name)  # no event handler attributes


# ------------------------------------------------------------------ rendering


def test_failure_shows_its_diagnosis_worst_errors_and_heatmap():
    source = report.render(outcomes(), submission="/tmp/alice", seed=7)
    page = Page(source)
    text = " ".join(page.text)
    assert "beras.layers.Dense" in text
    assert "Method at fault" in text and "Dense.get_weight_gradients" in text
    assert "the weight gradients differ from the reference: 6 of 12 entries differ" in text
    assert "sign flipped: actual ~ -expected" in text and "The bug is in:" in text and "batch 5" in text
    assert "[2, 1]" in text and "-0.75" in text  # the largest errors, as a table
    assert "layer = Dense(4, 3)" in text  # the reproducer
    # The heatmap: one rect per cell of the 4x3 map, the wrong ones coloured, the right ones not.
    assert page.tags.count("svg") == 1 and page.tags.count("rect") == 12
    fills = [value for tag, name, value in page.attributes if tag == "rect" and name == "fill"]
    assert fills.count(report.RIGHT_FILL) == 6
    assert report._fill(1.0) in fills and report._fill(0.01) in fills
    assert "6 of 12 cells wrong" in text


def test_hidden_check_shows_its_name_only_before_publication():
    source = report.render(outcomes(), submission="/tmp/alice", seed=7)
    for secret in HIDDEN_SECRETS + ["SECRET-CASE"]:
        assert secret not in source
    # Its result, hence how many hidden checks failed, is not on the page: no mark, no "failed", no points.
    row = row_of(source, "weights are right for extreme inputs")
    assert "result after the deadline" in row and "hidden" in row
    assert "✗" not in row and "failed" not in row and "/ 2" not in row
    assert "failed" in row_of(source, "weight gradients match the reference")  # the control: a public failure says so
    # Only the visible score: 1 of 3 visible points; 5 (all) or 2 (hidden) points appear nowhere.
    text = Page(source).words
    assert "1 / 3 points" in text and "1 of 2 visible checks passed" in text
    assert "/ 5" not in text and "of 3 visible" not in text and "2 / 2" not in text


def test_published_hidden_check_shows_its_result_and_still_nothing_else():
    source = report.render(outcomes(), submission="/tmp/alice", published=True)
    for secret in HIDDEN_SECRETS + ["SECRET-CASE"]:
        assert secret not in source
    page = Page(source)
    assert "failed" in row_of(source, "weights are right for extreme inputs")
    assert "/ 5" not in page.words
    # A hidden check is never a section of its own (no heatmap, no snippet): one failure card, one svg.
    assert source.count('class="gc-failure"') == 1 and page.tags.count("svg") == 1


def test_page_is_self_contained_and_embeddable():
    source = report.render(outcomes(), submission="/tmp/alice", seed=7)
    assert_self_contained(source)
    assert "Content-Security-Policy" in source and "default-src 'none'" in source
    fragment = report.render(outcomes(), fragment=True)
    assert_self_contained(fragment)
    assert fragment.lstrip().startswith("<div") and "<html" not in fragment and "<style>" in fragment


def test_student_text_is_escaped_and_made_printable():
    attack = '<script>alert(1)</script>"><img src=x onerror=alert(1)>\x1b[31mred\x1b[0m\x00\x07\u202e\ud800'
    details = failing_details(
        summary=f"Dense.call raised ValueError: {attack}", method=f"Dense.call{attack}", hints=[attack],
        culprit=attack, case=attack, snippet=attack, traceback=f'  File "beras/layers.py", line 3\n    {attack}',
        printed=attack, worst=[((0, 0), attack, 1.0)],
    )
    hostile = [CheckOutcome(f"beras.layers.Dense: {attack}", "beras.layers.Dense", 1.0, False, output=attack,
                            details=details)]
    source = report.render(hostile, submission=f"/tmp/{attack}", seed=1)
    assert "<script" not in source.lower() and "<img" not in source.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in source
    for raw in ("\x1b", "\x00", "\x07", "\u202e"):
        assert raw not in source
    assert "\\x07" in source and "\\x00" in source and "\\u202e" in source  # visible escapes, as in results.json
    assert "[31m" not in source  # the terminal colour sequence is gone, its text kept
    source.encode("utf-8")  # no lone surrogate is left: the page can be written
    assert_self_contained(source)


def test_every_string_written_is_made_printable_even_if_the_context_was_not():
    """The second line of defence: a string that reaches the template raw
    (a future context field that forgot `printable`) is still sanitised."""
    context = report.build_context(outcomes())
    context["heading"] = "bell\x07 escape\x1b[2J nul\x00"
    context["classes"][0]["checks"][1]["failure"]["hints"] = ["\u202eevil"]
    source = report.environment().get_template("report.html.j2").render(context)
    assert "bell\\x07 escape nul\\x00" in source and "\\u202eevil" in source
    assert not any(raw in source for raw in ("\x07", "\x1b", "\x00", "\u202e"))


def test_failure_without_diagnosis_and_crash_details():
    crashed = CheckOutcome("bgd.nn.NeuralStack: train", "bgd.nn.NeuralStack", 1.0, False,
                           output="the check could not run: KeyError 'x'\nmore")
    raised = CheckOutcome(
        "beras.layers.Dense: forward", "beras.layers.Dense", 1.0, False,
        details=failing_details(summary="Dense.call raised ValueError: bad", worst=[], error_map=None,
                                error_shape=None, printed="debug: x.shape = (5, 4)\n",
                                traceback="\n".join(f"frame {i}" for i in range(40))),
    )
    source = report.render([crashed, raised])
    text = " ".join(Page(source).text)
    assert "the check could not run: KeyError 'x'" in text and "more" in text
    assert "What your code printed" in text and "debug: x.shape = (5, 4)" in text
    assert "frame 39" in text and "frame 10" not in text  # the end of a long traceback, where the error is
    assert "<svg" not in source


@pytest.mark.parametrize("bad_map", [[[0, 1], [0]], [["x", 0]], [[0.5] * 300], "0.5", [[]], None])
def test_malformed_error_map_draws_no_heatmap(bad_map):
    assert report.heatmap(bad_map, [1, 300]) is None
    broken = [CheckOutcome("beras.layers.Dense: f", "beras.layers.Dense", 1.0, False,
                           details=failing_details(error_map=bad_map))]
    assert "<svg" not in report.render(broken)


def test_heatmap_names_the_entries_of_each_block():
    # A (64, 100) array: 14x14 cells of blocks of about 5x7 entries.
    bad = np.zeros((64, 100), dtype=bool)
    bad[63, 99] = True
    cells = numerics.error_map(np.ones((64, 100)), np.full((64, 100), -1.0), bad)
    drawn = report.heatmap(cells, [64, 100])
    assert len(drawn["cells"]) == 14 * 14
    wrong = [cell for cell in drawn["cells"] if cell["fill"] != report.RIGHT_FILL]
    assert len(wrong) == 1 and wrong[0]["label"].startswith("row 59–63, column 92–99")
    assert "a block of entries of the 64×100 array" in drawn["caption"]


# ------------------------------------------------------------------ error maps


def test_error_map_values():
    expected = np.array([[1.0, 2.0, 3.0, -4.0]])
    actual = np.array([[1.0, -2.0, 3.0 * 5, np.nan]])
    comparison = numerics.compare(actual, expected)
    # right: 0; sign flipped: 1; a factor of 5: (5 - 1) / (5 + 1); NaN: 1
    assert comparison.error_map == [[0, 1, 0.67, 1]]
    assert comparison.shape == (1, 4)
    # Off by a hair beyond tolerance: still shown as wrong.
    hair = numerics.compare(np.array([1.0 + 1e-5]), np.array([1.0]), np.float64)
    assert not hair.passed and hair.error_map == [[numerics.ERROR_MAP_LEAST]]
    assert numerics.compare(expected, expected).error_map is None  # nothing to show when it passes


def test_error_map_of_a_large_array_is_small_and_keeps_a_single_wrong_entry():
    rng = np.random.default_rng(0)
    expected = rng.normal(size=(300, 400))
    actual = expected.copy()
    actual[123, 321] += 1.0
    one = numerics.compare(actual, expected).error_map
    assert sum(v > 0 for row in one for v in row) == 1
    everywhere = numerics.compare(expected * 0.7, expected).error_map  # every cell two decimals: the largest map
    assert len(everywhere) * len(everywhere[0]) <= numerics.ERROR_MAP_CELLS
    assert len(json.dumps(everywhere)) < 1300
    assert numerics.compare(rng.normal(size=(2, 3, 4, 5)), np.zeros((2, 3, 4, 5))).shape == (2, 3, 4, 5)
    assert np.shape(numerics.compare(rng.normal(size=(2, 3, 4, 5)), np.zeros((2, 3, 4, 5))).error_map) == (2, 32)


def test_expect_close_puts_the_error_map_in_the_diagnosis():
    expected = np.arange(1.0, 7.0).reshape(2, 3)
    with pytest.raises(CheckFailure) as failure:
        expect_close(expected.T.copy().reshape(2, 3), expected, "Dense.call output", method="Dense.call")
    diagnosis = failure.value.diagnosis
    assert diagnosis.error_shape == [2, 3] and np.shape(diagnosis.error_map) == (2, 3)
    assert diagnosis.error_map[0][0] == 0 and diagnosis.error_map[0][1] > 0
    # It travels as JSON between grading processes and comes back a Diagnosis.
    again = Diagnosis(**json.loads(json.dumps(dataclasses.asdict(diagnosis))))
    assert again.error_map == diagnosis.error_map
    with pytest.raises(CheckFailure) as wrong_shape:
        expect_close(np.zeros(3), expected, "x")
    assert wrong_shape.value.diagnosis.error_map is None


# ------------------------------------------------------------------ packaging


def test_templates_ship_in_the_wheel_and_render_from_it(tmp_path):
    """An installed wheel (not this folder) holds the templates and renders the page."""
    source = tmp_path / "source"  # a copy: building leaves build/ and egg-info/ behind
    for part in ("harness", "reports"):
        shutil.copytree(ROOT / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, source / part)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    if build.returncode != 0 and "No module named" in build.stderr:
        pytest.skip(f"cannot build a wheel here: {build.stderr.strip()[-200:]}")
    assert build.returncode == 0, build.stderr
    wheel = next(tmp_path.glob("gradecheck-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"reports/report.html.j2", "reports/fragment.html.j2", "reports/report.css", "harness/report.py",
            "reports/class-report.html.j2", "reports/class-report.css", "harness/class_report.py"} <= names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    script = (
        "import harness, harness.report as r, reports\n"
        "from harness.results import CheckOutcome\n"
        f"assert harness.__file__.startswith({str(site)!r}) and reports.__file__.startswith({str(site)!r})\n"
        "print(r.render([CheckOutcome('beras.layers.Dense: f', 'beras.layers.Dense', 1.0, True)]))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert "1 of 1 visible checks passed" in run.stdout


# ------------------------------------------------------------------ command line


def test_check_html_shows_what_the_code_printed_and_its_traceback(tmp_path):
    submission = mutants.copy_reference(tmp_path / "submission")
    mutants.apply_patch(
        submission, "beras/layers.py", "        return nnmath.affine(x, self.w, self.b)\n",
        "        print('debugging Dense <b>', x.shape)\n        raise ValueError('shapes do not line up')\n",
    )
    page_path = tmp_path / "report.html"
    run = subprocess.run(
        [sys.executable, "-m", "harness", "check", str(submission), "--assignment", "beras",
         "-k", "beras.layers.Dense: forward matches the reference", "--html", str(page_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"report written to {page_path}" in run.stdout
    source = page_path.read_text(encoding="utf-8")
    text = Page(source).words
    assert "Dense.call raised ValueError: shapes do not line up" in text
    assert "What your code printed debugging Dense <b> (4, 3)" in text and "&lt;b&gt;" in source  # escaped
    assert "raise ValueError('shapes do not line up')" in text  # the traceback quotes the student's line
    assert "0 of 1 public checks passed" in text and "hidden" not in text.lower()
    assert_self_contained(source)


# ------------------------------------------------------------------ in a real browser

# Three bugs of three kinds, in three classes (tests/mutants.py).
THREE_BUGS = {
    "cce_grad_missing_batch_mean": ("beras.losses.CategoricalCrossentropy", "CategoricalCrossentropy.get_input_gradients",
                                    "the 1/B of a mean is missing"),
    "mse_grad_wrong_sign": ("beras.losses.MeanSquaredError", "MeanSquaredError.get_input_gradients", "sign flipped"),
    "fc_weight_grad_transposed": ("bgd.layers.fc.FullyConnected", "FullyConnected._backward", "transposed"),
}


def test_three_bug_submission_in_headless_chromium(tmp_path, browser):
    submission = mutants.copy_reference(tmp_path / "three-bugs")
    catalog = {m.id: m for m in mutants.MUTANTS}
    for mutant_id in THREE_BUGS:
        mutant = catalog[mutant_id]
        mutants.apply_patch(submission, mutant.path, mutant.find, mutant.replace, label=mutant_id)
    page_path = tmp_path / "report.html"
    status, document = grade(submission, tmp_path / "results.json", "--seed", 1, "--html", page_path)
    assert status == 1

    dom = open_in_chromium(page_path, tmp_path / "profile", "--dump-dom")
    page = Page(dom)
    text = page.words
    for target, method, diagnosis in THREE_BUGS.values():
        assert target in text and method in text and diagnosis in text, (target, method, diagnosis)
    # An error figure: the first "got" of a failed visible check's largest errors, as results.json says it.
    failed = [t for t in document["tests"] if t["status"] == "failed" and t["visibility"] == "visible"]
    figures = [line.split(":")[1].split(" vs ")[0].strip() for t in failed for line in t["output"].splitlines()
               if line.startswith("    [") and " vs " in line]
    assert figures and figures[0] in text
    assert "Largest errors" in text
    assert page.tags.count("svg") >= 4 and page.tags.count("rect") >= 4 * 12  # heatmaps, drawn by the browser
    # Hidden checks: named, and nothing of their output that a visible check does not also print.
    hidden = [t for t in document["tests"] if t["visibility"] != "visible"]
    assert any(t["status"] == "failed" for t in hidden)  # the submission fails a hidden check: it must not show
    visible_lines = {line.strip() for t in document["tests"] if t["visibility"] == "visible" for line in t["output"].splitlines()}
    for test in hidden:
        assert test["name"].partition(": ")[2] in text
        for line in test["output"].splitlines():
            if len(line.strip()) >= 8 and line.strip() not in visible_lines:
                assert " ".join(line.split()) not in text, (test["name"], line)
    # The visible score only: the total (hidden points included) is nowhere.
    visible_max = sum(t["max_score"] for t in document["tests"] if t["visibility"] == "visible")
    assert f"/ {visible_max:g} points" in text and f"/ {document['extra_data']['max_score']:g}" not in text
    assert_self_contained(dom)

    screenshot = take_screenshot(page_path, tmp_path / "profile", "report.png", height=2000)
    print(f"screenshot of the three-bug report: {screenshot}")
