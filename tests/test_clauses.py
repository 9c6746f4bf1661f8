"""Every built-in check cites the SPEC clause it enforces, and docs/judge.md lists them all."""

from harness import clauses


def test_every_check_cites_a_clause():
    uncited = [f"{module}.{name}" for module, name, _, _, _, clause in clauses.catalog_checks() if not clause.strip()]
    assert not uncited, f"checks without a SPEC clause (add clause=... to @check): {uncited}"


def test_the_table_in_docs_judge_md_is_current():
    assert clauses.main(["--check"]) == 0, "docs/judge.md is stale: run python -m harness.clauses"
