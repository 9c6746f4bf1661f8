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

import numpy as np

from .checks import fail
from .numerics import on_grid
from .ops import array_source, error_details, failure_summary, first_failure, printed_by
from .sandbox import Over
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

    @property
    def input_grad(self):
        return None if not self.input_grads else self.input_grads[0]


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

    def forward_map(self, batch, obj, inputs, stack, index=0):
        """The forward once per slice of `stack`, which replaces input `index`."""
        callee, lead = self.forward_callee(obj)
        args = [*lead, *inputs]
        args[len(lead) + index] = Over(stack)
        return batch.map(callee, *args)

    def forward_map_param(self, batch, obj, inputs, ref, stack):
        callee, lead = self.forward_callee(obj)
        return batch.map_into(ref, stack, callee, *lead, *inputs)

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

    def parameter_shapes(self, engine, case):
        """Shapes of the parameters a fresh object has (asked of `engine`)."""
        with engine.batch() as batch:
            obj = batch.new(self.target, *case.args, **case.kwargs)
            values = self.parameters(batch, obj)
        raise_on_error(batch, self, case)
        return [] if values is None or values.value is None else [np.shape(v) for v in values.value]

    def run(self, engine, case, params, inputs, upstream=None, part=None):
        """Forward (and, when `upstream` is given, the backward of `part`:
        "inputs", "parameters" or None for both) in one request; the
        parameters are read back after setting (their dtype is the storage's)."""
        with engine.batch() as batch:
            obj, _ = self.build(batch, case, params)
            stored = self.parameters(batch, obj) if params else None
            output = self.forward(batch, obj, inputs)
            grads = self.backward(batch, obj, inputs, upstream, part) if upstream is not None else []
        raise_on_error(batch, self, case, params, inputs, upstream)
        kept = list(stored.value) if stored is not None and isinstance(stored.value, (list, tuple)) else []
        if upstream is None:
            return Run(output.value, stored=kept)
        return Run(output.value, *self.split_backward([g.value for g in grads], case, part), stored=kept)

    def f_stack(self, engine, case, params, inputs, parameter=None, index=None):
        """stack -> outputs, for `numerics`: each slice of the stack replaces
        parameter number `parameter` when one is given, else input `index`
        (default: the first differentiated one)."""
        index = self.differentiated[0] if index is None else index

        def evaluate(stack):
            with engine.batch() as batch:
                obj, refs = self.build(batch, case, params)
                if parameter is None:
                    out = self.forward_map(batch, obj, inputs, stack, index)
                else:
                    out = self.forward_map_param(batch, obj, inputs, refs[parameter], stack)
            raise_on_error(batch, self, case, params, inputs)
            return np.asarray(out.value, dtype=np.float64)

        return evaluate

    def snippet(self, case, params, inputs, upstream=None):
        module, _, name = self.target.rpartition(".")
        lines = ["import numpy as np", f"from {module} import {name}", ""]
        lines += self.snippet_lines(case, params, inputs, upstream)
        return "\n".join(lines)

    def constructor(self, case):
        parts = [repr(a) for a in case.args] + [f"{k}={v!r}" for k, v in case.kwargs.items()]
        return f"{self.class_name}({', '.join(parts)})"


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

    def snippet_lines(self, case, params, inputs, upstream):
        return [
            f"cost = {self.constructor(case)}",
            array_source("y", inputs[0]),
            array_source("y_hat", inputs[1]),
            "value = cost.eval(y, y_hat)",
            "gradient = cost.grad(y, y_hat)",
        ]
