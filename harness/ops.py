"""Naming and replaying the ops of a sandbox request, for failure messages.

`op_label(op)` gives "Dense.__init__", "FullyConnected.backward",
"writing into FullyConnected.get_parameters(...)[0] in place", ...;
`first_failure(batch)` finds the op of a request that went wrong; and
`snippet_of(batch)` writes the Python that replays a request, for the student.
"""

import re

import numpy as np

from . import vocabulary as kinds
from .sandbox import Item, Pending, Ref

# Failures of the sandbox itself rather than exceptions of the student's code.
LIMIT_KINDS = ("timeout", "cpu", "memory", "crash", "protocol", "result")


def _short(dotted):
    return dotted.rsplit(".", 1)[-1]


def name_of(node):
    """What an op target stands for: "Dense", "SequentialModel.weights[0]"."""
    if isinstance(node, Item):
        return name_of(node._base) + "".join(f"[{step!r}]" for step in node._path)
    if isinstance(node, Ref):
        return _short(node.type)
    if isinstance(node, Pending):
        result = node.result if node._batch.results is not None else None
        if result is not None and result.ok and isinstance(result.value, Ref):
            return _short(result.value.type)
        op = node._op
        if op["op"] == "new":
            return _short(op["class"])
        if op["op"] == "getattr":
            return f"{name_of(op['target'])}.{op['name']}"
        if op["op"] == "call":
            return f"{op_label(op)}(...)"
    return "an object"


def replayed(op):
    """What a replay op is there for: the first op of its body whose values it collects
    (for finite differences, the forward)."""
    return op["body"][(op.get("collect") or [0])[0]]


def op_label(op):
    """The method an op runs, for messages: "Dense.__init__", "Adam.apply_gradients"."""
    kind = op["op"]
    if kind == "replay":
        return op_label(replayed(op))
    if kind == "new":
        return f"{_short(op['class'])}.__init__"
    if kind in ("call", "map"):
        if op.get("target") is None:
            if op["function"] == "importlib.import_module":
                return f"import {op['args'][0]}"
            return op["function"]
        return f"{name_of(op['target'])}.{op.get('method') or '__call__'}"
    if kind == "getattr":
        return f"{name_of(op['target'])}.{op['name']}"
    if kind == "setattr":
        return f"setting {name_of(op['target'])}.{op['name']}"
    if kind == "assign":
        return f"writing into {name_of(op['target'])} in place (the arrays the layer computes with)"
    return kind


def array_source(name, value):
    """`name = np.array(...)` reproducing `value` exactly (floats repr exactly)."""
    value = np.asarray(value)
    if value.size > 2000:
        return f"{name} = ...  # {value.shape} array: too large to print here"
    return f"{name} = np.array({value.tolist()!r})"


def first_failure(batch, upto=None):
    """(op index, label, ErrorInfo) of the first op before `upto` that failed, or None."""
    for index, (op, result) in enumerate(zip(batch._ops[:upto], batch.results)):
        if not result.ok and result.error.kind != "skipped":
            # The student's function where the exception arose names the fault better than the op.
            where = getattr(result.error, "where", "").partition(":")[2]
            return index, where or op_label(op), result.error
    return None


def printed_by(results):
    """What the student's code printed in these ops' results (each op's
    stdout, then its stderr; bounded by the sandbox's capture), for the report
    of a failure; `outcomes.trimmed_print` trims it, saying what it left out."""
    return "".join(part for result in results for part in (result.stdout, result.stderr) if isinstance(part, str))


# NumPy's words for arrays whose shapes do not fit together (broadcasting, matmul,
# einsum, reshape, concatenation, assignment).
_SHAPE_MESSAGE = re.compile(
    r"could not be broadcast|not aligned|mismatch in its core dimension|cannot reshape array|"
    r"must match exactly|dimensions? (?:don't|do not) match|incompatible shapes?|"
    r"could not broadcast|size \d+ is different from|inconsistent shapes?",
    re.I,
)


# The harness's copy of the given beras composition says whose result it could not compose
# (harness/scenarios/beras_probes.py: GivenCompositionError, "Dense.get_weight_gradients: ...").
_COMPOSITION_ERROR = ".beras_probes.GivenCompositionError"
_METHOD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.get_(?:input|weight)_gradients")


def composition_method(error):
    """"Dense.get_weight_gradients" when the given composition could not use what
    that method returned (no frame of it is left in the traceback), else ""."""
    if not str(error.type).endswith(_COMPOSITION_ERROR):
        return ""
    match = _METHOD.match(error.message or "")
    return match[0] if match and error.message[match.end():].startswith(":") else ""


def error_mistake(error):
    """The SPEC 5 mistake of an exception or limit of the student's code (an
    `ErrorInfo`): "timeout" (wall clock or CPU time), "crash" (the process died,
    ran out of memory, or sent what cannot be read), "not-implemented", "shape"
    (NumPy says the arrays' shapes do not fit together), or "crash" for any other
    exception."""
    if error.kind in ("timeout", "cpu"):
        return kinds.TIMEOUT
    if error.kind != "exception":
        return kinds.CRASH
    if error.type == "NotImplementedError":
        return kinds.NOT_IMPLEMENTED
    if composition_method(error) or _SHAPE_MESSAGE.search(error.message or ""):
        return kinds.SHAPE
    return kinds.CRASH


# Where a method's own fault lies (SPEC 5 blame), by what the method is for.
_BLAME_OF_METHOD = {
    **dict.fromkeys(("call", "__call__", "forward", "_forward", "eval"), kinds.FORWARD),
    **dict.fromkeys(("get_input_gradients", "get_weight_gradients", "compose_input_gradients",
                     "compose_weight_gradients", "backward", "_backward", "grad"), kinds.BACKWARD),
    **dict.fromkeys(("apply_gradients", "update_parameters", "update"), kinds.UPDATE),
}


def error_details(method, error):
    """The fields of a `checks.Diagnosis` that an error of the student's code in
    `method` ("Dense.call") fills: its `traceback`, its `mistake`
    (`error_mistake`) and the `blame` of the method when what it is for says
    it (a forward, a backward, an update). Where the given composition could
    not use what a gradient method returned, also the line that says where the
    bug is (`culprit`), and no traceback (the harness's copy of the given code
    raised: no frame is the student's)."""
    fields = {"traceback": error.traceback or "", "mistake": error_mistake(error)}
    blame = _BLAME_OF_METHOD.get(method.rpartition(".")[2]) if method else None
    if blame:
        fields["blame"] = blame
    if composition_method(error):
        fields["traceback"] = ""
        fields["culprit"] = (f"{method} (the backward): it returns gradients of a shape or layout that the given "
                             "compose_*_gradients cannot combine with J")
    return fields


def failure_summary(label, error):
    """"Dense.call raised NotImplementedError: ..." or "...: timed out (timeout)"; the
    given composition's complaint about a method's result as it is (it names the method)."""
    if composition_method(error):
        return error.message
    if error.kind in LIMIT_KINDS:
        return f"{label}: {error.message} ({error.kind})"
    return f"{label} raised {error.type}: {error.message}"


def snippet_of(batch, upto=None, notes=()):
    """Python that replays a scenario's ops (up to op `upto`, marked when it raised)."""
    ops = batch._ops if upto is None else batch._ops[: upto + 1]
    hidden = getattr(batch, "hidden_ops", set())
    comments = getattr(batch, "comments", {})
    names, imports, lines, taken = {}, set(), [], set()
    for index, op in enumerate(ops):
        if index in comments:
            lines.append(f"# {comments[index]}")
        if index in hidden:
            if op["op"] == "call" and op.get("function") == "importlib.import_module":
                names[index] = op["args"][0]
                imports.add(f"import {op['args'][0]}")
            continue
        if op.get("seed") is not None:
            lines.append(f"np.random.seed({op['seed']})")
        statement, name = _op_source(op, index, names, imports, taken)
        if name:
            names[index] = name
            statement = f"{name} = {statement}"
        result = batch.results[index] if batch.results is not None else None
        if result is not None and not result.ok and result.error.kind != "skipped":
            statement += f"  # raises {result.error.type}"
        lines.append(statement)
    head = ["import numpy as np"] + sorted(imports)
    return "\n".join(head + [""] + lines + [f"# {note}" for note in notes])


def _op_source(op, index, names, imports, taken):
    """(source of the op, the name its value gets or None)."""

    def arg(value):
        return python_literal(value, names)

    def call_args():
        parts = [arg(a) for a in op.get("args", [])]
        parts += [f"{k}={arg(v)}" for k, v in op.get("kwargs", {}).items()]
        return ", ".join(parts)

    kind = op["op"]
    if kind == "new":
        module, _, cls = op["class"].rpartition(".")
        imports.add(f"from {module} import {cls}")
        return f"{cls}({call_args()})", _unique(_snake(cls), taken)
    if kind == "call":
        if op.get("target") is None:
            function = op["function"]
            module, _, fn = function.rpartition(".")
            if function == "numpy.array" and len(op["args"]) == 1 and isinstance(op["args"][0], np.ndarray):
                return arg(op["args"][0]), f"v{index}"
            if module == "numpy":
                return f"np.{fn}({call_args()})", f"v{index}"
            if function == "operator.is_":
                left, right = (arg(a) for a in op["args"])
                return f"{left} is {right}", f"v{index}"
            if module == "builtins":
                return f"{fn}({call_args()})", f"v{index}"
            imports.add(f"from {module} import {fn}")
            return f"{fn}({call_args()})", f"v{index}"
        method = f".{op['method']}" if op.get("method") else ""
        return f"{arg(op['target'])}{method}({call_args()})", f"v{index}"
    if kind == "getattr":
        return f"{arg(op['target'])}.{op['name']}", f"v{index}"
    if kind == "setattr":
        return f"{arg(op['target'])}.{op['name']} = {arg(op.get('value'))}", None
    if kind == "assign":
        return f"{arg(op['target'])}[...] = {arg(op['value'])}", None
    return f"# ({kind} op)", None


def python_literal(value, names=None, limit=400):
    """Python source for `value` in a snippet: arrays (nested in lists, tuples and dicts too) as
    `np.array(...)`, or `np.zeros(shape)` past `limit` entries; ops of a batch by their `names`."""
    names = {} if names is None else names

    def source(v):
        return python_literal(v, names, limit)

    if isinstance(value, Item):
        return source(value._base) + "".join(f"[{step!r}]" for step in value._path)
    if isinstance(value, Pending):
        return names.get(value._index, f"v{value._index}")
    if isinstance(value, Ref):
        return "<an object from an earlier request>"
    if isinstance(value, np.ndarray):
        if value.size > limit:
            return f"np.zeros({value.shape})"  # too large to print (no comment: it may sit inside a call)
        return array_source("x", value)[len("x = "):]
    if isinstance(value, np.generic):
        return repr(value.item())
    if isinstance(value, list):
        return "[" + ", ".join(source(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(source(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {source(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _snake(cls):
    """"LeakyReLU" -> "leaky_relu"."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", cls).lower()


def _unique(name, taken):
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate
