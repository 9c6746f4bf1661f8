"""The files a grading run writes: Gradescope's results.json and JUnit XML.

Only the judge writes them, from `CheckOutcome`s it built itself; nothing
here reads anything the student's process produced except through those.
"""

import dataclasses
import json
import os
import pathlib
import tempfile
import xml.etree.ElementTree as ET

PASSED, FAILED = "passed", "failed"
GRADESCOPE_VISIBILITY = {"public": "visible", "hidden": "after_published"}


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
    """The results.json document, in Gradescope's autograder format."""
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
                "output": o.output,
                "output_format": "text",
                "visibility": GRADESCOPE_VISIBILITY.get(o.visibility, "visible"),
                "tags": list(o.tags),
                "extra_data": {"target": o.target, "duration": round(o.duration, 4)},
            }
        )
    return {
        "score": round(score, 6),
        "execution_time": round(execution_time, 3),
        "output": output,
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {"seed": seed, "max_score": max_score, **(extra or {})},
        "tests": tests,
    }


def junit_xml(outcomes, suite_name="gradecheck", execution_time=0.0):
    failures = sum(not o.passed for o in outcomes)
    suite = ET.Element(
        "testsuite",
        name=suite_name,
        tests=str(len(outcomes)),
        failures=str(failures),
        errors="0",
        time=f"{execution_time:.3f}",
    )
    for o in outcomes:
        case = ET.SubElement(suite, "testcase", classname=o.target, name=o.name, time=f"{o.duration:.4f}")
        if not o.passed:
            failure = ET.SubElement(case, "failure", message=(o.output.splitlines() or ["failed"])[0])
            failure.text = o.output
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_atomically(path, text):
    """Write `text` to `path` so that readers never see a half-written file."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_results(path, document):
    write_atomically(path, json.dumps(document, indent=2) + "\n")
