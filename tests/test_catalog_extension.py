"""An instructor adds a check by writing one pytest function: it is found,
named, scored and reported like the built-in ones."""

import json
import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[1]

NEW_CHECK = '''
import pytest

from harness.checks import check, expect_close, HIDDEN


@check("bgd.layers.fc.FullyConnected", "has weights and biases", points=3)
def test_fc_parameter_count(student, reference):
    counts = []
    for engine in (student, reference):
        with engine.batch() as batch:
            layer = batch.new("bgd.layers.fc.FullyConnected", 3, 2)
            counts.append(batch.call("builtins.len", layer.get_parameters()))
    expect_close(counts[0].value, counts[1].value, "number of parameter arrays")


@pytest.mark.parametrize("name", ["bgd.layers.flatten.Flatten"])
@check("{name}", "can be constructed", visibility=HIDDEN)
def test_constructs(student, name):
    student.new(name)
'''


def run_catalog(tmp_path, source, submission):
    catalog = tmp_path / "catalog"
    catalog.mkdir(parents=True)
    (catalog / "test_course_extra.py").write_text(source)
    script = textwrap.dedent(
        f"""
        import json
        from harness.grading import run_checks, HarnessError
        try:
            outcomes, _ = run_checks({str(submission)!r}, ["bgd"], 7, catalog={str(catalog)!r})
        except HarnessError as error:
            print(json.dumps({{"error": str(error)}}))
        else:
            print(json.dumps([[o.name, o.max_score, o.passed, o.visibility, o.output] for o in outcomes]))
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_a_new_check_function_is_graded_like_the_others(tmp_path):
    outcomes = run_catalog(tmp_path, NEW_CHECK, ROOT / "reference")
    assert outcomes == [
        ["bgd.layers.fc.FullyConnected: has weights and biases", 3.0, True, "public", ""],
        ["bgd.layers.flatten.Flatten: can be constructed", 1.0, True, "hidden", ""],
    ]
    failing = run_catalog(tmp_path / "b", NEW_CHECK, ROOT / "student_template")
    assert [passed for _, _, passed, _, _ in failing] == [True, True]  # the template's constructors are given
    broken = tmp_path / "broken"
    (broken / "bgd").mkdir(parents=True)
    (broken / "bgd" / "__init__.py").write_text("")
    failing = run_catalog(tmp_path / "c", NEW_CHECK, broken)
    assert [passed for _, _, passed, _, _ in failing] == [False, False]
    assert "ModuleNotFoundError" in failing[0][4]


def test_a_check_without_the_marker_or_with_a_taken_name_is_refused(tmp_path):
    unmarked = run_catalog(tmp_path, "def test_plain(student):\n    pass\n", ROOT / "reference")
    assert "needs @check" in unmarked["error"]
    twice = NEW_CHECK + NEW_CHECK.replace("def test_fc_parameter_count", "def test_again").split("@pytest.mark.parametrize")[0]
    duplicate = run_catalog(tmp_path / "b", twice, ROOT / "reference")
    assert "two checks are named" in duplicate["error"]
    elsewhere = run_catalog(tmp_path / "c", NEW_CHECK.replace('"bgd.layers.fc.FullyConnected", "has', '"keras.Dense", "has'), ROOT / "reference")
    assert "not 'keras.Dense'" in elsewhere["error"]
