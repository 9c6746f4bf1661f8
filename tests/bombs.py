"""Reply bombs: a submission whose code forges the worker's replies.

Student code runs in the worker's own interpreter, so it can write any bytes
to the reply pipe. `SOURCE` is the module `bombs.attack` of the submission
that `make_submission` writes: `attack.send(kind, *args)` sends one hostile
reply for the op that is running and then sleeps (so that what the judge
sees is the forged reply alone, until it kills the worker);
`attack.prepare(kind, *args)`, called in an earlier request, builds the
bytes beforehand, so that the request that sends them costs only the sending
(and what the judge does with them). Used by tests/test_reply_bombs.py (end to
end) and benchmarks/reply_bombs.py (the judge's time and memory per bomb).

Kinds (sizes in MiB of reply):
    nested_lists(mib)     {"value": [[],[],...]}
    deep(levels)          {"value": [[[...]]]}
    long_string(mib, wide) one string (ending in an astral character if wide)
    huge_toc(mib)         an array blob whose table of contents is mib MiB
    tiny_arrays(count)    count one-byte arrays
    many_frames(count)    count replies of 1000 empty lists each, one per op
                          of the request from the running one on
    trickle(seconds)      a reply that never ends, one byte every 0.5 ms

Honest functions: normal(mib) a float64 array, scalars(count) a list of
numpy scalars, ping() 1.
"""

import textwrap
from pathlib import Path

SOURCE = '''
import __main__
import json
import os
import struct
import time

import numpy as np

HEADER = struct.Struct("<4sQQ")
TOC = struct.Struct("<I")
MiB = 1 << 20
_built = {}  # (kind, args) -> (value JSON, blob): what prepare() made


def nested_lists(mib):
    count = max(1, (int(mib * MiB) - 120) // 3)
    return b"[" + b"[]," * (count - 1) + b"[]]", b""


def deep(levels):
    return b"[" * levels + b"]" * levels, b""


def long_string(mib, wide=False):
    return b\'"\' + b"a" * int(mib * MiB) + (b"\\\\ud83d\\\\ude00" if wide else b"") + b\'"\', b""


def huge_toc(mib):
    entry = b\'["k","<f8",[0]],\'
    count = max(1, int(mib * MiB) // len(entry))
    head = b"[" + entry * (count - 1) + entry[:-1] + b"]"
    return b\'{"$array":"k"}\', TOC.pack(len(head)) + head


def tiny_arrays(count):
    keys = [f"a{i}" for i in range(count)]
    head = json.dumps([[key, "|u1", [1]] for key in keys], separators=(",", ":")).encode()
    value = json.dumps([{"$array": key} for key in keys], separators=(",", ":")).encode()
    return value, TOC.pack(len(head)) + head + bytes(count)


def _head(index):
    """The fields of a well-formed reply to op `index` of the running request, up to its value."""
    return b\'{"id":%d,"index":%d,"ok":true,"elapsed":0.0,"stdout":[0,0],"stderr":[0,0],"value":\' % (
        __main__.WORKER.request_id, index)


def prepare(kind, *args):
    if kind not in ("many_frames", "trickle"):  # those are made as they are sent
        _built[(kind, args)] = globals()[kind](*args)


def send(kind, *args):
    worker = __main__.WORKER
    out = worker.channel.fd_out
    if kind == "many_frames":
        parts = []
        for index in range(worker.index, worker.index + args[0]):
            body = _head(index) + b"[" + b",".join([b"[]"] * 1000) + b"]}"
            parts += [HEADER.pack(b"SBX2", len(body), 0), body]
        worker.channel.send_parts(parts)
    elif kind == "trickle":
        body = _head(worker.index) + b"1}"
        data = HEADER.pack(b"SBX2", len(body) + 10**6, 0) + body + b" " * 10**6
        end = time.monotonic() + args[0]
        for byte in data:
            if time.monotonic() > end:
                break
            os.write(out, bytes([byte]))
            time.sleep(0.0005)
    else:
        value, blob = _built.pop((kind, args), None) or globals()[kind](*args)
        head = _head(worker.index)
        worker.channel.send_parts([HEADER.pack(b"SBX2", len(head) + len(value) + 1, len(blob)), head, value, b"}", blob])
    time.sleep(30)


def normal(mib):
    return np.zeros(int(mib * MiB) // 8)


def scalars(count):
    """An honest value with `count` arrays in it (numpy scalars; np.float64 would be a float)."""
    return [np.float32(i) for i in range(count)]


def ping():
    return 1
'''


def make_submission(root: Path) -> Path:
    """A submission with the package `bombs` (its module `bombs.attack` is SOURCE); returns `root`."""
    package = Path(root) / "bombs"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "attack.py").write_text(textwrap.dedent(SOURCE))
    return Path(root)
