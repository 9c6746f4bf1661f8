"""`python -m harness batch` and `merge` (SPEC 1 instructor rows, SPEC 5 batch OUTDIR).

Real batches over a few submissions of examples/class (correct, buggy,
hanging, crashing at import, zipped, too deep), with small time limits:
every file and status; a batch killed halfway resumes to the same
grades.csv; shards merged equal the single batch; the CI and Slurm examples'
own commands. What can only go wrong with a grading process (one that hangs
past its limit, dies, floods its output, writes garbage) is played by a
stand-in grading command (`FAKE_GRADE`), through `run_batch`'s `command`.
"""

import argparse
import csv
import importlib.machinery
import io
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import types

import pytest

from harness import batch
from harness.sandbox import process

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CLASS = EXAMPLES / "class"
SEED = 2024  # the batch seed of every batch here (the CI example's too)
TIME_OPTIONS = ("--timeout", "3", "--budget", "120")
# Of examples/class: one of each kind, the cheaper ones, so that a batch stays short on two cores.
SUBSET = ("eli-bgd-only", "fay-dense-batch-mean", "jun-hangs", "kim-import-crash", "max-too-deep")
TINY = ("eli-bgd-only", "fay-dense-batch-mean", "max-too-deep")  # for the CI and Slurm examples


def harness(*args, timeout=600, **options):
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, **options)


def class_of(ids, folder):
    folder.mkdir()
    for submission_id in ids:
        shutil.copytree(CLASS / submission_id, folder / submission_id)
    return folder


def grades(outdir):
    return list(csv.reader(io.StringIO((outdir / "grades.csv").read_text())))


def scores(outdir):
    """{id: (score, {check: score})} from every results.json of `outdir`."""
    found = {}
    for path in sorted(outdir.glob("*/results.json")):
        document = json.loads(path.read_text())
        found[path.parent.name] = (document["score"], {t["name"]: t["score"] for t in document["tests"]})
    return found


def files(outdir):
    return sorted(str(path.relative_to(outdir)) for path in outdir.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    return class_of(SUBSET, tmp_path_factory.mktemp("batch") / "submissions")


@pytest.fixture(scope="module")
def single(submissions):
    """One uninterrupted batch over SUBSET: (the finished command, OUTDIR)."""
    outdir = submissions.parent / "single"
    run = harness("batch", submissions, "--out", outdir, "-n", "2", "--seed", SEED, *TIME_OPTIONS)
    assert run.returncode == 0, run.stdout + run.stderr
    return run, outdir


# ------------------------------------------------------------------ a real batch


def test_batch_writes_every_file_with_scores_and_statuses(single):
    run, outdir = single
    for submission_id in SUBSET:
        assert (outdir / submission_id / "report.html").stat().st_size > 0
    assert "jun-hangs" in (outdir / "index.html").read_text()
    assert f"class report: {outdir / 'index.html'}" in run.stdout
    documents = {i: json.loads((outdir / i / "results.json").read_text()) for i in SUBSET}
    status = {i: d["extra_data"]["status"] for i, d in documents.items()}
    assert status == {i: "refused" if i == "max-too-deep" else "graded" for i in SUBSET}
    full = {i: d["score"] == d["extra_data"].get("max_score") for i, d in documents.items()}
    assert full == {i: i == "eli-bgd-only" for i in SUBSET}
    # The bug loses points in its own class; the hang fails by timing out; the
    # import failure costs the package that failed to import, not the other.
    failed = {i: {t["name"].split(":")[0] for t in d["tests"] if t["status"] == "failed"} for i, d in documents.items()}
    assert failed["fay-dense-batch-mean"] == {"beras.layers.Dense"}
    assert "beras.activations.Sigmoid" in failed["jun-hangs"]
    assert any("timed out" in t["output"] for t in documents["jun-hangs"]["tests"] if t["status"] == "failed")
    assert failed["kim-import-crash"] and all(name.startswith("beras.") for name in failed["kim-import-crash"])
    bgd_points = [t["score"] == t["max_score"] for t in documents["kim-import-crash"]["tests"] if t["name"].startswith("bgd.")]
    assert bgd_points and all(bgd_points)
    assert documents["max-too-deep"]["score"] == 0 and not documents["max-too-deep"]["tests"]
    # Seeds: a function of the batch seed and the id.
    for submission_id, document in documents.items():
        assert document["extra_data"]["seed"] == batch.submission_seed(SEED, submission_id)
        assert document["extra_data"]["batch_seed"] == SEED
    assert len({d["extra_data"]["seed"] for d in documents.values()}) == len(SUBSET)
    # The end of the output says where things are.
    assert f"grades:       {outdir / 'grades.csv'}" in run.stdout
    assert "report.html" in run.stdout and "4 graded, 1 refused" in run.stdout


def test_grades_csv_is_one_row_per_submission_with_every_check(single):
    _, outdir = single
    header, *rows = grades(outdir)
    assert header[:3] == ["id", "score", "max_score"] and header[-1] == "status"
    assert [row[0] for row in rows] == sorted(SUBSET)
    checks = header[3:-1]
    kim = json.loads((outdir / "kim-import-crash" / "results.json").read_text())  # graded on every check
    assert checks == [t["name"] for t in kim["tests"]]  # in catalog order
    by_id = {row[0]: dict(zip(header, row)) for row in rows}
    for submission_id, (score, per_check) in scores(outdir).items():
        row = by_id[submission_id]
        assert float(row["score"]) == score
        assert {name: float(row[name]) for name in checks if row[name] != ""} == per_check
        assert sum(float(row[name] or 0) for name in checks) == pytest.approx(score)
    assert by_id["max-too-deep"]["status"] == "refused" and by_id["max-too-deep"]["max_score"] == ""
    assert "execution_time" not in (outdir / "grades.csv").read_text()


def test_an_interrupted_batch_resumes_to_the_same_grades(submissions, single, tmp_path):
    outdir = tmp_path / "resumed"
    command = [sys.executable, "-m", "harness", "batch", submissions, "--out", outdir, "-n", "2", "--seed", SEED,
               *TIME_OPTIONS]
    first = subprocess.Popen(list(map(str, command)), cwd=ROOT, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while len(batch.completed(outdir)) < 2 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.05)
        assert first.poll() is None, "the batch ended before it could be interrupted"
        os.killpg(first.pid, signal.SIGKILL)  # the batch and its grading processes, at once
    finally:
        first.wait()
    done = set(batch.completed(outdir))
    assert 2 <= len(done) < len(SUBSET)
    second = harness("batch", submissions, "--out", outdir, "-n", "2", *TIME_OPTIONS)  # the seed is read back
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"{len(done)} already graded, skipped" in second.stdout
    assert (outdir / "grades.csv").read_text() == (single[1] / "grades.csv").read_text()
    assert (outdir / "index.html").read_bytes() == (single[1] / "index.html").read_bytes()
    assert scores(outdir) == scores(single[1])
    assert files(outdir) == files(single[1])


def test_shards_merged_equal_the_single_batch(submissions, single, tmp_path):
    shard_dirs = [tmp_path / f"shard-{k}" for k in (1, 2)]
    runs = [  # both at once, as on two machines
        subprocess.Popen([sys.executable, "-m", "harness", "batch", str(submissions), "--out", str(shard_dir),
                          "--shard", f"{k}/2", "-n", "1", "--seed", str(SEED), *TIME_OPTIONS],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for k, shard_dir in enumerate(shard_dirs, start=1)
    ]
    for k, (run, shard_dir) in enumerate(zip(runs, shard_dirs), start=1):
        output = run.communicate(timeout=600)[0]
        assert run.returncode == 0, output
        assert [row[0] for row in grades(shard_dir)[1:]] == sorted(SUBSET)[k - 1::2]
    merged = tmp_path / "merged"
    run = harness("merge", *shard_dirs, "--out", merged)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (merged / "grades.csv").read_text() == (single[1] / "grades.csv").read_text()
    assert (merged / "index.html").read_bytes() == (single[1] / "index.html").read_bytes()
    assert scores(merged) == scores(single[1])
    assert files(merged) == files(single[1])


# ------------------------------------------------------------------ merge refuses


def fake_outdir(folder, entries, batch_seed=1):
    """An OUTDIR of complete submission folders: {id: score}."""
    for submission_id, score in entries.items():
        (folder / submission_id).mkdir(parents=True)
        document = {"score": score, "tests": [{"name": "m.C: check", "score": score, "max_score": 2}],
                    "extra_data": {"max_score": 2, "status": "graded", "batch_seed": batch_seed}}
        (folder / submission_id / "results.json").write_text(json.dumps(document))
        (folder / submission_id / "report.html").write_text("<p>report</p>")
    return folder


def test_merge_refuses_conflicts_unfinished_shards_mixed_seeds_and_a_used_outdir(tmp_path):
    one = fake_outdir(tmp_path / "one", {"a": 1, "b": 2})
    same = fake_outdir(tmp_path / "same", {"b": 2, "c": 0})
    other = fake_outdir(tmp_path / "other", {"b": 1})
    batch.merge([one, same], tmp_path / "ok")
    assert [row[0] for row in grades(tmp_path / "ok")[1:]] == ["a", "b", "c"]  # an identical duplicate is fine
    run = harness("merge", one, other, "--out", tmp_path / "conflict")
    assert run.returncode == 2 and "'b'" in run.stderr and "different results" in run.stderr
    assert not (tmp_path / "conflict").exists()
    seeded = fake_outdir(tmp_path / "seeded", {"d": 1}, batch_seed=2)
    with pytest.raises(batch.BatchError, match="different batch seeds"):
        batch.merge([one, seeded], tmp_path / "mixed")
    unfinished = fake_outdir(tmp_path / "unfinished", {"e": 1})
    (unfinished / "e" / "report.html").unlink()
    with pytest.raises(batch.BatchError, match="unfinished"):
        batch.merge([one, unfinished], tmp_path / "partial")
    with pytest.raises(batch.BatchError, match="new or empty"):
        batch.merge([one], tmp_path / "ok")
    assert not (tmp_path / "mixed").exists() and not (tmp_path / "partial").exists()


# ------------------------------------------------------------------ grading processes that go wrong

FAKE_GRADE = textwrap.dedent("""\
    import json, os, pathlib, signal, subprocess, sys, time
    mode, folder = sys.argv[1], pathlib.Path(sys.argv[2])
    with open(folder.parent / "calls.log", "a") as log:
        log.write(folder.name + "\\n")
    if mode == "good":
        (folder.parent / (folder.name + ".processes")).write_text(os.environ.get("GRADECHECK_PROCESSES", "unset"))
        score = float(sys.argv[3])
        tests = [{"name": "m.C: first", "score": score, "max_score": 2}, {"name": "m.C: second", "score": 0, "max_score": 1}]
        (folder / "results.json").write_text(json.dumps({"score": score, "tests": tests, "extra_data": {"max_score": 3}}))
        (folder / "report.html").write_text("<p>fake</p>")
        sys.exit(0 if score == 2 else 1)
    if mode == "sleeps":  # and leaves a child that sleeps too: both must go
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        (folder.parent / "child.pid").write_text(str(child.pid))
        time.sleep(120)
    if mode == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "floods":
        chunk = "x" * 65536 + "\\n"
        for _ in range(800):  # 50 MB
            sys.stdout.write(chunk)
        print("the last words")
        sys.exit(1)
    if mode in ("refuses", "broken"):  # grade's exit 2: the folder, or the grader itself
        reason = {"refuses": {"refused": "no package"}, "broken": {"refused": "grader failed", "error": "KeyError"}}
        (folder / "results.json").write_text(json.dumps({"score": 0, "tests": [], "extra_data": reason[mode]}))
        (folder / "report.html").write_text("<p>fake</p>")
        sys.exit(2)
    if mode == "garbage":
        (folder / "results.json").write_text("{not json")
        (folder / "report.html").write_text("")
        sys.exit(0)
""")


@pytest.fixture
def fake(tmp_path):
    """(a SUBMISSIONS_DIR of empty folders named by the modes, the stand-in command)."""
    script = tmp_path / "fake_grade.py"
    script.write_text(FAKE_GRADE)
    folder = tmp_path / "submissions"
    for name in ("good-a", "good-b", "sleeps", "killed", "floods", "garbage", "refuses", "broken"):
        (folder / name).mkdir(parents=True)

    def command(source, destination, seed, timeout, budget):
        mode, _, score = source.name.partition("-")
        return [sys.executable, str(script), mode, str(destination), {"a": "2", "b": "1", "": ""}[score]]

    return folder, command


def test_a_grading_process_that_hangs_dies_floods_or_writes_garbage_spoils_nothing_else(fake, tmp_path):
    folder, command = fake
    outdir = tmp_path / "out"
    started = time.monotonic()
    summary = batch.run_batch(folder, outdir, workers=3, seed=5, limit=3, command=command,
                              progress=lambda total: _Quiet())
    assert time.monotonic() - started < 30
    status = {f.id: f.status for f in summary.finished}
    assert status == {"good-a": "graded", "good-b": "graded", "sleeps": "timeout", "killed": "crashed",
                      "floods": "crashed", "garbage": "crashed", "refuses": "refused", "broken": "crashed"}
    # One grading process per submission: the batch's workers are its parallelism.
    assert (outdir / "good-a.processes").read_text() == (outdir / "good-b.processes").read_text() == "1"
    child = int((outdir / "child.pid").read_text())
    assert not process.is_alive(child)  # the hung process's own child went with it
    for name in ("sleeps", "killed", "floods", "garbage"):
        document = json.loads((outdir / name / "results.json").read_text())
        assert document["score"] == 0 and document["tests"] == []
        assert document["output"].startswith("This submission could not be graded")
        assert document["extra_data"]["status"] == status[name]
        assert (outdir / name / "report.html").stat().st_size > 0
    timeout_doc = json.loads((outdir / "sleeps" / "results.json").read_text())
    assert "limit of 3 s" in timeout_doc["output"]
    killed = json.loads((outdir / "killed" / "results.json").read_text())
    assert "SIGKILL" in killed["output"]
    flooded = json.loads((outdir / "floods" / "results.json").read_text())
    assert flooded["extra_data"]["grade_output"].rstrip().endswith("the last words")
    assert len(flooded["extra_data"]["grade_output"]) <= batch.OUTPUT_TAIL_CHARS + 3
    header, *rows = grades(outdir)
    assert header == ["id", "score", "max_score", "m.C: first", "m.C: second", "status"]
    assert rows == [
        ["broken", "0", "", "", "", "crashed"],
        ["floods", "0", "", "", "", "crashed"], ["garbage", "0", "", "", "", "crashed"],
        ["good-a", "2", "3", "2", "0", "graded"], ["good-b", "1", "3", "1", "0", "graded"],
        ["killed", "0", "", "", "", "crashed"], ["refuses", "0", "", "", "", "refused"],
        ["sleeps", "0", "", "", "", "timeout"],
    ]
    assert json.loads((outdir / "refuses" / "results.json").read_text())["extra_data"]["refused"] == "no package"


class _Quiet:
    def update(self, finished):
        pass

    def close(self):
        pass


def test_a_second_run_skips_what_is_graded_and_force_regrades(fake, tmp_path):
    folder, command = fake
    for name in ("sleeps", "killed", "floods", "garbage", "refuses", "broken"):
        shutil.rmtree(folder / name)
    outdir = tmp_path / "out"

    def run(**options):
        return batch.run_batch(folder, outdir, workers=2, command=command, progress=lambda total: _Quiet(), **options)

    first = run(seed=5)
    assert sorted(f.id for f in first.finished) == ["good-a", "good-b"]
    before = (outdir / "good-a" / "results.json").read_bytes()
    again = run()  # the batch seed is read back from OUTDIR
    assert again.finished == [] and sorted(again.skipped) == ["good-a", "good-b"] and again.batch_seed == 5
    assert (outdir / "good-a" / "results.json").read_bytes() == before
    forced = run(force=True)
    assert sorted(f.id for f in forced.finished) == ["good-a", "good-b"]
    assert (outdir / "calls.log").read_text().split() .count("good-a") == 2
    with pytest.raises(batch.BatchError, match="--seed 5"):
        run(seed=6)  # would mix two seeds in one OUTDIR
    with pytest.raises(batch.BatchError, match="--shard needs --seed"):
        batch.run_batch(folder, tmp_path / "fresh", shard=batch.Shard(1, 2), command=command,
                        progress=lambda total: _Quiet())


def test_outdir_is_never_a_submission_and_never_the_submissions_themselves(fake, tmp_path):
    folder, command = fake
    for name in ("sleeps", "killed", "floods", "garbage", "refuses", "broken", "good-b"):
        shutil.rmtree(folder / name)
    with pytest.raises(batch.BatchError, match="must not be SUBMISSIONS_DIR"):
        batch.run_batch(folder, folder, seed=1, command=command, progress=lambda total: _Quiet())
    assert (folder / "good-a").is_dir()
    summary = batch.run_batch(folder, folder / "out", seed=1, command=command, progress=lambda total: _Quiet())
    assert [f.id for f in summary.finished] == ["good-a"]


def test_the_class_report_is_written_when_the_harness_has_one_and_its_failure_is_said(fake, tmp_path, monkeypatch):
    folder, command = fake
    for name in ("sleeps", "killed", "floods", "garbage", "refuses", "broken"):
        shutil.rmtree(folder / name)
    module = types.ModuleType("harness.class_report")
    module.__spec__ = importlib.machinery.ModuleSpec("harness.class_report", None)
    seen = []

    def write_class_report(outdir):
        seen.append(sorted(batch.completed(outdir)))
        (outdir / "index.html").write_text("<p>class</p>")
        return outdir / "index.html"

    module.write_class_report = write_class_report
    monkeypatch.setitem(sys.modules, "harness.class_report", module)
    summary = batch.run_batch(folder, tmp_path / "out", seed=1, command=command, progress=lambda total: _Quiet())
    assert summary.class_report == tmp_path / "out" / "index.html" and seen == [["good-a", "good-b"]]
    assert not summary.class_report_failed

    def broken(outdir):
        raise RuntimeError("no template")

    module.write_class_report = broken
    summary = batch.run_batch(folder, tmp_path / "out", command=command, progress=lambda total: _Quiet())
    assert summary.class_report is None and summary.class_report_failed
    assert any("RuntimeError: no template" in note for note in summary.notes)
    assert (tmp_path / "out" / "grades.csv").exists()


def test_grading_names_a_submission_by_its_id_and_imports_nothing_from_the_submissions(tmp_path):
    submissions = tmp_path / "course" / "submissions"
    for name in ("harness", "numpy"):  # folders the judge itself would import, were they on its path
        (submissions / name).mkdir(parents=True)
        (submissions / name / "__init__.py").write_text("raise SystemExit('imported by the judge')\n")
    run = harness("batch", submissions, "--out", tmp_path / "out", "--seed", 1)
    assert run.returncode == 0, run.stdout + run.stderr
    for name in ("harness", "numpy"):
        document = json.loads((tmp_path / "out" / name / "results.json").read_text())
        assert document["extra_data"]["status"] == "refused"  # no beras/ or bgd/: the judge ran
        assert document["output"] == f"This submission could not be graded: {name}: no beras/__init__.py or bgd/__init__.py found"
    assert str(tmp_path) not in (tmp_path / "out" / "index.html").read_text()


def test_an_interrupted_grading_process_is_left_for_the_next_run(fake, tmp_path):
    folder, command = fake
    script = tmp_path / "interrupted.py"
    script.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n")
    summary = batch.run_batch(folder, tmp_path / "out", workers=2, seed=1, limit=3,
                              command=lambda *args: [sys.executable, str(script)], progress=lambda total: _Quiet())
    assert {f.status for f in summary.finished} == {"interrupted"}
    assert batch.completed(tmp_path / "out") == {}


# ------------------------------------------------------------------ pieces


def test_submission_seeds_depend_on_the_batch_seed_and_the_id_only():
    assert batch.submission_seed(3, "alice") == batch.submission_seed(3, "alice")
    seeds = {batch.submission_seed(seed, name) for seed in range(20) for name in ("alice", "bob", "carol")}
    assert len(seeds) == 60 and all(0 <= seed < 2**31 for seed in seeds)


def test_shards_split_the_sorted_ids_without_overlap():
    ids = [f"s{i:02}" for i in range(11)]
    parts = [batch.Shard(k, 4).select(ids) for k in range(1, 5)]
    assert sorted(sum(parts, [])) == ids and parts[0] == ["s00", "s04", "s08"]
    assert batch.Shard.parse("2/4") == batch.Shard(2, 4)
    for bad in ("0/4", "5/4", "2", "a/b", "1/0"):
        with pytest.raises(argparse.ArgumentTypeError, match="K/N"):
            batch.Shard.parse(bad)
    run = harness("batch", "examples/class", "--out", "x", "--shard", "5/4")
    assert run.returncode == 2 and "K/N" in run.stderr


def test_check_columns_follow_the_catalog_order_whatever_the_order_of_the_files():
    full = {"tests": [{"name": n} for n in ("b.X: 1", "b.X: 2", "a.Y: 1", "a.Y: 2")]}
    part = {"tests": [{"name": n} for n in ("a.Y: 1", "a.Y: 2")]}
    extra = {"tests": [{"name": n} for n in ("a.Y: 1", "a.Y: 1b", "a.Y: 2")]}
    expected = ["b.X: 1", "b.X: 2", "a.Y: 1", "a.Y: 1b", "a.Y: 2"]
    assert batch.check_columns([full, part, extra]) == expected
    assert batch.check_columns([extra, part, full]) == expected
    assert batch.check_columns([{"tests": []}]) == []


def test_a_results_file_without_a_status_is_not_complete(tmp_path):
    fake_outdir(tmp_path, {"a": 1, "b": 1})
    document = json.loads((tmp_path / "b" / "results.json").read_text())
    del document["extra_data"]["status"]
    (tmp_path / "b" / "results.json").write_text(json.dumps(document))
    assert list(batch.completed(tmp_path)) == ["a"]


# ------------------------------------------------------------------ examples


def test_examples_class_is_what_make_class_writes(tmp_path):
    sys.path.insert(0, str(EXAMPLES))
    try:
        import make_class
    finally:
        sys.path.remove(str(EXAMPLES))
    written = make_class.main(tmp_path / "class")
    assert files(written) == files(CLASS), "examples/class is stale: run python examples/make_class.py"
    for name in files(CLASS):
        assert (written / name).read_bytes() == (CLASS / name).read_bytes(), name
    assert set(make_class.EXPECTED) == {p.name for p in CLASS.iterdir() if p.is_dir()}
    assert 10 <= len(make_class.EXPECTED) <= 14


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, single):
    """SUBMISSIONS_DIR of TINY, and what one batch of it with SEED writes: (folder, OUTDIR).
    That is the single batch's folders of TINY, and grades.csv made from them alone
    (seeds depend on the batch seed and the id only)."""
    folder = class_of(TINY, tmp_path_factory.mktemp("tiny") / "submissions")
    outdir = folder.parent / "single"
    for submission_id in TINY:
        shutil.copytree(single[1] / submission_id, outdir / submission_id)
    batch.write_grades(outdir)
    batch.write_class_report(outdir)
    return folder, outdir


def example_env(submissions, **more):
    return {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}",
            "SUBMISSIONS": str(submissions), "BATCH_OPTIONS": " ".join(TIME_OPTIONS), **more}


def test_the_github_actions_example_runs_shards_then_merges(tiny, tmp_path):
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((EXAMPLES / "github-actions-batch.yml").read_text())
    env = example_env(tiny[0], SEED=str(workflow["env"]["SEED"]), SHARDS=str(workflow["env"]["SHARDS"]))
    assert workflow["env"]["SEED"] == SEED  # the tiny fixture's
    grade_job, merge_job = workflow["jobs"]["grade"], workflow["jobs"]["merge"]
    shards = grade_job["strategy"]["matrix"]["shard"]
    assert len(shards) == workflow["env"]["SHARDS"]
    assert merge_job["needs"] == "grade"

    def expand(text, shard=None):
        return re.sub(r"\$\{\{\s*matrix\.shard\s*\}\}", str(shard), text)

    batch_step = next(step for step in grade_job["steps"] if "harness batch" in step.get("run", ""))
    upload = next(step for step in grade_job["steps"] if "upload-artifact" in step.get("uses", ""))
    download = next(step for step in merge_job["steps"] if "download-artifact" in step.get("uses", ""))
    merge_step = next(step for step in merge_job["steps"] if "harness merge" in step.get("run", ""))
    for shard in shards:
        run = subprocess.run(["bash", "-c", expand(batch_step["run"], shard)], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout + run.stderr
        # upload-artifact, then download-artifact by pattern: shards/<artifact name>/
        name, path = expand(upload["with"]["name"], shard), expand(upload["with"]["path"], shard)
        assert re.fullmatch(download["with"]["pattern"].replace("*", ".*"), name)
        shutil.copytree(tmp_path / path, tmp_path / download["with"]["path"] / name)
    run = subprocess.run(["bash", "-c", merge_step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    report = tmp_path / next(s for s in merge_job["steps"] if s.get("with", {}).get("name") == "class-report")["with"]["path"]
    assert (report / "grades.csv").read_text() == (tiny[1] / "grades.csv").read_text()
    assert (report / "index.html").read_bytes() == (tiny[1] / "index.html").read_bytes()
    assert scores(report) == scores(tiny[1])


def test_the_slurm_example_submits_an_array_and_a_merge_then_its_tasks_grade_and_merge(tiny, tmp_path):
    script = EXAMPLES / "slurm-batch.sh"
    assert "--shard $((SLURM_ARRAY_TASK_ID+1))/$N" in script.read_text()
    # submit: a stand-in sbatch records what it is asked
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text('#!/bin/sh\necho "$@" >> "$SBATCH_LOG"\necho 4242\n')
    (bin_dir / "sbatch").chmod(0o755)
    out = tmp_path / "out"
    env = example_env(tiny[0], OUT=str(out), SHARDS="3", SEED=str(SEED), SBATCH_LOG=str(tmp_path / "sbatch.log"))
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    run = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    array, merge = (tmp_path / "sbatch.log").read_text().splitlines()
    assert "--array=0-2" in array and array.endswith(f"{script} shard")
    assert "--dependency=afterany:4242" in merge and merge.endswith(f"{script} merge")
    # the jobs: each array task, then the merge
    for task in range(3):
        run = subprocess.run(["bash", str(script), "shard"], env={**env, "SLURM_ARRAY_TASK_ID": str(task)},
                             capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert run.returncode == 0, run.stdout + run.stderr
    run = subprocess.run(["bash", str(script), "merge"], env=env, capture_output=True, text=True, timeout=600,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (out / "class-report" / "grades.csv").read_text() == (tiny[1] / "grades.csv").read_text()
    assert (out / "class-report" / "index.html").read_bytes() == (tiny[1] / "index.html").read_bytes()
    assert scores(out / "class-report") == scores(tiny[1])


def test_a_forked_grading_past_its_limit_is_killed_with_everything_it_started(tmp_path):
    """The harness's own grading runs as a fork of the batch (`_ForkedGrading`):
    past the limit it is killed with its zygote and sandboxes, its row says
    so, and a fork that grades within its limit writes what `grade` writes."""
    folder = tmp_path / "submissions"
    shutil.copytree(CLASS / "jun-hangs", folder / "jun-hangs")  # a 5 s timeout in one method: ~7 s to grade
    shutil.copytree(CLASS / "eli-bgd-only", folder / "eli-bgd-only")
    started_before = {p for p in process.process_tree(os.getpid())}
    summary = batch.run_batch(folder, tmp_path / "out", workers=2, seed=3, limit=4,
                              progress=lambda total: _Quiet())
    status = {f.id: f.status for f in summary.finished}
    assert status == {"jun-hangs": "timeout", "eli-bgd-only": "graded"}
    assert process.process_tree(os.getpid()) <= started_before | {os.getpid()}  # nothing left running
    hung = json.loads((tmp_path / "out" / "jun-hangs" / "results.json").read_text())
    assert hung["score"] == 0 and "limit of 4 s" in hung["output"]
    graded = json.loads((tmp_path / "out" / "eli-bgd-only" / "results.json").read_text())
    assert graded["score"] == graded["extra_data"]["max_score"] > 0 and (tmp_path / "out" / "eli-bgd-only" / "report.html").exists()
