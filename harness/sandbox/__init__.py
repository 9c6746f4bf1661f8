"""Run untrusted student code in a separate, limited, unprivileged process.

Judge side (this package, imported by the harness) and worker side
(`worker.py`, copied into the sandbox and run as its own interpreter; it
never imports `harness`). Nothing crosses back but JSON and numeric arrays
(an npz parsed without pickle); the judge never imports student code.

Quick tour::

    from harness.sandbox import Sandbox, Limits, Over

    with Sandbox("path/to/submission", Limits(timeout=10)) as sb:
        status = sb.probe_packages()              # {"beras": Result, "bgd": Result}
        layer = sb.new("bgd.layers.fc.FullyConnected", 3, 4)   # a Ref
        y = layer.forward(x)                      # remote method call -> ndarray
        w, b = sb.keep_items(layer.get_parameters)  # Refs to the live arrays
        sb.assign(w, w0)                          # w[...] = w0 in the worker

        with sb.batch() as batch:                 # ONE round trip for all of it
            layer = batch.new("bgd.layers.fc.FullyConnected", 3, 4)
            params = layer.get_parameters()
            batch.assign(params[0], w0)
            out = layer.forward(x)
            back = layer.backward(err).pick(0)
            fd_x = batch.map(layer.forward, Over(x_stack))          # (K, N, 4)
            fd_w = batch.map_into(params[0], w_stack, layer.forward, x)
        out.value, back.value, fd_x.value, fd_w.ok, fd_w.result.error

Raw ops (`Sandbox.run(ops)`; the conveniences above build these). Arrays
are given as numpy arrays and remote objects as Refs (or {"$ref": name} for a
name bound by "as" earlier in the same request):

    {"op": "new", "class": "beras.layers.Dense", "args": [...], "kwargs": {...}}
    {"op": "call", "target": ref | None, "function": "module.func" (if no target),
     "method": "name" | None, "args": [...], "kwargs": {...}}
    {"op": "getattr", "target": ref, "name": "weights"}        (dots allowed)
    {"op": "setattr", "target": ref, "name": "trainable", "value": False}
    {"op": "assign", "target": ref-to-ndarray, "value": array}  (same shape)
    {"op": "map", <call fields>, "stack": array (K, ...),
     "arg_index": i | "arg_name": "x" | "write_into": ref-to-ndarray}
        -> (K, ...) array; args[i] (a placeholder, e.g. None) or kwargs[name]
        gets a fresh copy of stack[k]; with write_into the array gets stack[k]
        before each call and its original content back afterwards. All other
        array arguments are fresh copies at every evaluation.
    {"op": "replay", "body": [ops...], "stack": array (K, ...), "collect": [j, ...]}
        -> one list per slice k: the values of the body ops listed in
        "collect". The body runs once per slice, as a request of its ops
        alone would run: names bound by "as" are the slice's own, every
        {"$array": "$slot"} argument is a fresh copy of stack[k] (as every
        array argument is a fresh copy), values are encoded as replies are
        (objects kept), and nothing of a slice is held once it is over.
        `Batch.replay(stack, record)` builds it (its "calls" is the body's).
    {"op": "import", "module": "beras"}
    {"op": "release", "handles": [1, 2]}

Options on any op: "calls": n (the op makes about n calls into student code:
n per-call limits, see Limits.timeout; `Pending.calls(n)`),
"keep": true (value -> Ref) or "items" (-> list of Refs),
"as": "name" or ["a", "b"] (bind the value, or unpack it, for later ops of
the same request), "pick": [0, "key", ...] (index/key/attribute path applied
to the value, or to every evaluation of a map), "seed": n (np.random.seed
before the op, before every evaluation of a map), "quiet": true (no value
sent back). `new` always returns a Ref.

Values coming back: ndarrays (subclasses such as a Tensor arrive as plain
ndarrays; `Result.type_of()` gives the original class), numpy scalars as 0-d
arrays, Python numbers/str/None/bool, lists, tuples, dicts with str keys,
and a Ref for anything else. Only bool/integer/float arrays cross.

Time: each call (an op, an evaluation of a map) is held to its own limit by
the judge, which reads the worker's progress file; before it kills a call it
asks the worker's faulthandler for its stack (SIGUSR1), so a timeout's
ErrorInfo names the submission function that was running (`where`) and shows
where it stood (`traceback`). `Sandbox(budget=...)` charges every request to a
shared time budget; `Sandbox.refused` lists functions ("module:qualname") a
request may not enter (the worker's watchdog stops it there).

Errors: `Result.error` is an ErrorInfo(type, message, traceback, kind) where
kind is one of client.ERROR_KINDS: "exception" (the student's code raised),
"memory", "result" (value cannot be sent), "request" (bad op/handle),
"timeout", "cpu", "crash", "protocol" (the worker was killed and is restarted
with the next request), "skipped".

Replies cost the judge a bounded effort: all the replies to one request
share one `wire.ReplyBudget` (bytes, JSON text, the values JSON can build,
its nesting, arrays and their elements), JSON is measured at C speed before
it is parsed, and a reply over budget is a "protocol" error ("the worker's
reply is too large" / "nested too deeply"). The worker keeps to the array
count and the bytes itself, so an honest op over them is a "result" error.

Threat model, defences and what still gets through: harness/SECURITY.md.
In short, as root: a uid of its own per sandbox, the code copy read-only,
PID/mount/IPC/network namespaces with a private size-limited /tmp and
/dev/shm where the system allows them, and a guard process that kills the
worker's whole tree when the judge dies. Student code runs in the worker's
interpreter and can forge any well-formed reply: the judge treats replies
as data and recomputes every expectation.
"""

from .limits import GiB, KiB, Limits, MiB
from .runtime import SandboxError, SubmissionRefused
from .zygote import start_zygote

# The judge's side of the protocol (client, wire) imports numpy; the rest of the
# package does not, so that `python -m harness` can start the zygote before its
# own heavy imports (zygote.prestart). Those names are imported on first use.
_LAZY = {
    "ERROR_KINDS": "client", "Batch": "client", "ErrorInfo": "client", "Item": "client", "Method": "client",
    "Over": "client", "Pending": "client", "Ref": "client", "RemoteError": "client", "Result": "client",
    "Sandbox": "client", "Slot": "client", "StaleRefError": "client", "ProtocolError": "wire",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ERROR_KINDS",
    "Batch",
    "ErrorInfo",
    "GiB",
    "Item",
    "KiB",
    "Limits",
    "Method",
    "MiB",
    "Over",
    "Pending",
    "ProtocolError",
    "Ref",
    "RemoteError",
    "Result",
    "Sandbox",
    "SandboxError",
    "Slot",
    "StaleRefError",
    "start_zygote",
    "SubmissionRefused",
]
