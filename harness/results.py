"""The files a grading run writes: Gradescope's results.json and JUnit XML.

Only the judge writes them, from `CheckOutcome`s it built itself; nothing
here reads anything the student's process produced except through those.
Their text still quotes student code (exception messages and class names,
traceback lines): every string of both documents passes through
`harness.text.printable` here, when the document is built and again when it
is written, whatever path the text took to get here.

Both follow SPEC 5 here, whoever calls: a hidden check shows its name and
result only (`outcomes.student_text`; its diagnosis stays out, and
results.json's `extra_data` names only the method at fault, the blame and the mistake,
which Gradescope does not show students), each test's output is bounded
(`OUTPUT_CHARS`) and results.json stays under `MAX_RESULTS_BYTES`.
"""

import dataclasses
import json
import os
import pathlib
import tempfile
import xml.etree.ElementTree as ET

from .outcomes import student_text
from .text import bounded, printable, printable_data
from .vocabulary import BLAMES, MISTAKES

PASSED, FAILED = "passed", "failed"
GRADESCOPE_VISIBILITY = {"public": "visible", "hidden": "after_published"}
OUTPUT_CHARS = 8000  # each test's output, at most (about): Gradescope shows it whole
MAX_RESULTS_BYTES = 900_000  # results.json, at most: Gradescope's limit is 1 MB


@dataclasses.dataclass
class CheckOutcome:
    """One check of one submission, as the judge saw it."""

    name: str  # "beras.layers.Dense: forward matches the reference"
    target: str  # "beras.layers.Dense"
    max_score: float
    passed: bool
    output: str = ""
    visibility: str = "public"  # or "hidden"
    tags: list = dataclasses.field(default_factory=list)
    duration: float = 0.0
    details: dict = dataclasses.field(default_factory=dict)  # structured diagnosis, for reports

    @property
    def score(self):
        return self.max_score if self.passed else 0.0

    @property
    def status(self):
        return PASSED if self.passed else FAILED


def total(outcomes):
    return sum(o.score for o in outcomes), sum(o.max_score for o in outcomes)


def gradescope_results(outcomes, execution_time, seed, output="", extra=None):
    """The results.json document, in Gradescope's autograder format, every
    string in it made printable (`harness.text.printable`), within
    `MAX_RESULTS_BYTES`: the outputs of the tests are bounded more tightly
    until the document fits."""
    limit = OUTPUT_CHARS
    while True:
        document = _gradescope_document(outcomes, execution_time, seed, output, extra, limit)
        if limit <= 250 or len(json.dumps(document, indent=2)) <= MAX_RESULTS_BYTES:
            return document
        limit //= 2


def _gradescope_document(outcomes, execution_time, seed, output, extra, limit):
    score, max_score = total(outcomes)
    tests = []
    for number, o in enumerate(outcomes, start=1):
        tests.append(
            {
                "name": o.name,
                "number": str(number),
                "score": round(o.score, 6),
                "max_score": o.max_score,
                "status": o.status,
                "output": bounded(student_text(o), limit, line_limit=min(1000, limit // 4)),
                "output_format": "text",
                "visibility": GRADESCOPE_VISIBILITY.get(o.visibility, "visible"),
                "tags": list(o.tags),
                "extra_data": {"target": o.target, "duration": round(o.duration, 4), **diagnosis_data(o)},
            }
        )
    return printable_data(
        {
            "score": round(score, 6),
            "execution_time": round(execution_time, 3),
            "output": bounded(output, 4 * OUTPUT_CHARS),
            "output_format": "text",
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "extra_data": {"seed": seed, "max_score": max_score, **(extra or {})},
            "tests": tests,
        }
    )


def diagnosis_data(outcome):
    """SPEC 5's structured diagnosis of a failed check, for tools and class
    reports: {"method", "blame", "mistake"} as far as known (harness.vocabulary;
    `blame` from the diagnosis, else the check's default; `mistake` only when one
    was recognised) (no input, no expected value:
    hidden checks carry it too)."""
    if outcome.passed:
        return {}
    data = {}
    method = outcome.details.get("method")
    if isinstance(method, str) and method and not method.startswith("<"):
        data["method"] = method[:200]
    blame = outcome.details.get("blame")
    if blame in BLAMES:
        data["blame"] = blame
    mistake = outcome.details.get("mistake")
    if mistake in MISTAKES:
        data["mistake"] = mistake
    return data


def refused_results(reason, execution_time, seed, extra=None):
    """The results.json document of a submission that could not be graded at
    all (`reason` says why, for the student): no test, score 0. `extra`: more
    for `extra_data` (what the instructor may need, e.g. the grader's own error)."""
    return printable_data(
        {
            "score": 0.0,
            "execution_time": round(execution_time, 3),
            "output": bounded(f"This submission could not be graded: {reason}", 4 * OUTPUT_CHARS),
            "output_format": "text",
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "extra_data": {"seed": seed, "refused": bounded(reason, 4 * OUTPUT_CHARS), **(extra or {})},
            "tests": [],
        }
    )


def junit_xml(outcomes, suite_name="gradecheck", execution_time=0.0, error=None):
    """The JUnit XML report: one testcase per check, a <failure> with its
    diagnosis for each failed one. `error`: the submission could not be graded
    (then one errored testcase says why). A hidden check's failure says
    nothing of the check (`outcomes.student_text`). Every attribute and text is made
    printable (`harness.text.printable`), so the document is well-formed XML 1.0.
    Within `MAX_RESULTS_BYTES`, as results.json: failures are bounded more
    tightly until it fits."""
    limit = OUTPUT_CHARS
    while True:
        document = _junit_document(outcomes, suite_name, execution_time, error, limit)
        if limit <= 250 or len(document.encode("utf-8")) <= MAX_RESULTS_BYTES:
            return document
        limit //= 2


def _junit_document(outcomes, suite_name, execution_time, error, limit):
    failures = sum(not o.passed for o in outcomes)
    suite = ET.Element(
        "testsuite",
        name=suite_name,
        tests=str(len(outcomes) + (error is not None)),
        failures=str(failures),
        errors=str(int(error is not None)),
        time=f"{execution_time:.3f}",
    )
    if error is not None:
        case = ET.SubElement(suite, "testcase", classname=suite_name, name="submission", time="0")
        ET.SubElement(case, "error", message=error).text = error
    for o in outcomes:
        case = ET.SubElement(suite, "testcase", classname=o.target, name=o.name, time=f"{o.duration:.4f}")
        if not o.passed:
            # printable first: some controls break lines
            output = bounded(printable(student_text(o)), limit, line_limit=min(1000, limit // 4))
            failure = ET.SubElement(case, "failure", message=(output.splitlines() or ["failed"])[0])
            failure.text = output
    for element in suite.iter():  # ElementTree writes control characters as they are: none may be left
        element.attrib = {key: printable(value) for key, value in element.attrib.items()}
        if element.text is not None:
            element.text = printable(element.text)
        if element.tail is not None:
            element.tail = printable(element.tail)
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_atomically(path, text):
    """Write `text` to `path` so that readers never see a half-written file."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_results(path, document):
    """Write results.json, every string of `document` made printable once more
    (whoever built it): no control character but newline and tab reaches it."""
    write_atomically(path, json.dumps(printable_data(document), indent=2) + "\n")
