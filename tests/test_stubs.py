"""Pay only for behaviour that is there: a submission that does nothing earns (next to) nothing."""

from autograde import grade
from stubs import materialise_zero_stub

MOST = 0.03  # of the points: the goal for a submission whose every method returns zeros


def test_a_submission_that_returns_zeros_earns_nothing(tmp_path):
    folder = materialise_zero_stub(tmp_path / "stub")
    status, document = grade(folder, tmp_path / "results.json")
    assert status == 1
    paid = [(t["name"], t["score"]) for t in document["tests"] if t["score"] > 0]
    assert document["score"] <= MOST * document["extra_data"]["max_score"], f"points paid for doing nothing: {paid}"
