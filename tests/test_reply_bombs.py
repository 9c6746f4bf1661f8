"""Bounded decoding of the worker's replies (harness/sandbox/wire.py ReplyBudget).

A reply's bytes were always bounded (Limits.message_bytes); what decoding
them costs is bounded too: 48 MiB of "[[],[],...]" once took the judge 19 s
and 2.4 GB. First the decoding functions on crafted bytes, then real student
code that forges its replies (tests/bombs.py) against a real sandbox: every
bomb is a clear "protocol" failure of the op, within a second and without
memory beyond the reply's own size, and the judge goes on with a new worker.
"""

import json
import os
import struct
import threading
import time
import tracemalloc
import types

import numpy as np
import pytest
from bombs import make_submission

from harness.sandbox import Limits, MiB, ProtocolError, Sandbox, client, wire

FRAME = struct.Struct("<4sQQ")


def nested_lists(count: int) -> bytes:
    """JSON text of a list of `count` empty lists."""
    return b"[" + b",".join([b"[]"] * count) + b"]"


def blob_with(toc, data: bytes = b"") -> bytes:
    head = json.dumps(toc).encode()
    return struct.pack("<I", len(head)) + head + data


# ------------------------------------------------------------ JSON, counted before parsing


def test_json_that_could_build_too_many_values_is_refused_before_parsing(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("json.loads ran on a refused reply")

    bomb = nested_lists(wire.MAX_OBJECTS // 2)  # 2 values a list (and a comma): about 1.5 x the limit
    monkeypatch.setattr(wire.json, "loads", never)
    with pytest.raises(ProtocolError, match="too large: its JSON could build more than"):
        wire.load_json(bomb)
    monkeypatch.undo()
    # The bound is 1 + 2 x brackets + commas + colons: exactly what an accepted text spends.
    budget = wire.ReplyBudget()
    text = b'{"a":[1,2,[]],"b":"x,y:z"}'
    assert wire.load_json(text, budget) == {"a": [1, 2, []], "b": "x,y:z"}
    assert budget.limits["objects"] - budget.left["objects"] == 1 + 2 * 3 + 4 + 3
    assert budget.limits["json_bytes"] - budget.left["json_bytes"] == len(text)


def test_the_replies_of_one_request_share_one_budget():
    text = nested_lists(wire.MAX_OBJECTS // 5)  # 60 % of the values a request may build
    wire.load_json(text)
    wire.load_json(text)  # a budget each: both pass
    shared = wire.ReplyBudget(replies=2)
    wire.load_json(text, shared)
    with pytest.raises(ProtocolError, match="could build more than"):
        wire.load_json(text, shared)
    # JSON text is bounded per request too, and arrays' tables of contents count.
    shared = wire.ReplyBudget()
    wire.load_json(b'"' + b"a" * (wire.MAX_JSON_BYTES + wire.FRAME_BYTES - 10) + b'"', shared)
    with pytest.raises(ProtocolError, match="bytes of JSON"):
        wire.load_arrays(wire.pack_arrays({"a": np.zeros(3)}), shared)


def test_nesting_is_bounded_and_brackets_inside_strings_do_not_count():
    limit = wire.MAX_JSON_DEPTH
    assert wire.load_json(b"[" * limit + b"]" * limit) is not None
    with pytest.raises(ProtocolError, match=f"nested too deeply: {limit + 1} levels"):
        wire.load_json(b"[" * (limit + 1) + b"]" * (limit + 1))
    # Brackets in strings, escaped quotes and backslashes: not structure.
    tricky = ["[" * 500, '\\"' + "{" * 500, "\\", '"]]]"', "\\\\" * 3 + "[" * 300]
    text = json.dumps([tricky, {"k": tricky}]).encode()
    assert json.loads(text) == wire.load_json(text)
    assert wire.json_depth(text, max_strings=100) == 3
    assert wire.json_depth(b'[{"a":[[1]]},"[[["]', max_strings=10) == 4
    for bad in (b'["abc]', b"[[]", b"]["):
        with pytest.raises(ProtocolError, match="not valid JSON"):
            wire.json_depth(bad, max_strings=10)


def test_json_that_is_not_ascii_is_refused():
    # The worker's json.dumps escapes every other character: raw UTF-8 is forged (and could
    # make every string of the reply four bytes a character).
    with pytest.raises(ProtocolError, match="not ASCII"):
        wire.load_json('"a\U0001F600"'.encode())
    assert wire.load_json(json.dumps("a\U0001F600").encode()) == "a\U0001F600"
    # Lone surrogates (escaped) are made printable.
    assert wire.clean_text(wire.load_json(b'"a\\ud800b"')) == "a\\ud800b"  # a visible escape (harness/text.py)


# ------------------------------------------------------------ arrays


def test_array_counts_dimensions_and_elements_are_bounded():
    eight = np.zeros(1).tobytes()
    # Dimensions numpy refuses to build (it raised ValueError, not ProtocolError: the judge crashed).
    for shape in ([0, 10**30], [2**63, 0], [0, 2**62, 2**62]):
        with pytest.raises(ProtocolError, match="has shape"):
            wire.load_arrays(blob_with([["a", "<f8", shape]]))
    with pytest.raises(ProtocolError, match="has dtype"):  # unhashable: a TypeError before
        wire.load_arrays(blob_with([["a", ["<f8"], [1]]], eight))
    # Arrays per request.
    empty = {f"a{i}": np.zeros(0) for i in range(wire.MAX_ARRAYS)}
    assert len(wire.load_arrays(wire.pack_arrays(empty))) == wire.MAX_ARRAYS
    empty["one more"] = np.zeros(0)
    with pytest.raises(ProtocolError, match=f"more than {wire.MAX_ARRAYS} arrays"):
        wire.load_arrays(wire.pack_arrays(empty))
    # Elements per request (as many as the request's bytes).
    budget = wire.ReplyBudget(message_bytes=1000)
    wire.load_arrays(wire.pack_arrays({"a": np.zeros(600, np.uint8)}), budget)
    with pytest.raises(ProtocolError, match="more than 1000 array elements"):
        wire.load_arrays(wire.pack_arrays({"a": np.zeros(600, np.uint8)}), budget)


def test_a_huge_table_of_contents_is_refused_unparsed(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("json.loads ran on a refused table of contents")

    monkeypatch.setattr(wire.json, "loads", never)
    entry = b'["k","<f8",[0]]'  # 6 values by the count (2 x 2 brackets + 2 commas), 7 with the comma between

    def toc(entries):
        head = b"[" + b",".join([entry] * entries) + b"]"
        return struct.pack("<I", len(head)) + head

    blob = toc(wire.MAX_JSON_BYTES // len(entry))
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError, match="bytes of JSON"):
            wire.load_arrays(blob)
        assert tracemalloc.get_traced_memory()[1] < MiB  # not even copied
    finally:
        tracemalloc.stop()
    with pytest.raises(ProtocolError, match="could build more than"):  # within the bytes, not the values
        wire.load_arrays(toc(wire.MAX_OBJECTS // 5))


# ------------------------------------------------------------ frames off the pipe


@pytest.fixture
def pipe_worker():
    """(a client._Worker reading a pipe, the fd that writes its replies); no worker process."""
    reply_r, reply_w = os.pipe2(os.O_CLOEXEC)
    request_r, request_w = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(reply_r, False)
    worker = client._Worker(types.SimpleNamespace(pid=os.getpid(), returncode=None), request_w, reply_r, 256 * MiB)
    yield worker, reply_w
    for fd in (reply_r, reply_w, request_r, request_w, worker.pidfd):
        try:
            os.close(fd)
        except (OSError, TypeError):
            pass


def feed(fd: int, data: bytes) -> None:
    """Write `data` to the pipe `fd` from a thread (a pipe holds 64 KiB at a time)."""

    def write():
        try:
            os.write(fd, data)
        except OSError:  # the test is over: the pipe was closed
            pass

    threading.Thread(target=write, daemon=True).start()


def test_frames_are_refused_when_announced_over_the_requests_budget(pipe_worker):
    worker, out = pipe_worker
    first = wire.pack_frame({"n": 1}, {"a": np.zeros(90_000)})  # 720 kB: fits
    feed(out, first + FRAME.pack(b"SBX2", 10, 720_000))  # and the second one's header: together, over
    started = time.monotonic()
    frames, failure, detail = worker.exchange(b"", 2, time.monotonic() + 5, budget=wire.ReplyBudget(1 * MiB, 2))
    assert failure == "protocol" and "too large: more than" in detail and "bytes together" in detail
    assert len(frames) == 1 and time.monotonic() - started < 1  # at once: its bytes were never awaited
    body, blob, _ = frames[0]
    assert wire.load_json(body) == {"n": 1} and wire.load_arrays(blob)["a"].shape == (90_000,)


def test_reading_stops_at_the_deadline_while_the_worker_keeps_writing(pipe_worker, monkeypatch):
    """A reply that never ends but never pauses either (the pipe is never empty) is read
    only until the request's deadline (it used to be read until it ended)."""
    worker, _ = pipe_worker
    started = time.monotonic()
    header = [FRAME.pack(b"SBX2", 2, 250 * MiB)]

    class Endless:
        """os, except that the reply pipe always holds more: 64 bytes a millisecond."""

        def __getattr__(self, name):
            return getattr(os, name)

        def read(self, fd, size):
            if time.monotonic() > started + 5:
                raise RuntimeError("the judge is still reading")
            time.sleep(0.001)
            return header.pop() if header else b" " * 64

    monkeypatch.setattr(client, "os", Endless())
    frames = []
    assert worker._pump(frames, 1, wire.ReplyBudget(), started + 0.2) is False
    assert not frames and 0.2 <= time.monotonic() - started < 0.5


# ------------------------------------------------------------ forged replies, end to end


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    with Sandbox(make_submission(tmp_path_factory.mktemp("bombs")), Limits(timeout=10)) as sandbox:
        yield sandbox


def peak_memory():
    """() -> bytes the process's resident memory rose above its level at the call, or None
    where the high-water mark cannot be reset (/proc/self/clear_refs)."""
    def status(field):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))

    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return lambda: None
    before = status("VmRSS")
    return lambda: status("VmHWM") - before


def forged(sandbox, kind, *args, ops=1, timeout=None):
    """Send the bomb `kind` (built beforehand) as the reply of op 0 of an `ops`-op request;
    (results, wall seconds, judge CPU seconds, peak memory added or None)."""
    sandbox.call("bombs.attack.prepare", kind, *args)
    request = [{"op": "call", "function": "bombs.attack.send", "args": [kind, *args]}]
    request += [{"op": "call", "function": "bombs.attack.ping"}] * (ops - 1)
    memory = peak_memory()
    cpu = time.process_time()
    started = time.monotonic()
    results = sandbox.run(request, timeout=timeout)
    return results, time.monotonic() - started, time.process_time() - cpu, memory()


def test_a_48_mib_reply_of_nested_lists_is_a_protocol_error_at_once(sb):
    sb.start()
    first_worker = sb.worker_pid
    [result], seconds, cpu, peak = forged(sb, "nested_lists", 48)
    assert not result.ok and result.error.kind == "protocol"
    assert "invalid reply from the worker: the worker's reply is too large" in result.error.message
    assert seconds < 2 and cpu < 0.5
    assert peak is None or peak < 2 * 48 * MiB
    assert sb.call("bombs.attack.ping") == 1  # a new worker
    assert sb.worker_pid != first_worker


@pytest.mark.parametrize(
    "kind, args, refusal",
    [
        ("nested_lists", (7.9,), "its JSON could build more than"),  # within the JSON bytes: counted
        ("deep", (1000,), "nested too deeply: 1001 levels"),
        ("deep", (24 * MiB,), "bytes of JSON"),
        ("long_string", (64,), "bytes of JSON"),
        ("huge_toc", (48,), "bytes of JSON"),
        ("tiny_arrays", (200_000,), "its JSON could build more than"),
        ("tiny_arrays", (wire.MAX_ARRAYS + 1,), f"more than {wire.MAX_ARRAYS} arrays"),
    ],
)
def test_every_reply_bomb_is_a_protocol_error_within_a_second(sb, kind, args, refusal):
    [result], seconds, cpu, peak = forged(sb, kind, *args)
    assert not result.ok and result.error.kind == "protocol" and refusal in result.error.message
    assert seconds < 2 and cpu < 0.5
    assert peak is None or peak < 100 * MiB
    assert sb.call("bombs.attack.ping") == 1


def test_many_forged_replies_are_refused_once_they_exceed_the_requests_budget(sb):
    results, seconds, cpu, _ = forged(sb, "many_frames", 300, ops=300)
    failed = next(i for i, r in enumerate(results) if not r.ok)
    # ~3000 values a reply: the budget (MAX_OBJECTS and a little per reply) lets about 70 through.
    assert 30 < failed < 100 and all(r.ok and len(r.value) == 1000 for r in results[:failed])
    assert results[failed].error.kind == "protocol" and "could build more than" in results[failed].error.message
    assert all(r.skipped for r in results[failed + 1 :])
    assert seconds < 3 and cpu < 1
    assert sb.call("bombs.attack.ping") == 1


def test_a_reply_that_never_ends_is_a_timeout(sb):
    [result], seconds, cpu, _ = forged(sb, "trickle", 30, timeout=1.0)
    assert not result.ok and result.error.kind == "timeout"
    assert 1.0 <= seconds < 2.5 and cpu < 0.5
    assert sb.call("bombs.attack.ping") == 1


def test_an_honest_value_over_the_limits_is_a_result_error_and_the_worker_stays(sb):
    """The worker keeps to the same limits (worker.MAX_ARRAYS, REPLY_RESERVE): an
    honest op over them fails as an ordinary "result" error, no protocol error."""
    sb.start()
    pid = sb.worker_pid
    [result] = sb.run([{"op": "call", "function": "bombs.attack.scalars", "args": [wire.MAX_ARRAYS + 1]}])
    assert not result.ok and result.error.kind == "result" and f"more than {wire.MAX_ARRAYS} arrays" in result.error.message
    assert len(sb.call("bombs.attack.scalars", wire.MAX_ARRAYS)) == wire.MAX_ARRAYS
    assert sb.worker_pid == pid


def test_the_replies_of_a_request_are_bounded_together(tmp_path):
    with Sandbox(make_submission(tmp_path / "sub"), Limits(message_bytes=2 * MiB)) as sandbox:
        sandbox.start()
        pid = sandbox.worker_pid
        op = {"op": "call", "function": "bombs.attack.normal", "args": [0.75]}  # 768 KiB each
        results = sandbox.run([op, op, op])
        assert results[0].ok and results[1].ok and results[2].error.kind == "result"
        assert "the replies of this request would exceed" in results[2].error.message
        assert sandbox.run([op, op])[1].ok and sandbox.worker_pid == pid


# ------------------------------------------------------------ decoding a frame


def test_malformed_fields_of_a_reply_are_protocol_errors(sb):
    """Numbers and types JSON can carry where the judge expects others (these raised
    OverflowError and TypeError in the judge)."""

    def frame(**fields):
        message = {"id": sb._request_id, "index": 0, "ok": True, "value": 1, "elapsed": 0.5,
                   "stdout": [0, 0], "stderr": [0, 0], **fields}
        return json.dumps(message).encode()

    assert sb._decode_frame(frame(), b"", 0, [0, 0]).value == 1
    for bad in (
        frame(elapsed=10**400),
        frame(elapsed=float("nan")),
        frame(ok=False, error={"type": "E", "message": "", "kind": []}),
        frame(ok=False, error={"type": "E", "message": "", "kind": {}}),
    ):
        with pytest.raises(ProtocolError):
            sb._decode_frame(bad, b"", 0, [0, 0])
