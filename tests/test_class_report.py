"""The class report, OUTDIR/index.html (SPEC 5; harness/class_report.py).

A batch's output folder is built by grading three submissions with
`python -m harness grade` (the reference, the student template, a mutant),
beside a hand-written results.json that timed out, one that is not JSON and
a folder without results.json. The numbers on the page (histogram, pass
rates, diagnoses, statistics) are checked against those results.json files;
the page is a pure function of them (byte-identical when written again or
from copied shard folders); hostile folder names and documents are escaped.
Then headless chromium opens it: the charts and the pre-sorted views render,
every link to a student report resolves and loads, no request leaves the
machine; its screenshot is kept in test-artifacts/class-report.png.
"""

import collections
import html
import json
import math
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import urllib.parse

import mutants
import pytest
from autograde import grade
from headless import Page, open_in_chromium, page_requests
from headless import screenshot as take_screenshot

from harness import class_report

ROOT = pathlib.Path(__file__).resolve().parents[1]
MUTANT = "mse_grad_wrong_sign"
GRADED = ("mutant-mse", "reference", "template")
SLOW_REASON = "The time budget of 600 s ran out during beras.model.SequentialModel: fit."
# The diagnosis the hand-written timed-out submission gives its two failed checks.
SLOW_DIAGNOSIS = {"method": "Dense.call", "blame": "forward", "mistake": "sign"}


def slow_document(reference):
    """A results.json that timed out: two Dense checks failed with SLOW_DIAGNOSIS, a hidden one passed."""
    dense = [t for t in reference["tests"] if t["name"].startswith("beras.layers.Dense:")]
    visible = [t for t in dense if t["visibility"] == "visible"][:2]
    hidden = [t for t in reference["tests"] if t["visibility"] != "visible"][:1]
    tests = [{**t, "score": 0.0, "status": "failed", "extra_data": {"target": "beras.layers.Dense", **SLOW_DIAGNOSIS}}
             for t in visible] + hidden
    return {"score": sum(t["score"] for t in tests), "output": SLOW_REASON, "tests": tests,
            "extra_data": {"status": "timeout", "max_score": reference["extra_data"]["max_score"]}}


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    """A batch's OUTDIR: (path, {id: results.json document}) of the rows that hold a document."""
    work = tmp_path_factory.mktemp("class")
    out = work / "out"
    submissions = {
        "reference": ROOT / "reference",
        "template": ROOT / "student_template",
        "mutant-mse": mutants.materialise(mutants.MUTANTS_BY_ID[MUTANT], work / "mutant"),
    }
    documents = {}
    for name, folder in submissions.items():
        (out / name).mkdir(parents=True)
        _, documents[name] = grade(folder, out / name / "results.json", "--seed", 1,
                                   "--html", out / name / "report.html")
    (out / "slow").mkdir()
    documents["slow"] = slow_document(documents["reference"])
    (out / "slow" / "results.json").write_text(json.dumps(documents["slow"]))
    (out / "broken").mkdir()
    (out / "broken" / "results.json").write_text('{"score": 12, "tests": [')
    (out / "no-results").mkdir()  # a folder without results.json: not a submission
    (out / "no-results" / "notes.txt").write_text("not graded")
    class_report.write_class_report(out)
    return out, documents


def bin_of(document):
    fraction = document["score"] / document["extra_data"]["max_score"]
    return min(class_report.HISTOGRAM_BINS - 1, math.floor(class_report.HISTOGRAM_BINS * fraction))


def cells(source, row_class):
    """The text of each cell of every <tr class=row_class> row, markup removed."""
    rows = re.findall(rf'<tr class="{row_class}"[^>]*>(.*?)</tr>', source, flags=re.S)
    return [[" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
             for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)] for row in rows]


def view_ids(source, anchor):
    """The submission ids of the view `anchor`, in its order."""
    view = re.search(rf'<div class="gcc-view[^"]*" id="{anchor}">(.*?)</div>', source, flags=re.S).group(1)
    return [row[0] for row in cells(view, "gcc-row")]


def prose(source):
    """The page's text as a reader sees it (Page.words without the space it puts before punctuation)."""
    return re.sub(r" ([,.;:)])", r"\1", Page(source).words)


def assert_self_contained(source):
    """No script, no URL anywhere; every link a fragment or a relative path to a student report."""
    assert "<script" not in source.lower()
    assert "http://" not in source and "https://" not in source and "file:" not in source
    assert "url(" not in source and "@import" not in source
    for tag, name, value in Page(source).attributes:
        if name in ("src", "srcset", "action", "formaction", "poster", "data", "xlink:href"):
            raise AssertionError((tag, name, value))
        if name == "href":
            assert value.startswith("#") or re.fullmatch(r"[^/:?#]+/report\.html", value), value
        assert not name.startswith("on"), (tag, name)


# ------------------------------------------------------------------ the numbers


def test_summary_and_histogram_match_the_results(outdir):
    out, documents = outdir
    source = (out / "index.html").read_text(encoding="utf-8")
    page = Page(source)
    assert "5 submissions: 3 graded, 1 timed out, 1 crashed" in prose(source)
    counts = [int(attrs["data-count"]) for attrs in page.with_class("gcc-bin")]
    expected = collections.Counter(bin_of(document) for document in documents.values())
    assert counts == [expected[index] for index in range(class_report.HISTOGRAM_BINS)]
    assert counts[-1] >= 1 and counts[0] >= 1 and sum(counts) == 4  # reference, template; "broken" has no score
    scores = [document["score"] for document in documents.values()]
    assert f"{round(statistics.fmean(scores), 2):g} mean score" in page.words
    assert f"{round(statistics.median(scores), 2):g} median score" in page.words
    assert "1 submission has no score" in page.words


def test_pass_rates_worst_first_and_hidden_checks_marked(outdir):
    out, documents = outdir
    source = (out / "index.html").read_text(encoding="utf-8")
    ran, passed, hidden = collections.Counter(), collections.Counter(), set()
    for document in documents.values():
        for test in document["tests"]:
            ran[test["name"]] += 1
            passed[test["name"]] += test["status"] == "passed"
            if test["visibility"] != "visible":
                hidden.add(test["name"])
    rows = cells(source, "gcc-rate")
    assert len(rows) == len(ran)
    shown = {}
    for name, _bar, tally in rows:
        is_hidden = name.endswith(" hidden")
        name = name.removesuffix(" hidden")
        assert is_hidden == (name in hidden), name
        shown[name] = tally
    assert shown == {name: f"{passed[name]} / {ran[name]} ({100 * passed[name] / ran[name]:.1f} %)" for name in ran}
    rates = [passed[name] / ran[name] for name in shown]  # in the page's order
    assert rates == sorted(rates) and rates[0] < rates[-1] == 1.0
    # A check the mutant fails: only the reference passes it of the three graded.
    mutant_failed = [t["name"] for t in documents["mutant-mse"]["tests"]
                     if t["status"] == "failed" and t["name"].startswith("beras.losses.MeanSquaredError:")]
    assert mutant_failed and shown[mutant_failed[0]].startswith("1 / 3 ")


def test_diagnoses_grouped_by_method_blame_and_mistake(outdir):
    out, documents = outdir
    source = (out / "index.html").read_text(encoding="utf-8")
    rows = {tuple(row[:3]): (int(row[3]), int(row[4])) for row in cells(source, "gcc-diagnosis")}
    # The hand-written diagnosis: two failed checks of one submission.
    assert rows[("Dense.call", "forward", "sign")] == (2, 1)
    # The mutant's: as many as its results.json has failed checks of the loss's gradient method.
    failed = collections.Counter()
    for document in documents.values():
        for test in document["tests"]:
            if test["status"] == "failed":
                extra = test.get("extra_data", {})
                failed[tuple(extra.get(key) or "—" for key in ("method", "blame", "mistake"))] += 1
    mse = [key for key in failed if key[0] == "MeanSquaredError.get_input_gradients"]
    assert mse and all(rows[key][0] == failed[key] for key in mse)
    assert len(rows) == min(len(failed), class_report.TOP_DIAGNOSES)
    assert all(rows[key][0] == count for key, count in failed.items() if key in rows)
    counts = [count for count, _ in rows.values()]
    assert counts == sorted(counts, reverse=True)


def test_rows_not_graded_say_why_and_the_table_links_reports(outdir):
    out, documents = outdir
    source = (out / "index.html").read_text(encoding="utf-8")
    problems = {row[0]: row[1:] for row in cells(source, "gcc-problem")}
    assert set(problems) == {"broken", "slow"}
    assert problems["slow"] == ["timed out", SLOW_REASON]
    assert problems["broken"][0] == "crashed" and "results.json is not valid JSON" in problems["broken"][1]
    ids = sorted(["broken", *GRADED, "slow"])
    assert view_ids(source, "by-id") == ids  # "no-results" has no results.json: not a row
    by_score = sorted(documents, key=lambda name: (documents[name]["score"], name))
    assert view_ids(source, "by-score-low") == ["broken", *by_score]
    high = sorted(documents, key=lambda name: (-documents[name]["score"], name))
    assert view_ids(source, "by-score-high") == [*high, "broken"] and high[0] == "reference"
    assert view_ids(source, "by-status")[:2] == ["slow", "broken"]
    links = {value for tag, name, value in Page(source).attributes if tag == "a" and name == "href"
             and not value.startswith("#")}
    assert links == {f"{name}/report.html" for name in GRADED}
    assert_self_contained(source)


# ------------------------------------------------------------------ determinism


def test_output_is_a_pure_function_of_the_results_files(outdir, tmp_path):
    out, _ = outdir
    first = (out / "index.html").read_bytes()
    class_report.write_class_report(out)
    assert (out / "index.html").read_bytes() == first
    assert str(out).encode() not in first and str(tmp_path.parent).encode() not in first
    # Two shards, each with some of the folders, merged into a third folder: the same page.
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    merged = tmp_path / "merged"
    for index, folder in enumerate(folders):
        shard = tmp_path / f"shard-{index % 2}"
        shutil.copytree(folder, shard / folder.name)
        shutil.copytree(folder, merged / folder.name)
    shard_pages = [class_report.write_class_report(tmp_path / f"shard-{k}").read_bytes() for k in (0, 1)]
    assert shard_pages[0] != first and shard_pages[1] != first  # the control: other inputs, another page
    assert class_report.write_class_report(merged).read_bytes() == first


def test_command_line_regenerates_it(outdir, tmp_path):
    out, _ = outdir
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "index.html").unlink()
    run = subprocess.run([sys.executable, "-m", "harness.class_report", str(copy)], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert f"class report written to {copy / 'index.html'}" in run.stdout
    assert (copy / "index.html").read_bytes() == (out / "index.html").read_bytes()
    missing = subprocess.run([sys.executable, "-m", "harness.class_report", str(tmp_path / "nowhere")],
                             capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert missing.returncode == 2 and "class report not written" in missing.stderr
    assert subprocess.run([sys.executable, "-m", "harness.class_report"], capture_output=True, timeout=120,
                          cwd=ROOT).returncode == 2


# ------------------------------------------------------------------ bad and hostile input


ATTACK = '<script>alert(1)</script>"><img src=x onerror=alert(1)>\x1b[31mred\x1b[0m\x07\u202e'


def test_hostile_names_and_documents_are_escaped_and_bad_files_are_crashed_rows(tmp_path):
    name = '<b onclick=x>x "q" #1?a=b \u202e\x1b[2J'  # anything a folder name may hold but "/" and NUL
    documents = {
        name: {"score": 1, "extra_data": {"status": "refused", "refused": f"no package {ATTACK}"}, "tests": [],
               "output": "ignored"},
        "hostile-tests": {"score": 0, "extra_data": {"max_score": 2}, "tests": [
            {"name": f"beras.layers.Dense: {ATTACK}", "score": 0, "max_score": 2, "status": "failed",
             "visibility": "visible", "extra_data": {"method": ATTACK, "blame": ATTACK, "mistake": ATTACK}}]},
        "array": [1, 2],
        "nan-score": {"score": float("nan"), "tests": []},
        "tests-not-a-list": {"score": 0, "tests": {"a": 1}},
    }
    for folder, document in documents.items():
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "results.json").write_text(json.dumps(document))
    (tmp_path / name / "report.html").write_text("<p>report</p>")
    (tmp_path / "latin-1").mkdir()
    (tmp_path / "latin-1" / "results.json").write_bytes(b'{"output": "\xe9"}')
    source = class_report.write_class_report(tmp_path).read_text(encoding="utf-8")
    text = prose(source)
    assert "<script" not in source.lower() and "<img" not in source.lower() and "<b>" not in source
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in source and "&lt;b onclick=x&gt;x" in source
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in source
    assert "\\u202e" in source and "\\x07" in source  # visible escapes, as in report.html
    quoted = urllib.parse.quote(name, safe="") + "/report.html"
    assert f'href="{html.escape(quoted)}"' in source  # percent-encoded: the folder, whatever its name
    assert_self_contained(source)
    problems = {row[0]: row[1:] for row in cells(source, "gcc-problem")}
    assert problems["array"] == ["crashed", "results.json is not a results document: the document is a JSON list, "
                                            "not an object."]
    assert problems["nan-score"][0] == problems["tests-not-a-list"][0] == "crashed"
    assert problems["latin-1"] == ["crashed", "results.json is not UTF-8 text (invalid continuation byte)."]
    assert "refused" in problems[class_report.printable(name)][0] and "no package" in text
    assert "6 submissions: 1 graded, 4 crashed, 1 refused" in text


def test_an_empty_outdir_has_a_report_too(tmp_path):
    text = prose(class_report.write_class_report(tmp_path).read_text(encoding="utf-8"))
    assert "0 submissions" in text and "No submission folder here holds a results.json" in text
    with pytest.raises(FileNotFoundError):
        class_report.write_class_report(tmp_path / "nowhere")


# ------------------------------------------------------------------ in a real browser


def probe_page(index, reports, path):
    """A test page that opens the class report in frames (as it is, and at
    two views' anchors) and each student report it links to, and writes what
    the browser rendered into its own DOM as JSON (chromium then dumps it)."""
    frames = [("plain", index.as_uri()), ("low", index.as_uri() + "#by-score-low"),
              ("failed", index.as_uri() + "#by-failed")] + [(f"report-{i}", uri) for i, uri in enumerate(reports)]
    iframes = "\n".join(f'<iframe id="{key}" src="{html.escape(uri)}" width="1000" height="800"></iframe>'
                        for key, uri in frames)
    script = """
window.addEventListener("load", () => {
  const seen = {};
  for (const frame of document.querySelectorAll("iframe")) {
    const doc = frame.contentDocument;
    const shown = (el) => getComputedStyle(el).display !== "none" && el.getBoundingClientRect().height > 0;
    seen[frame.id] = {
      title: doc.title,
      h1: doc.querySelector("h1") ? doc.querySelector("h1").textContent : null,
      views: [...doc.querySelectorAll(".gcc-view")].filter(shown).map((v) => v.id),
      bars: [...doc.querySelectorAll(".gcc-bin")].map((r) => Math.round(r.getBoundingClientRect().height)),
      passBars: [...doc.querySelectorAll(".gcc-bar-fg")].filter((r) => r.getBoundingClientRect().width > 0).length,
      histogramWidth: doc.querySelector(".gcc-histogram svg") ?
        doc.querySelector(".gcc-histogram svg").getBoundingClientRect().width : 0,
      links: [...doc.querySelectorAll("a[href$='report.html']")].map((a) => a.href),
    };
  }
  document.getElementById("seen").textContent = JSON.stringify(seen);
});
"""
    path.write_text(f'<!DOCTYPE html><html><body><pre id="seen"></pre>\n{iframes}\n<script>{script}</script></body></html>')
    return path


def test_class_report_in_headless_chromium(outdir, tmp_path, browser):
    out, documents = outdir
    index = out / "index.html"
    source = index.read_text(encoding="utf-8")
    # The links, resolved as the browser resolves them, are existing files.
    hrefs = sorted({value for tag, name, value in Page(source).attributes
                    if tag == "a" and name == "href" and not value.startswith("#")})
    reports = [index.parent / urllib.parse.unquote(href) for href in hrefs]
    assert reports and all(report.is_file() for report in reports)

    net_log = tmp_path / "net-log.json"
    dom = open_in_chromium(index, tmp_path / "profile", "--dump-dom", net_log=net_log)
    views = len(re.findall(r'<div class="gcc-view[ "]', source))
    assert "gradecheck: class report" in dom and views >= 4 and dom.count('class="gcc-row"') == 5 * views
    assert page_requests(net_log) == []  # nothing left the machine
    # The control: the same log does show a page that fetches something.
    leaky = tmp_path / "leaky.html"
    leaky.write_text('<html><body><img src="http://gradecheck.invalid/x.png"></body></html>')
    open_in_chromium(leaky, tmp_path / "profile", "--dump-dom", net_log=tmp_path / "leaky-log.json")
    assert page_requests(tmp_path / "leaky-log.json") == ["http://gradecheck.invalid/x.png"]

    probe = probe_page(index, [report.as_uri() for report in reports], tmp_path / "probe.html")
    dumped = open_in_chromium(probe, tmp_path / "profile", "--allow-file-access-from-files", "--dump-dom",
                              "--virtual-time-budget=5000")
    seen = json.loads(html.unescape(re.search(r'<pre id="seen">(.*?)</pre>', dumped, flags=re.S).group(1)))
    plain = seen["plain"]
    assert plain["title"] == "gradecheck class report" and plain["views"] == ["by-id"]
    assert seen["low"]["views"] == ["by-score-low"] and seen["failed"]["views"] == ["by-failed"]
    counts = [int(attrs["data-count"]) for attrs in Page(source).with_class("gcc-bin")]
    assert plain["histogramWidth"] > 300
    assert [height > 0 for height in plain["bars"]] == [count > 0 for count in counts]  # a bar per nonempty bin
    assert plain["passBars"] == sum(1 for _, _, tally in cells(source, "gcc-rate") if not tally.startswith("0 /"))
    assert sorted(set(plain["links"])) == sorted(report.as_uri() for report in reports)
    for key, report in enumerate(reports):  # each student report loaded: its own heading and title
        loaded = seen[f"report-{key}"]
        assert loaded["h1"] == "gradecheck: grading report", (report, loaded)
        assert loaded["title"].startswith("gradecheck report"), (report, loaded)

    screenshot = take_screenshot(index, tmp_path / "profile", "class-report.png", height=1800)
    print(f"screenshot of the class report: {screenshot}")
