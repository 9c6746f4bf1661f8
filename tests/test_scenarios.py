"""harness/scenarios runs inside the student's sandbox: nothing of the solution may come with it."""

import ast
import pathlib
import sys

import pytest

SCENARIOS = pathlib.Path(__file__).resolve().parents[1] / "harness" / "scenarios"
ALLOWED = {"numpy", "beras", "bgd"} | set(sys.stdlib_module_names)  # the graded packages, numpy, the stdlib


@pytest.mark.parametrize("module", sorted(p.name for p in SCENARIOS.glob("*.py")))
def test_scenarios_import_only_numpy_the_standard_library_and_the_graded_packages(module):
    """No `reference/` (nor its nnmath) and no `harness`: only what a student's sandbox has anyway."""
    tree = ast.parse((SCENARIOS / module).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []  # relative: this package itself
        else:
            continue
        for name in names:
            assert name.split(".")[0] in ALLOWED, f"{module} imports {name}"
