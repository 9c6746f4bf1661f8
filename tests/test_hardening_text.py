"""Student text in the reports (harness/text.py): control characters, terminal
escape sequences, NUL, lone surrogates and characters XML forbids, in an
exception's message, its class name, the source line a traceback quotes or
printed output, must leave results.json and junit.xml well-formed and free of
them, with the diagnosis still readable.

Each attack is a real submission (the reference whose `Dense.call` raises)
graded by `python -m harness grade`, beside a control that differs from it
only by the attack.
"""

import json
import re
import xml.etree.ElementTree as ET

import pytest
from hardening import grade, leftovers, private_tmpdir, submission_with

from harness.results import CheckOutcome, gradescope_results, junit_xml
from harness.sandbox import wire
from harness.text import printable, printable_data

# What no string of a report may hold: C0 controls but \t and \n, DEL, C1,
# lone surrogates, U+FFFE/U+FFFF, bidirectional overrides.
FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]")
# XML 1.0's Char production.
XML_CHAR = re.compile(r"[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")

# The Dense.call of the control submission: print something, raise. Each
# attack replaces one part of it (a Python source fragment, indented).
PARTS = {
    "print": 'print("printed plain text", flush=True)',
    "class": 'Bad = type("BadError", (Exception,), {})',
    "raise": 'raise Bad("msg red nul del nel nonchar lone")  # src plain',
}
ATTACKS = {
    "message": (
        "raise",
        r'raise Bad("msg \x1b[1;31mred\x1b[0m \x00 nul \x7f del \x85 nel \uffff nonchar \ud800 lone '
        r'\x1b]8;;http://evil.example/\x07link\x1b]8;;\x07 \u202eevil \x9b")  # src plain',
    ),
    "class name": ("class", r'Bad = type("Bad\x1b[31mError\x07", (Exception,), {})'),
    # Raw characters in the source file itself, in the comment of the line the traceback quotes.
    "source line": ("raise", 'raise Bad("msg red nul del nel nonchar lone")  # src \x1b[31mred\x1b[0m \x7f \x85 \x9b \uffff \x07 bell'),
    "printed": (
        "print",
        r'print("printed \x1b[2J\x1b]0;title\x07 \x00 \x7f \x85 \x9b31m \uffff text", flush=True); '
        r'import sys; sys.stdout.buffer.write(b"\xed\xa0\x80 \xff \x1b[5m\n"); sys.stdout.flush()',
    ),
}
# What the diagnosis says of each attack: visible escapes where the characters were.
READABLE = {
    "message": ["BadError: msg red \\x00 nul \\x7f del \\x85 nel \\uffff nonchar \\ud800 lone link \\u202eevil \\x9b"],
    "class name": ["BadError\\x07: msg red nul del nel nonchar lone"],
    "source line": ["# src red \\x7f \\x85 \\x9b \\uffff \\x07 bell"],
    "printed": ["BadError: msg red nul del nel nonchar lone"],
}


def dense_call(attack=None):
    parts = dict(PARTS)
    if attack is not None:
        part, code = ATTACKS[attack]
        parts[part] = code
    return "".join(f"        {parts[name]}\n" for name in ("print", "class", "raise"))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """name -> (exit status, results.json document, junit.xml bytes, stderr) of
    the control and of each attack (None for a file that was not written)."""
    found = {}
    with private_tmpdir() as tmpdir:
        for name in [None, *ATTACKS]:
            folder = tmp_path_factory.mktemp("attack" if name else "control")
            submission = submission_with(folder / "submission", dense_call(name))
            status, document, junit, run = grade(submission, folder, tmpdir, "--assignment", "beras")
            found[name] = (status, document, junit.read_bytes() if junit.exists() else None, run.stderr)
        assert leftovers(tmpdir) == []
    return found


def strings(value):
    """Every string of a JSON document, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def failed_outputs(document):
    return {t["name"]: t["output"] for t in document["tests"] if t["status"] == "failed"}


def test_the_control_fails_dense_only_with_a_plain_diagnosis(graded):
    status, document, junit, stderr = graded[None]
    assert document is not None and junit is not None, stderr
    failed = failed_outputs(document)
    assert status == 1 and failed and all(name.startswith("beras.layers.Dense: ") for name in failed)
    assert all("BadError: msg red nul del nel nonchar lone" in output for output in failed.values())


@pytest.mark.parametrize("attack", ATTACKS)
def test_an_attack_changes_nothing_but_the_text_and_the_text_is_harmless(graded, attack):
    status, document, junit, stderr = graded[attack]
    assert document is not None and junit is not None, stderr
    control_status, control, *_ = graded[None]
    # The same grade as the control: the attack is text, nothing else.
    assert status == control_status
    assert [(t["name"], t["status"], t["score"]) for t in document["tests"]] == [
        (t["name"], t["status"], t["score"]) for t in control["tests"]
    ]

    # results.json: valid UTF-8, and no string of it holds a forbidden character.
    for text in strings(document):
        assert not FORBIDDEN.search(text), repr(text[:300])

    # junit.xml: well-formed for a strict parser, every character legal in XML 1.0.
    text = junit.decode("utf-8")
    suite = ET.fromstring(junit)
    assert XML_CHAR.fullmatch(text), [c for c in text if not XML_CHAR.fullmatch(c)][:5]
    assert not re.search(r"&#(x[0-9a-fA-F]+|[0-9]+);", text)  # no character reference smuggles one in
    failures = {case.get("name"): case.find("failure") for case in suite.iter("testcase")}

    # Still readable: the visible escapes are where the characters were, in both reports.
    outputs = failed_outputs(document)
    for output in outputs.values():
        for expected in READABLE[attack]:
            assert expected in output, output[:1500]
    for name, output in outputs.items():
        assert failures[name] is not None and failures[name].text.strip() == output.strip()
        assert FORBIDDEN.search(failures[name].get("message")) is None


def test_printable_removes_escape_sequences_and_escapes_what_is_unsafe():
    cases = {
        "plain text, é 中文\tand\nlines": "plain text, é 中文\tand\nlines",
        "a \x1b[1;31mred\x1b[0m b": "a red b",  # CSI
        "\x1b]0;title\x07after": "after",  # OSC ended by BEL
        "\x1b]8;;http://x/\x1b\\link\x1b]8;;\x1b\\": "link",  # OSC 8 hyperlink ended by ST
        "\x1bPq#0\x1b\\x": "x",  # DCS (sixel)
        "\x1b(B\x1bc\x1b7": "",  # charset, reset, save cursor
        "\x9b31mC1 CSI": "C1 CSI",
        "\x1b\x1b[31m[31m": "\\x1b[31m",  # removing one sequence cannot leave a working one
        "\x1b]never ended": "never ended",
        "nul\x00 bell\x07 del\x7f nel\x85": "nul\\x00 bell\\x07 del\\x7f nel\\x85",
        "\ud800 \udfff \ufffe \uffff": "\\ud800 \\udfff \\ufffe \\uffff",
        "\u202eevil\u2066": "\\u202eevil\\u2066",
        "crlf\r\nline\rover": "crlf\nline\\x0dover",
    }
    for text, expected in cases.items():
        assert printable(text) == expected, text
        assert printable(expected) == expected  # idempotent
    assert printable("abcdef", limit=3) == "abc… [3 more characters]"
    with pytest.raises(TypeError):
        printable(b"bytes")


def test_printable_is_linear_on_hostile_input():
    import time

    # CPU time of this process: a quadratic scan of 400,000 characters costs
    # minutes, a linear one milliseconds, whatever else the machine runs.
    for text in ("\x1b]" * 200_000, "\x1b[" + "0" * 400_000, "\x9d" + "a" * 400_000, "\x00" * 400_000):
        started = time.process_time()
        result = printable(text)
        assert time.process_time() - started < 1.0
        assert not FORBIDDEN.search(result)


def test_the_wire_and_the_reports_use_the_same_sanitiser():
    nasty = "Bad\x1b[31mError\x07 \x00 \ud800"
    assert wire.clean_text(nasty) == printable(nasty) == "BadError\\x07 \\x00 \\ud800"
    assert wire.clean_text("x" * 10, limit=4) == printable("x" * 10, 4)
    assert printable_data({"k\x00": ["a\x1b[1m", ("\x7f",), 1.5, None]}) == {"k\\x00": ["a", ("\\x7f",), 1.5, None]}

    outcome = CheckOutcome(name="beras.layers.Dense: forward \x07", target="beras.layers.Dense\x00", max_score=1,
                           passed=False, output=nasty + "\nsecond line\x0c")
    document = gradescope_results([outcome], 1.0, 7, output="top\x1b[2J", extra={"note\x85": "\ud800"})
    assert not any(FORBIDDEN.search(text) for text in strings(json.loads(json.dumps(document))))
    suite = ET.fromstring(junit_xml([outcome]))
    assert suite.find("testcase/failure").get("message") == "BadError\\x07 \\x00 \\ud800"
    assert suite.find("testcase").get("classname") == "beras.layers.Dense\\x00"
