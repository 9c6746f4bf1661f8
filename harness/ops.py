"""Naming the ops of a sandbox request, so a failure names the student's method.

`op_label(op)` gives "Dense.__init__", "FullyConnected.backward",
"writing into FullyConnected.get_parameters(...)[0] in place", ...; and
`first_failure(batch)` finds the op of a request that went wrong.
"""

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


def op_label(op):
    """The method an op runs, for messages: "Dense.__init__", "Adam.apply_gradients"."""
    kind = op["op"]
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


def first_failure(batch, upto=None):
    """(op index, label, ErrorInfo) of the first op before `upto` that failed, or None."""
    for index, (op, result) in enumerate(zip(batch._ops[:upto], batch.results)):
        if not result.ok and result.error.kind != "skipped":
            return index, op_label(op), result.error
    return None


def failure_summary(label, error):
    """"Dense.call raised NotImplementedError: ..." or "...: timed out (timeout)"."""
    if error.kind in LIMIT_KINDS:
        return f"{label}: {error.message} ({error.kind})"
    return f"{label} raised {error.type}: {error.message}"
