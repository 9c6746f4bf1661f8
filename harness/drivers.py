"""How to drive each kind of differentiable object of the two APIs.

A driver knows one API's calling conventions (beras layers are called and
compose vector-Jacobian products; bgd layers have forward/backward; losses
take two arrays) and turns "build this object with these parameters, run it
on these inputs, differentiate it" into sandbox ops. The same requests go to
the student's sandbox and to the reference's, so the two are comparable.

Every request is self-contained (build, set parameters, run): nothing lives
across requests, so a crashed or restarted worker costs one request only,
and a request can be replayed from a recording. A request runs one part of
the backward (`part`: the input gradients, or the parameter gradients) where
the API has separate methods for them, so that a method that raises, or a
wrong result of one, costs only the checks of that part.
"""

import dataclasses
import typing

import numpy as np

from .checks import fail
from .numerics import on_grid
from .ops import array_source, error_details, failure_summary, first_failure, printed_by
from .scenarios import IMPORT_NAME

# The harness's copy of the given beras core (harness/scenarios/beras_probes.py): a layer is
# called and composed as the given Diffable does it, unless its class has its own __call__ or
# compose_*, so a change to the given code costs Diffable's checks, not the layer's.
GIVEN_CORE = f"{IMPORT_NAME}.beras_probes"


@dataclasses.dataclass(frozen=True)
class Case:
    """One way to instantiate and exercise a class."""

    label: str  # for messages: "batch 1, 7 -> 2"
    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)
    shapes: tuple = ()  # shape of each input array
    sample: object = None  # sample(rng, shape, index) -> array; default normal
    extreme: bool = False  # values where finite differences mean nothing: forward, and gradients against the reference
    max_step: object = None  # how far finite differences may move the first differentiated input (kinks, ties)
    # judged(inputs) -> boolean mask of the first differentiated input's entries whose
    # gradient is compared (default all): e.g. where no clipping happens (SPEC 4).
    judged: object = None
    magnitude: float = 0.0  # size of what the forward computes with, when its result is far smaller (cancellation)

    def inputs(self, rng):
        """Fresh inputs, on the grid where float32 finite differences are exact
        (`numerics.on_grid`: a relative change below 2**-24)."""
        draw = self.sample or (lambda rng, shape, index: rng.normal(size=shape))
        return tuple(on_grid(np.asarray(draw(rng, shape, i), dtype=np.float64)) for i, shape in enumerate(self.shapes))


@dataclasses.dataclass
class Run:
    """What one object returned for one case."""

    output: object = None
    input_grads: list = None  # one per differentiated input (`Driver.differentiated`); None: not asked
    param_grads: list = None  # None: not asked, or not returned
    stored: list = dataclasses.field(default_factory=list)  # the parameters as stored, read back after setting
    earlier: list = dataclasses.field(default_factory=list)  # the outputs of the calls before (`Driver.run`'s `earlier`)

    @property
    def input_grad(self):
        return None if not self.input_grads else self.input_grads[0]


class Recorded(typing.NamedTuple):
    """The Pendings of a graded request's ops (`Driver.record_run`)."""

    stored: object  # the parameters read back after setting, or None
    output: object  # the forward's output
    grads: list  # the backward's values (`Driver.split_backward` reads them)
    earlier: list  # the outputs of the forward's calls before


class Driver:
    """Common machinery; subclasses say how their API is called."""

    parameter_word = "parameter"  # what the API calls them: beras "weight", bgd "parameter"
    differentiated = (0,)  # the inputs whose gradients the API returns, in its order
    input_names = ("x",)  # the name of each input, for messages
    forward_method = ""  # the student's methods, for messages
    input_gradient_method = parameter_gradient_method = ""

    def __init__(self, target):
        self.target = target
        self.class_name = target.rsplit(".", 1)[-1]

    @property
    def forward_name(self):
        return f"{self.class_name}.{self.forward_method}"

    @property
    def input_gradient_name(self):
        return f"{self.class_name}.{self.input_gradient_method}"

    @property
    def parameter_gradient_name(self):
        return f"{self.class_name}.{self.parameter_gradient_method}"

    # -- what subclasses provide
    def parameters(self, batch, obj):
        """A Pending for the parameter arrays (a list), or None if it has none.

        `.keep_items()` on it gives Refs to the live arrays, so they can be set.
        """
        return None

    def forward_callee(self, obj):
        """(what the forward calls, the arguments it takes before the inputs)."""
        return obj, ()

    def forward(self, batch, obj, inputs):
        callee, lead = self.forward_callee(obj)
        return batch.call(callee, *lead, *inputs)

    def backward(self, batch, obj, inputs, upstream, part=None):
        """Pendings whose values `split_backward` turns into the gradients:
        those of `part` ("inputs" or "parameters") or, for None, all."""
        raise NotImplementedError

    def split_backward(self, values, case, part=None):
        """(list of input gradients or None, list of parameter gradients or None)."""
        raise NotImplementedError

    def snippet_lines(self, case, params, inputs, upstream):
        raise NotImplementedError

    # -- requests, the same for the student and the reference
    def build(self, batch, case, params):
        """Ops that create the object and set its parameters to `params`."""
        obj = batch.new(self.target, *case.args, **case.kwargs)
        if not params:
            return obj, None
        refs = self.parameters(batch, obj).keep_items()
        for i, value in enumerate(params):
            batch.assign(refs[i], value)
        return obj, refs

    def shapes_of(self, engine, case, inputs):
        """(the shapes of a fresh object's parameters, the shape of its
        forward's output on `inputs`), asked of `engine` in one request: an
        output's shape does not depend on the parameters' values."""
        with engine.batch() as batch:
            obj = batch.new(self.target, *case.args, **case.kwargs)
            values = self.parameters(batch, obj)
            output = self.forward(batch, obj, inputs)
        raise_on_error(batch, self, case)
        params = [] if values is None or values.value is None else [np.shape(v) for v in values.value]
        return params, np.shape(output.value)

    def record_run(self, batch, case, params, inputs, upstream=None, part=None, earlier=()):
        """The ops of one graded request (see `run`), as a `Recorded` of their
        Pendings. `harness.own_forward` replays these very ops for its finite
        differences, one array of `params` or `inputs` being a `Slot`."""
        obj, _ = self.build(batch, case, params)
        stored = self.parameters(batch, obj) if params else None
        before = [self.forward(batch, obj, previous) for previous in earlier]
        output = self.forward(batch, obj, inputs)
        grads = self.backward(batch, obj, inputs, upstream, part) if upstream is not None else []
        return Recorded(stored, output, grads, before)

    def run(self, engine, case, params, inputs, upstream=None, part=None, earlier=()):
        """Forward (and, when `upstream` is given, the backward of `part`:
        "inputs", "parameters" or None for both) in one request; the
        parameters are read back after setting (their dtype is the storage's).
        `earlier`: inputs the object's forward gets first, one call each (their
        outputs are the Run's `earlier`): the forward judged is then not the
        object's first call."""
        with engine.batch() as batch:
            recorded = self.record_run(batch, case, params, inputs, upstream, part, earlier)
        raise_on_error(batch, self, case, params, inputs, upstream)
        stored = recorded.stored
        kept = list(stored.value) if stored is not None and isinstance(stored.value, (list, tuple)) else []
        before = [p.value for p in recorded.earlier]
        if upstream is None:
            return Run(recorded.output.value, stored=kept, earlier=before)
        grads = self.split_backward([g.value for g in recorded.grads], case, part)
        return Run(recorded.output.value, *grads, stored=kept, earlier=before)

    def snippet(self, case, params, inputs, upstream=None, earlier=()):
        module, _, name = self.target.rpartition(".")
        lines = ["import numpy as np", f"from {module} import {name}", ""]
        main = self.snippet_lines(case, params, inputs, upstream)
        if earlier:  # the object's forward was called before, on other inputs
            setup = 1 + len(params or ())  # the constructor's line, then a line per parameter
            lines += main[:setup] + ["# a call on other inputs first (the check calls the object twice)"]
            for previous in earlier:
                lines += self.snippet_lines(case, params, previous, None)[setup:]
            lines += ["# then the call judged"] + main[setup:]
        else:
            lines += main
        return "\n".join(lines)

    def constructor(self, case):
        parts = [repr(a) for a in case.args] + [f"{k}={v!r}" for k, v in case.kwargs.items()]
        return f"{self.class_name}({', '.join(parts)})"

    # -- reproducer scripts (harness/reproducers.py): the same calls as a request, in plain Python
    script_object = "obj"  # the name of the object the script builds
    script_parameters = ""  # the expression of its parameter list, e.g. "layer.weights"
    script_forward = ""  # the forward as an expression of the inputs {0}, {1}
    # part ("inputs" / "parameters") -> the lines that run that part of the backward,
    # setting `input_grads` (a list, in `differentiated` order) or `parameter_grads`
    script_backward = {}

    def script_lines(self, case, params, upstream=None, part=None):
        """Build the object, set `params` in place (as `build` does), run the
        forward on the inputs (`data[name]`) and, with `upstream`, the backward of `part`."""
        obj = self.script_object
        lines = [f"{obj} = {self.constructor(case)}"]
        if params:
            lines.append(f"parameters = {self.script_parameters}  # the arrays it computes with (SPEC 4)")
            lines += [f"parameters[{i}][...] = data['parameter_{i}']  # set in place, as the checks do"
                      for i in range(len(params))]
        names = self.script_input_names()
        lines += [f"{name} = data[{name!r}]" for name in names]
        lines.append(f"out = {self.script_forward.format(*names)}")
        if upstream is not None:
            lines.append("upstream = data['upstream']  # dL/d(out)")
            for wanted in ("inputs", "parameters"):
                if part in (None, wanted):
                    lines += [line.format(*names) for line in self.script_backward.get(wanted, ())]
        return lines

    def script_input_names(self):
        return [self.input_names[i] if i < len(self.input_names) else f"input_{i}" for i in range(len(self.input_names))]

    def script_forward_at(self, index=None, parameter=None):
        """Lines defining `forward_at(value)`: the forward with input `index`
        (or parameter number `parameter`, written in place) replaced by `value`."""
        names = self.script_input_names()
        if parameter is not None:
            return [
                "def forward_at(value):",
                f'    """Your forward with parameter {parameter} set to `value` (in place)."""',
                f"    parameters[{parameter}][...] = value",
                f"    return np.asarray({self.script_forward.format(*names)}, dtype=np.float64)",
            ]
        args = list(names)
        args[index] = "value"
        return [
            "def forward_at(value):",
            f'    """Your forward with {names[index]} replaced by `value`."""',
            f"    return np.asarray({self.script_forward.format(*args)}, dtype=np.float64)",
        ]


def raise_on_error(batch, driver, case, params=None, inputs=None, upstream=None):
    """Turn the first failed op of a request into a check failure."""
    failure = first_failure(batch)
    if failure is None:
        return
    index, label, error = failure
    if label.startswith(IMPORT_NAME):  # the harness's copy of the given core raised on what the student's methods gave
        op = batch._ops[index]
        label = driver.forward_name if op["function"].endswith("call_as_given") else (
            driver.input_gradient_name if op["args"][1] == "input" else driver.parameter_gradient_name)
    # A snippet helps to reproduce a crash, not a method still to be written.
    wanted = inputs is not None and error.type != "NotImplementedError"
    snippet = driver.snippet(case, params, inputs, upstream) if wanted else ""
    fail(failure_summary(label, error), method=label, case=case.label, snippet=snippet,
         printed=printed_by(batch.results[: index + 1]), **error_details(label, error))


class LayerDriver(Driver):
    """A layer of either API: one input, parameters set through `snippet_parameter`."""

    snippet_parameter = ""  # how to reach parameter i, e.g. "layer.weights[{i}]"
    snippet_call = ("", "")  # (input name, the line that runs the forward)
    snippet_backward = ("", "")  # (upstream name, the lines that run the backward)

    def snippet_lines(self, case, params, inputs, upstream):
        lines = [f"layer = {self.constructor(case)}"]
        lines += [array_source(self.snippet_parameter.format(i=i) + "[...]", p) for i, p in enumerate(params or ())]
        name, call = self.snippet_call
        lines += [array_source(name, inputs[0]), call]
        if upstream is not None:
            name, backward = self.snippet_backward
            lines += [array_source(name, upstream), *backward.splitlines()]
        return lines


def _items(value, count):
    """The first `count` items of a returned list/tuple, None for each missing one."""
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim > 0):
        items = list(value[:count])
    else:
        items = [value] if value is not None else []
    return items + [None] * (count - len(items))


class BerasLayer(LayerDriver):
    """A beras Diffable with one input: `layer(x)`, then compose_* with J=[upstream].

    compose_input_gradients and compose_weight_gradients (the student's
    get_input_gradients and get_weight_gradients under them) are separate
    methods: each part of the backward is asked in its own request."""

    parameter_word = "weight"
    forward_method = "call"
    # What the student writes; Diffable.compose_* (given) turns it into the VJPs we check.
    input_gradient_method = "get_input_gradients"
    parameter_gradient_method = "get_weight_gradients"

    def parameters(self, batch, obj):
        return batch.getattr(obj, "weights")

    def forward_callee(self, obj):
        return GIVEN_CORE + ".call_as_given", (obj,)

    def backward(self, batch, obj, inputs, upstream, part=None):
        ops = []
        if part in (None, "inputs"):
            ops.append(batch.call(GIVEN_CORE + ".compose_as_given", obj, "input", [upstream]).pick(0))
        if part in (None, "parameters"):
            ops.append(batch.call(GIVEN_CORE + ".compose_as_given", obj, "weight", [upstream]))
        return ops

    def split_backward(self, values, case, part=None):
        values = list(values)
        input_grads = [values.pop(0)] if part in (None, "inputs") else None
        param_grads = values.pop(0) if part in (None, "parameters") else None
        return input_grads, param_grads

    script_object, script_parameters, script_forward = "layer", "layer.weights", "layer({0})"
    script_backward = {
        "inputs": ["input_grads = [layer.compose_input_gradients([upstream])[0]]"],
        "parameters": ["parameter_grads = layer.compose_weight_gradients([upstream])"],
    }

    snippet_parameter = "layer.weights[{i}]"
    snippet_call = ("x", "out = layer(x)")
    snippet_backward = (
        "upstream",
        "input_grad = layer.compose_input_gradients([upstream])[0]\nweight_grads = layer.compose_weight_gradients([upstream])",
    )


class BerasLoss(Driver):
    """A beras loss: `loss(y_pred, y_true)` is a scalar; get_input_gradients()
    is [dL/dy_pred, dL/dy_true] (SPEC 2): both are judged."""

    forward_method = "call"
    input_gradient_method = "get_input_gradients"
    differentiated = (0, 1)
    input_names = ("y_pred", "y_true")

    def forward_callee(self, obj):
        return GIVEN_CORE + ".call_as_given", (obj,)

    def backward(self, batch, obj, inputs, upstream, part=None):
        return [obj.get_input_gradients()] if part in (None, "inputs") else []

    def split_backward(self, values, case, part=None):
        if part not in (None, "inputs"):
            return None, None
        return _items(values[0], len(self.differentiated)), None

    script_object, script_forward = "loss_fn", "loss_fn({0}, {1})"
    script_backward = {"inputs": ["input_grads = loss_fn.get_input_gradients()  # [dL/dy_pred, dL/dy_true]"]}

    def snippet_lines(self, case, params, inputs, upstream):
        return [
            f"loss_fn = {self.constructor(case)}",
            array_source("y_pred", inputs[0]),
            array_source("y_true", inputs[1]),
            "loss = loss_fn(y_pred, y_true)",
            "grad_y_pred, grad_y_true = loss_fn.get_input_gradients()",
        ]


class BgdLayer(LayerDriver):
    """A bgd Layer: forward(X), backward(error) -> (signal, parameter gradients)."""

    # The methods a student writes; the given Layer.forward/backward call them.
    forward_method = "_forward"
    input_gradient_method = parameter_gradient_method = "_backward"

    def parameters(self, batch, obj):
        return obj.get_parameters()

    def forward_callee(self, obj):
        return obj.forward, ()

    def backward(self, batch, obj, inputs, upstream, part=None):
        # One method returns both parts (SPEC 3): the same request for either,
        # so it runs once; a wrong part costs only its own checks.
        return [obj.backward(upstream)]

    def split_backward(self, values, case, part=None):
        returned = values[0]
        if not isinstance(returned, (tuple, list)) or len(returned) != 2:
            fail(
                f"{self.class_name}.backward must return (signal, gradients), got {type(returned).__name__}",
                method=self.input_gradient_name,
                case=case.label,
            )
        return [returned[0]], returned[1]

    script_object, script_parameters, script_forward = "layer", "layer.get_parameters()", "layer.forward({0})"
    _BACKWARD = ["signal, parameter_grads = layer.backward(upstream)", "input_grads = [signal]"]
    script_backward = {"inputs": _BACKWARD, "parameters": _BACKWARD}

    def script_lines(self, case, params, upstream=None, part=None):
        lines = super().script_lines(case, params, upstream, part)
        return lines[: len(lines) - len(self._BACKWARD)] if part is None and upstream is not None else lines

    snippet_parameter = "layer.get_parameters()[{i}]"
    snippet_call = ("X", "out = layer.forward(X)")
    snippet_backward = ("error", "signal, gradients = layer.backward(error)")


class BgdCost(Driver):
    """A bgd cost: eval(y, y_hat) is a scalar, grad(y, y_hat) its gradient in y_hat."""

    differentiated = (1,)
    input_names = ("y", "y_hat")
    forward_method = "eval"
    input_gradient_method = "grad"

    def forward_callee(self, obj):
        return obj.eval, ()

    def backward(self, batch, obj, inputs, upstream, part=None):
        return [obj.grad(*inputs)] if part in (None, "inputs") else []

    def split_backward(self, values, case, part=None):
        return ([values[0]] if values else None), None

    script_object, script_forward = "cost", "cost.eval({0}, {1})"
    script_backward = {"inputs": ["input_grads = [cost.grad({0}, {1})]"]}

    def snippet_lines(self, case, params, inputs, upstream):
        return [
            f"cost = {self.constructor(case)}",
            array_source("y", inputs[0]),
            array_source("y_hat", inputs[1]),
            "value = cost.eval(y, y_hat)",
            "gradient = cost.grad(y, y_hat)",
        ]
