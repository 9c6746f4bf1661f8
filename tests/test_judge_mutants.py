"""The judge against realistic student bugs (tests/mutants.py).

Every single-bug variant of the reference must lose points on a check named
after the class it broke, and only there (the blame rule); a correct variant
computing in float32 must get full marks. Each grading is a real
`python -m harness grade` run.
"""

import ast
import functools

import pytest
from autograde import grade
from mutants import MUTANTS, REFERENCE_DIR, materialise_float32, module_of


def failed_checks(document):
    return [t for t in document["tests"] if t["status"] == "failed"]


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_mutant_loses_points_on_its_class(mutant, mutant_grading):
    status, document = mutant_grading(mutant)
    failed = [t["name"] for t in failed_checks(document)]
    on_target = [name for name in failed if name.startswith(mutant.target + ": ")]
    assert status == 1
    assert on_target, f"{mutant.id} ({mutant.description}) was not caught on {mutant.target}; failed: {failed}"


@functools.cache
def student_written_subclasses():
    """{class FQN: FQNs of the reference classes that inherit from it}, for the
    classes that students write (in files with solution markers): a bug in
    LeakyReLU.call is a bug of ReLU, which inherits it. The given classes
    (beras/core.py, bgd/layers/layer.py) get no such allowance: the judge must
    keep a change to given code out of the checks of the classes built on it."""
    bases, defined_in = {}, {}
    for path in REFERENCE_DIR.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        module = module_of(path.relative_to(REFERENCE_DIR).as_posix())
        for node in ast.parse(source).body:
            if isinstance(node, ast.ClassDef):
                fqn = f"{module}.{node.name}"
                bases[fqn] = [getattr(b, "id", getattr(b, "attr", "")) for b in node.bases]
                defined_in[fqn] = "# SOLUTION" in source
    by_name = {fqn.rsplit(".", 1)[1]: fqn for fqn in bases}
    children = {}
    for fqn, names in bases.items():
        for name in names:
            parent = by_name.get(name)
            if parent and parent.split(".")[0] == fqn.split(".")[0] and defined_in[parent]:
                children.setdefault(parent, set()).add(fqn)
    closure = {}
    for parent in children:
        todo, seen = list(children[parent]), set()
        while todo:
            child = todo.pop()
            if child not in seen:
                seen.add(child)
                todo += children.get(child, ())
        closure[parent] = seen
    return closure


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_mutant_loses_points_only_on_its_class(mutant, mutant_grading):
    """The blame rule: a bug in one class costs points in that class's checks
    only (and its subclasses', which inherit the bug), never in the checks of
    a class that merely uses it (or is used by it)."""
    _, document = mutant_grading(mutant)
    owners = {mutant.target, *student_written_subclasses().get(mutant.target, ())}
    elsewhere = [t for t in failed_checks(document) if t["name"].split(": ", 1)[0] not in owners]
    report = "\n".join(f"  {t['name']}\n      {' '.join(t['output'].split())[:300]}" for t in elsewhere)
    assert not elsewhere, (
        f"{mutant.id} ({mutant.description}), a bug in {mutant.target}, "
        f"cost points in checks of other classes:\n{report}"
    )


def test_correct_float32_variant_gets_full_marks(tmp_path):
    folder = tmp_path / "submission"
    materialise_float32(folder)
    status, document = grade(folder, tmp_path / "results.json")
    failed = [(t["name"], t["output"][:500]) for t in document["tests"] if t["status"] == "failed"]
    assert not failed
    assert status == 0 and document["score"] == document["extra_data"]["max_score"]
