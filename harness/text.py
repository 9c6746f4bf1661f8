"""Text from student code, made fit for a report.

Exception messages, class names, the source lines a traceback quotes and
anything printed come from the submission: they may hold terminal escape
sequences (a message that clears the grader's screen or rewrites a
hyperlink), NUL and other control characters (which make XML ill-formed and
JSON readers choke) and lone surrogates (which cannot be written as UTF-8).
`printable` is the one place that makes such text safe; `printable_data`
applies it to every string of a JSON-like document. `harness.results` passes
every results.json and JUnit document through them, whatever path the text
took, and the sandbox client (`sandbox.wire.clean_text`) uses the same
function on every string the worker sends. Any other report must pass its
strings through them too: the console table of `check` does, and
`harness.report` (report.html) applies `printable` to every string of a
`CheckOutcome`'s output and `details` it shows, and again to every value its
templates write.

What is kept, removed or replaced, and why:

- ANSI/VT escape sequences (CSI such as colours and cursor moves, OSC such as
  window titles and hyperlinks, DCS/SOS/PM/APC strings, the short ESC forms,
  and their 8-bit C1 forms) are removed: they carry no meaning in a report,
  only effects on a terminal.
- Any other C0 or C1 control character, DEL, a lone surrogate, U+FFFE/U+FFFF
  (which XML 1.0 forbids) and the bidirectional overrides (which reorder what
  a reader sees, "Trojan source") are replaced by a visible backslash escape
  such as ``\\x00``, ``\\x7f``, ``\\ud800`` or ``\\u202e``. An escape rather than
  U+FFFD: the student (and a grader) can still tell which character it was,
  the diagnosis stays readable, and the escape is plain ASCII.
- ``\\n`` and ``\\t`` are kept; ``\\r\\n`` becomes ``\\n`` (a Windows line end),
  a lone ``\\r`` (which would let a line overwrite itself) is escaped.

The result holds only characters that are legal in XML 1.0 and in UTF-8, and
no control character but newline and tab. `printable` is idempotent:
applying it again changes nothing (the escapes it writes are printable ASCII).
"""

from __future__ import annotations

import re
from typing import Any

# Terminal escape sequences (ECMA-48), 7-bit and 8-bit forms. Bodies stop at
# the next ESC, so a run of unterminated sequences costs linear time; an
# unterminated string sequence loses its introducer here and whatever it
# left (an ESC) is escaped by _UNSAFE below.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: parameters, intermediates, final byte
    r"|(?:\x1b[]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"  # OSC, DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]"  # the other ESC sequences (charset, keypad, reset, ...)
)
# Characters that are not kept as they are. Every terminal escape sequence
# begins with one of them (ESC or a C1 control), so text without any needs no work.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, limit: int | None = None) -> str:
    """`text` without terminal escape sequences and with every other unsafe
    character written as a visible escape (see the module docstring).

    `limit`: at most this many characters of `text` are kept (before
    escaping, which may lengthen what is kept by up to 6 times); a cut text
    ends with "… [N more characters]". Raises TypeError if `text` is not a str.
    """
    if not isinstance(text, str):
        raise TypeError(f"printable() takes a str, not {type(text).__name__}")
    cut = ""
    if limit is not None and len(text) > limit:
        cut = f"… [{len(text) - limit} more characters]"
        text = text[: max(limit, 0)]
    if _UNSAFE.search(text) is None:  # nearly always: nothing to do
        return text + cut
    text = _ESCAPE_SEQUENCE.sub("", text.replace("\r\n", "\n"))
    return _UNSAFE.sub(_visible, text) + cut


def printable_data(value: Any) -> Any:
    """A copy of a JSON-like document (dicts, lists, tuples, scalars) with
    `printable` applied to every string in it, dict keys included.

    Anything else is returned as it is. Documents are ours and shallow, so
    recursion is fine; RecursionError for one nested deeper than Python's limit.
    """
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {(printable(k) if isinstance(k, str) else k): printable_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable_data(v) for v in value]
    if isinstance(value, tuple):
        return tuple(printable_data(v) for v in value)
    return value


# ------------------------------------------------------------ sandbox paths

_SANDBOX_MARK = "harness-sandbox-"
# What may come before the mark in a path: anything but a separator of prose,
# quotes or brackets (a traceback writes `File "/tmp/harness-sandbox-x/work/a.py"`).
_PATH_STOPS = frozenset(" \t\n\"'`<>()[]{},;=")


def without_sandbox_paths(text: str) -> str:
    """`text` with the private folders of a sandbox written as the student knows them.

    The submission runs in a copy under `<tmp>/harness-sandbox-XXXX/work/`, a
    name that changes at every run and means nothing to the student:
    `/tmp/harness-sandbox-ab12/work/beras/layers.py` becomes `beras/layers.py`
    (the work folder itself `.`), the sandbox's other folders (its HOME and
    temp dir) `<sandbox>/tmp/...`, and the runtime mirror of Python and NumPy
    `<python>/...`. Linear in the length of `text`, whatever it holds.
    """
    if _SANDBOX_MARK not in text:  # nearly always
        return text
    pieces, done = [], 0
    while True:
        mark = text.find(_SANDBOX_MARK, done)
        if mark < 0:
            break
        start = mark  # walk back to where the path begins
        while start > done and text[start - 1] not in _PATH_STOPS:
            start -= 1
        end = mark + len(_SANDBOX_MARK)  # the folder's own name: harness-sandbox-XXXX
        while end < len(text) and text[end] not in _PATH_STOPS and text[end] != "/":
            end += 1
        folder = text[mark:end]
        pieces.append(text[done:start])
        if folder.startswith(_SANDBOX_MARK + "runtime-"):
            pieces.append("<python>")
        elif text.startswith("/work/", end):
            end += len("/work/")
        elif text.startswith("/work", end) and (end + 5 == len(text) or text[end + 5] in _PATH_STOPS):
            end += len("/work")
            pieces.append(".")
        else:
            pieces.append("<sandbox>")
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


# ------------------------------------------------------------ bounds


def bounded(text: str, limit: int = 8000, line_limit: int = 1000) -> str:
    """`text` in at most about `limit` characters, saying what was cut.

    A line longer than `line_limit` (a reproducer's inline array) keeps its
    start; past `limit`, the first lines (what failed, where) and the last
    ones are kept and the middle is replaced by a line that says how much
    is missing. Text within both bounds is returned as it is.
    """
    if len(text) <= limit and all(len(line) <= line_limit for line in text.split("\n")):
        return text
    lines = []
    for line in text.split("\n"):
        if len(line) > line_limit:
            line = f"{line[:line_limit]} … [{len(line) - line_limit} more characters on this line]"
        lines.append(line)
    if sum(len(line) + 1 for line in lines) <= limit:
        return "\n".join(lines)
    head, tail, used = [], [], 200  # room for the note
    for line in lines:  # two thirds for the start, which says what failed
        if used + len(line) + 1 > limit * 2 // 3:
            break
        head.append(line)
        used += len(line) + 1
    for line in reversed(lines[len(head):]):
        if used + len(line) + 1 > limit:
            break
        tail.insert(0, line)
        used += len(line) + 1
    cut = lines[len(head): len(lines) - len(tail)]
    note = f"[… {len(cut)} lines, {sum(len(line) + 1 for line in cut)} characters cut here to keep the report small]"
    return "\n".join(head + [note] + tail)
