"""Checks of bgd that the generic differentiable checks do not cover (SPEC 3, 4).

Each check builds its scenario as a plain function of
`harness/scenarios/bgd_scenarios.py` (the code a student would write to try
the class), plays it on both engines and compares. A check of class X runs
no other class a student writes: where a scenario needs other parts, it uses
the probes of `harness/scenarios/bgd_probes.py` (layers, a cost and an
optimizer of the harness's own, built on the student's given base classes).

Where the student's engine is random (dropout masks, train's shuffling) a
check judges a relation (the backward against the mask the student's own
forward drew, a cost that falls) rather than values. Relations between two
results of the student are also demanded to show behaviour: all zeros where
the reference computes something never passes.

The given `Layer` base is checked on probes and earns no points: students do
not write it (SPEC 1: the template, which has it, scores zero), but a changed
base is reported by name.
"""

import dataclasses

import numpy as np
import pytest

from harness import numerics
from harness.catalog.specs import pool_overlaps
from harness.checks import HIDDEN, check, expect_close, fail, floating_dtype, located, replay_with
from harness.gradcheck import PARAMETER_SCALE
from harness.play import play, play_both, play_judged, snippet
from harness.vocabulary import BACKWARD, CONTRACT, FORWARD, IN_PLACE, SHAPE, STATE, TRAINING, UPDATE

LAYER = "bgd.layers.layer.Layer"
FC = "bgd.layers.fc.FullyConnected"
CONV = "bgd.layers.conv2d.Convolutional2D"
POOL = "bgd.layers.max_pooling2d.MaxPooling2D"
FLATTEN = "bgd.layers.flatten.Flatten"
ACTIVATION = "bgd.layers.activation.Activation"
DROPOUT = "bgd.layers.dropout.Dropout"
MOMENTUM = "bgd.optimizers.MomentumOptimizer"
ADAM = "bgd.optimizers.AdamOptimizer"
STACK = "bgd.nn.NeuralStack"



def run_both(student, reference, function, *args, case, method, calls=1):
    """Play `bgd_scenarios.<function>` on both engines; failures without a
    snippet of their own replay the scenario."""
    name = f"bgd_scenarios.{function}"
    replay_with(lambda: snippet(name, args))
    return play_both(student, reference, name, *args, case=case, method=method, calls=calls)


def run_student(student, function, *args, case, method, calls=1, judged_by=None):
    """Play `bgd_scenarios.<function>` on the student's engine alone; with `judged_by`
    = (property, *arguments), judge its value by `bgd_properties.<property>(value,
    *arguments)` (harness.play.play_judged: the first problem it finds fails the check)."""
    name = f"bgd_scenarios.{function}"
    replay_with(lambda: snippet(name, args))
    if judged_by is None:
        return play(student, name, *args, case=case, method=method, calls=calls)
    prop, *extra = judged_by
    return play_judged(student, name, *args, prop=f"bgd_properties.{prop}", extra=extra, case=case, method=method,
                       calls=calls)


# ---------------------------------------------------------------- reading plain data


def array(value, what, method, case, shape=None):
    """`value` as a numeric ndarray (its dtype kept), or fail saying what it is."""
    if isinstance(value, str) or numerics.as_numeric(value) is None or isinstance(value, (dict, bool)):
        got = value if isinstance(value, str) and value.startswith("<") else type(value).__name__
        fail(f"{what} is not a numeric array (got {got})", method=method, case=case)
    value = np.asarray(value)
    if shape is not None and value.shape != tuple(shape):
        fail(f"{what} has shape {value.shape}, expected {tuple(shape)}", method=method, case=case, mistake=SHAPE)
    return value


def pair(value, method, case):
    """(signal, gradients) as a bgd backward returns them."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        fail(f"{method} must return a pair (signal, gradients), got {value if isinstance(value, str) else type(value).__name__}",
             method=method, case=case)
    return value


def arrays(value, shapes, what, method, case):
    """A tuple/list of numeric arrays of `shapes`."""
    if not isinstance(value, (list, tuple)) or len(value) != len(shapes):
        got = f"{len(value)} items" if isinstance(value, (list, tuple)) else type(value).__name__
        fail(f"{what}: expected {len(shapes)} arrays, got {got}", method=method, case=case)
    return [array(v, f"{what} [{i}]", method, case, shape) for i, (v, shape) in enumerate(zip(value, shapes))]


def worst(comparison):
    return [(m.index, m.actual, m.expected) for m in comparison.worst]


def same(got, want, what, method, case, hints=(), **details):
    """Fail unless `got` equals `want` within the student's precision (`details`:
    more for `expect_close`, e.g. the `mistake` or `blame` a failure means)."""
    expect_close(got, want, what, dtype=floating_dtype(got), method=method, case=case, hints=hints, **details)


def _shown(value):
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return f"{value!r:.60}"


def mismatch(got, want, where="the result"):
    """The first place plain data `got` differs from `want`: (where, what differs), or None."""
    if want is None or isinstance(want, (bool, str)):
        if type(got) is type(want) and got == want:
            return None
        return where, f"{_shown(got)} where the reference has {want!r}"
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return where, f"a {type(got).__name__}, not a dict"
        return next(filter(None, (mismatch(got.get(k), v, f"{where}[{k!r}]") for k, v in want.items())), None)
    if isinstance(want, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(want):
            return where, f"{_shown(got)} where the reference has {len(want)} items"
        return next(filter(None, (mismatch(g, w, f"{where}[{i}]") for i, (g, w) in enumerate(zip(got, want)))), None)
    if isinstance(got, (str, bool, dict, list, tuple)) or got is None or numerics.as_numeric(got) is None:
        return where, f"{_shown(got)} where the reference has an array"
    comparison = numerics.compare(got, want, dtype=floating_dtype(got))
    return None if comparison.passed else (where, comparison.message)


def shows_behaviour(got, want, what, method, case):
    """All zeros where the reference's value is not: nothing was computed."""
    if not np.any(np.asarray(got, dtype=np.float64)) and np.any(np.asarray(want, dtype=np.float64)):
        fail(f"{what} is all zeros, and the reference's is not: nothing is computed", method=method, case=case)


# ================================================================ Layer (given code, no points)


def wave_parameters(rng, n=4):
    """freq (1, 1), scale (1, n), shift (n,) of the Wave probe."""
    return (1.0 + 0.3 * rng.normal(size=(1, 1)), 1.0 + 0.3 * rng.normal(size=(1, n)), 0.5 * rng.normal(size=n))


def play_base(student, reference, function, args, case, method, hints=()):
    """Play a scenario of probes on the given base; fail at the first place its data differs from the reference's."""
    got, want = run_both(student, reference, function, *args, case=case, method=method)
    problem = mismatch(got, want)
    if problem:
        fail(f"{problem[0]}: {problem[1]}", method=method, case=case, hints=list(hints))


@check(LAYER, "update_parameters subtracts each delta from its parameter array, in place, step after step", points=0, blame=UPDATE, clause="3 Layer (given): update_parameters: params[i] -= delta_fragments[i] in place, in get_parameters() order; 4: given classes are checked too")
def test_base_update_parameters(student, reference, rng):
    params = wave_parameters(rng)
    steps = [[rng.normal(scale=0.3, size=np.shape(p)) for p in params] for _ in range(3)]
    case = ("a probe layer on the given Layer base, parameters of shapes (1, 1), (1, 4), (4,); 3 calls of update_parameters, "
            "the arrays get_parameters() returned first read after each")
    play_base(student, reference, "base_update_parameters", (*params, steps), case, "Layer.update_parameters",
              ["params[i] -= delta_fragments[i], in place: `parameter = parameter - delta` only rebinds a name, and "
               "`+=` adds"])


@check(LAYER, "forward records input_shape and keeps current_input / current_output exactly as save_input / save_output ask",
       points=0, blame=CONTRACT, clause="3 Layer (given): input_shape, current_input, current_output; 4: the base class must honour save_input/save_output")
def test_base_forward_records(student, reference, rng):
    case = "probe layers on the given Layer base, built with each combination of save_input, save_output and copy; forward(X)"
    play_base(student, reference, "base_forward_records", (*wave_parameters(rng), rng.normal(size=(3, 4))), case,
              "Layer.forward")


@check(LAYER, "backward returns (signal, None) for a layer without parameters and (None, None) once its propagation is "
       "off; a learnable layer's backward still runs", points=0, blame=CONTRACT, clause="3 Layer (given): backward -> (signal or None, gradients or None), propagate, activate/deactivate_propagation")
def test_base_propagation(student, reference, rng):
    case = "probe layers on the given Layer base: forward, then backward with propagation on, off, on again"
    play_base(student, reference, "base_propagation", (*wave_parameters(rng), rng.normal(size=(3, 4)), rng.normal(size=(3, 4))),
              case, "Layer.backward")


# ================================================================ layers: FullyConnected, Convolutional2D, ...


@dataclasses.dataclass(frozen=True)
class LayerCase:
    """A student layer: its class, constructor arguments, an input shape, the
    output shape and parameter shapes SPEC gives for it."""

    label: str
    target: str
    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)
    input_shape: tuple = ()
    output_shape: tuple = ()
    parameter_shapes: tuple = ()
    sample: str = "normal"  # "normal", "away" (from 0: relu), "distinct" (no ties: max pooling)
    other_batch: int = 2  # the batch size of an earlier input

    @property
    def class_name(self):
        return self.target.rsplit(".", 1)[-1]

    def inputs(self, rng, batch=None):
        shape = (batch or self.input_shape[0],) + tuple(self.input_shape[1:])
        if self.sample == "away":
            return numerics.away_from(rng, shape, margin=0.1)
        if self.sample == "distinct":
            return numerics.distinct(rng, shape, min_gap=0.05)
        return rng.normal(size=shape)

    def parameters(self, rng):
        return [rng.normal(scale=PARAMETER_SCALE, size=s) for s in self.parameter_shapes]

    def constructor(self):
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.class_name}({', '.join(parts)})"


FC_BIAS = LayerCase("FullyConnected 3 -> 4", FC, (3, 4), {}, (5, 3), (5, 4), ((3, 4), (1, 4)))
FC_NO_BIAS = LayerCase("FullyConnected 4 -> 2 without bias", FC, (4, 2), {"with_bias": False}, (3, 4), (3, 2), ((4, 2),))
CONV_STRIDED = LayerCase("Convolutional2D 3x2x1, 2 filters, strides (2, 1)", CONV, ((3, 2, 1), 2), {"strides": (2, 1)},
                         (2, 7, 5, 1), (2, 3, 4, 2), ((2, 3, 2, 1), (2,)), other_batch=1)
CONV_PLAIN = LayerCase("Convolutional2D 2x2x2, 3 filters", CONV, ((2, 2, 2), 3), {}, (2, 4, 4, 2), (2, 3, 3, 3),
                       ((3, 2, 2, 2), (3,)), other_batch=1)
ACTIVATIONS = tuple(LayerCase(f"Activation {f}", ACTIVATION, (f,), {}, (4, 5), (4, 5), (), "away") for f in
                    ("sigmoid", "tanh", "relu", "softmax"))
POOLS = (LayerCase("MaxPooling2D 2x2", POOL, ((2, 2),), {}, (2, 4, 4, 2), (2, 2, 2, 2), (), "distinct", 1),
         LayerCase("MaxPooling2D 3x3, strides 2 (overlapping)", POOL, ((3, 3),), {"strides": (2, 2)}, (1, 7, 7, 1),
                   (1, 3, 3, 1), (), "distinct", 2))
FLATTENS = (LayerCase("Flatten", FLATTEN, (), {}, (3, 2, 2, 2), (3, 8), ()),)

LEARNABLE = {FC: (FC_BIAS, FC_NO_BIAS), CONV: (CONV_STRIDED, CONV_PLAIN)}
EVERY_LAYER = {FC: (FC_BIAS, FC_NO_BIAS), ACTIVATION: ACTIVATIONS, CONV: (CONV_STRIDED,), POOL: POOLS, FLATTEN: FLATTENS}


def case_args(layer):
    return layer.target, layer.args, layer.kwargs


@pytest.mark.parametrize("target", list(LEARNABLE), ids=str)
@check("{target}", "backward with propagation off returns no signal but the same parameter gradients", points=1, blame=CONTRACT, clause="3: a learnable layer whose propagation is deactivated returns None as its signal")
def test_propagation_off(target, student, reference, rng):
    for layer in LEARNABLE[target]:
        params, X, E = layer.parameters(rng), layer.inputs(rng), rng.normal(size=layer.output_shape)
        case = f"{layer.constructor()}, X of shape {layer.input_shape}: forward(X), deactivate_propagation(), backward(E), " \
               "activate_propagation(), backward(E)"
        method = f"{layer.class_name}.backward"
        got, want = run_both(student, reference, "propagation_off", *case_args(layer), params, X, E, case=case, method=method)
        off, on = pair(got["off"], method, case), pair(got["on"], method, case)
        if off[0] is not None:
            fail(f"with propagation off, {method} returned a signal ({type(off[0]).__name__}): a learnable layer whose "
                 "propagation is off returns None as its signal (the first layer of a network has no one to send it to)",
                 method=method, case=case)
        if on[0] is None:
            fail(f"after activate_propagation(), {method} returns no signal", method=method, case=case)
        array(on[0], "the signal with propagation on", method, case, layer.input_shape)
        if off[1] is None:
            fail(f"with propagation off, {method} returned no parameter gradients: they are still needed to train the layer",
                 method=method, case=case)
        grads_on = arrays(on[1], layer.parameter_shapes, "the parameter gradients with propagation on", method, case)
        grads_off = arrays(off[1], layer.parameter_shapes, "the parameter gradients with propagation off", method, case)
        for index, (g_off, g_on, w) in enumerate(zip(grads_off, grads_on, want["on"][1])):
            shows_behaviour(g_on, w, f"parameter gradient {index}", method, case)
            same(g_off, g_on, f"parameter gradient {index} with propagation off differs from the one with propagation on",
                 method, case)


@pytest.mark.parametrize("target", list(LEARNABLE), ids=str)
@check("{target}", "update_parameters changes the arrays get_parameters() returned, in place, and the layer computes with them",
       points=1, blame=UPDATE, clause="3 Layer: update_parameters in place; 4: the arrays get_parameters() returns are the arrays the layer computes with")
def test_layer_update_in_place(target, student, reference, rng):
    for layer in LEARNABLE[target]:
        params, X = layer.parameters(rng), layer.inputs(rng)
        steps = [[rng.normal(scale=0.3, size=s) for s in layer.parameter_shapes] for _ in range(2)]
        case = f"{layer.constructor()}: parameters written into get_parameters(), then 2 calls of update_parameters"
        method = f"{layer.class_name}.update_parameters"
        got, want = run_both(student, reference, "update_in_place", *case_args(layer), params, steps, X, case=case, method=method)
        if not got["overrides"]:  # the given base applied the deltas: this judges the layer's own arrays
            method = f"{layer.class_name}.get_parameters"
            case += " (as the given Layer.update_parameters does: p -= delta in the arrays get_parameters() returns)"
        kept = arrays(got["kept"], layer.parameter_shapes, "the arrays get_parameters() returned before the updates", method, case)
        for index, (value, expected, start) in enumerate(zip(kept, want["kept"], params)):
            hints = ["the array get_parameters() returned before the updates did not change: update it in place "
                     "(`self.weights -= delta`), never bind a new array (`self.weights = self.weights - delta`)"] \
                if np.array_equal(value, start) else []
            same(value, expected, f"after 2 updates, parameter {index} (the array get_parameters() returned before) is wrong",
                 method, case, hints, mistake=IN_PLACE if hints else "")
        out = array(got["out"], "forward's output after the updates", method, case, layer.output_shape)
        before = array(got["before"], "forward's output before the updates", method, case, layer.output_shape)
        if numerics.compare(out, before, dtype=np.float32).passed and not numerics.compare(want["out"], want["before"]).passed:
            fail(f"{layer.class_name}.forward gives the same output before and after the updates: the layer does not compute "
                 "with the arrays get_parameters() returns", method=method, case=case, mistake=IN_PLACE)
        same(out, array(got["twin_out"], "the output of a new layer", method, case, layer.output_shape),
             f"after the updates, {layer.class_name}.forward differs from that of a new layer given the updated values: the "
             "layer does not compute with the arrays it updated", method, case, mistake=IN_PLACE)


@pytest.mark.parametrize("target", list(EVERY_LAYER), ids=str)
@check("{target}", "backward after several forward passes follows the last one (no state kept from earlier calls)", points=1, blame=CONTRACT, clause="4 contract: backward follows the forward it belongs to (no state kept from earlier calls)")
def test_last_forward_wins(target, student, reference, rng):
    for layer in EVERY_LAYER[target]:
        params = layer.parameters(rng)
        inputs = [layer.inputs(rng, layer.other_batch), layer.inputs(rng), layer.inputs(rng)]
        E = rng.normal(size=layer.output_shape)
        case = (f"{layer.constructor()}: forward(X1) (batch {layer.other_batch}), forward(X2), forward(X3), backward(E), against "
                "a new layer's forward(X3), backward(E)")
        method = f"{layer.class_name}.backward"
        got, want = run_both(student, reference, "forwards_then_backward", *case_args(layer), params, inputs, E,
                             case=case, method=method)
        (out, back), (fresh_out, fresh_back) = got["after_several"], got["fresh"]
        fresh_out = array(fresh_out, "a new layer's forward output", f"{layer.class_name}.forward", case, layer.output_shape)
        shows_behaviour(fresh_out, want["fresh"][0], "the forward output", f"{layer.class_name}.forward", case)
        same(array(out, "forward's output", f"{layer.class_name}.forward", case, layer.output_shape), fresh_out,
             "after earlier forward passes, forward(X3) differs from a new layer's", f"{layer.class_name}.forward", case,
             mistake=STATE, blame=FORWARD)
        back, fresh_back = pair(back, method, case), pair(fresh_back, method, case)
        signal = array(fresh_back[0], "a new layer's signal", method, case, layer.input_shape)
        shows_behaviour(signal, want["fresh"][1][0], "the signal", method, case)
        same(array(back[0], "the signal", method, case, layer.input_shape), signal,
             "the signal of backward after several forward passes differs from a new layer's after forward(X3) alone: "
             "backward must use what the LAST forward saw", method, case, mistake=STATE, blame=BACKWARD)
        if layer.parameter_shapes:
            fresh_grads = arrays(fresh_back[1], layer.parameter_shapes, "a new layer's parameter gradients", method, case)
            for index, (g, f) in enumerate(zip(arrays(back[1], layer.parameter_shapes, "the parameter gradients", method, case),
                                               fresh_grads)):
                same(g, f, f"parameter gradient {index} after several forward passes differs from a new layer's after "
                     "forward(X3) alone", method, case, mistake=STATE, blame=BACKWARD)


COSTS = ("bgd.cost.MSE", "bgd.cost.CrossEntropy")


def cost_arguments(target, rng, n, k=4):
    if target.endswith("MSE"):
        return rng.normal(size=(n, k)), rng.normal(size=(n, k))
    return numerics.one_hot(rng, n, k), numerics.probabilities(rng, (n, k), floor=0.02)


@pytest.mark.parametrize("target", COSTS, ids=str)
@check("{target}", "eval and grad after earlier calls follow the last arguments (no state kept from earlier calls)", points=1, blame=CONTRACT, clause="3 cost: eval(y, y_hat), grad(y, y_hat) are functions of their arguments; 4 contract")
def test_cost_keeps_no_state(target, student, reference, rng):
    pairs = [cost_arguments(target, rng, n) for n in (3, 5, 5)]
    name = target.rsplit(".", 1)[-1]
    case = f"{name}(): eval and grad on (y1, y_hat1) (batch 3), then (y2, y_hat2), then (y3, y_hat3), against a new {name}'s"
    got, want = run_both(student, reference, "cost_calls", target, pairs, case=case, method=f"{name}.eval")
    for part, what in enumerate(("eval", "grad")):
        method, shape = f"{name}.{what}", (None if part == 0 else pairs[-1][1].shape)
        fresh = array(got["fresh"][part], f"a new {name}'s {what}", method, case, shape)
        shows_behaviour(fresh, want["fresh"][part], f"{what}'s result", method, case)
        same(array(got["after_several"][part], f"{what}'s result", method, case, shape), fresh,
             f"after earlier calls, {what}(y3, y_hat3) differs from a new {name}'s", method, case, mistake=STATE,
             blame=FORWARD if what == "eval" else BACKWARD)


TIED_POOLS = (POOLS[0], LayerCase("MaxPooling2D 3x3, strides 2 (overlapping)", POOL, ((3, 3),), {"strides": (2, 2)},
                                   (1, 7, 7, 2), (1, 3, 3, 2)))


@check(POOL, "backward sends each error to the first maximum of a tied window", points=1, blame=BACKWARD, clause="3 MaxPooling2D: backward sends each error to the first maximum of its window")
def test_pool_ties_go_to_the_first_maximum(student, reference, rng):
    # SPEC 3: the FIRST maximum of its window. Finite differences cannot look at
    # a tie (a kink), so ties are judged against the reference alone.
    method = "MaxPooling2D.backward"
    for layer in TIED_POOLS:
        X = rng.integers(0, 3, size=layer.input_shape).astype(np.float64)  # most windows hold several equal maxima
        E = rng.normal(size=layer.output_shape)
        case = f"{layer.constructor()}, X of shape {layer.input_shape} with integer values 0 to 2 (ties)"
        got, want = run_both(student, reference, "layer_backward", *case_args(layer), [], X, E, case=case, method=method)
        signal = array(pair(got["back"], method, case)[0], "the signal", method, case, layer.input_shape)
        same(signal, want["back"][0], "MaxPooling2D.backward's signal on windows with tied maxima", method, case,
             regions=pool_overlaps(layer, (X,)))


# ================================================================ Dropout


def nonzero_inputs(rng, shape):
    """Magnitudes in [0.5, 1.5], random signs: a zero in the output means a dropped unit."""
    return rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def seed_of(rng):
    return int(rng.integers(2**31 - 1))


@check(DROPOUT, "a new Dropout drops about 1 - keep_proba of the units, with a new mask at every forward pass, and divides "
       "the kept ones by keep_proba", points=2, blame=FORWARD, clause="3 Dropout: inverted dropout, each unit kept with probability keep_proba, kept ones / keep_proba; a new Dropout is active")
def test_dropout_forward_statistics(student, reference, rng):
    X = nonzero_inputs(rng, (100, 200))
    method = "Dropout.forward"
    for p in (0.5, 0.8):
        case = f"Dropout({p}): two forward passes of X, of shape {X.shape} without zeros"
        # Inverted dropout: a kept unit is X / keep_proba (SPEC 3); only the mask is random.
        run_student(student, "dropout_forwards", p, X, seed_of(rng), 2, case=case, method=method,
                    judged_by=("dropout_forwards", X, p))


@check(DROPOUT, "backward lets the error through the mask of the last forward, divided by keep_proba", points=2, blame=BACKWARD, clause="3 Dropout: backward reuses the forward mask")
def test_dropout_backward(student, reference, rng):
    method = "Dropout.backward"
    for p, shape in ((0.5, (40, 50)), (0.8, (4, 6, 6, 3))):
        inputs, E = [nonzero_inputs(rng, shape), nonzero_inputs(rng, shape)], rng.normal(size=shape)
        case = f"Dropout({p}): forward(X1), forward(X2), backward(E); arrays of shape {shape}, X1 and X2 without zeros"
        # The mask is random: the expected signal is the error through the mask the
        # student's own last forward drew (no input is 0, so a 0 output is a dropped unit).
        run_student(student, "dropout_backward", p, inputs, E, seed_of(rng), case=case, method=method,
                    judged_by=("dropout_backward", inputs[-1], E, p))


@check(DROPOUT, "deactivate() makes forward and backward the identity; activate() switches dropout back on", points=1, blame=CONTRACT, clause="3 Dropout: activate(), deactivate() (inactive: identity)")
def test_dropout_deactivate(student, reference, rng):
    X, E = nonzero_inputs(rng, (20, 20)), rng.normal(size=(20, 20))
    case = f"Dropout(0.5): deactivate(), forward(X), backward(E), activate(), forward(X) twice; X of shape {X.shape} without zeros"
    run_student(student, "dropout_switch", X, E, seed_of(rng), case=case, method="Dropout.deactivate",
                judged_by=("dropout_switch", X, E))


@check(DROPOUT, "forward and backward leave their inputs untouched", points=1, blame=CONTRACT, clause="4 contract: no mutation of inputs")
def test_dropout_untouched(student, reference, rng):
    shape = (30, 40)
    X, E = nonzero_inputs(rng, shape), rng.normal(size=shape)
    case = f"Dropout(0.5): forward(X), backward(E); X and E of shape {shape}"
    run_student(student, "dropout_untouched", 0.5, X, E, seed_of(rng), case=case, method="Dropout.forward",
                judged_by=("dropout_untouched", X, E, 0.5))


# ================================================================ optimizers

# Probe layers holding parameters of several shapes, two of them alike: state is per layer.
BANK_SHAPES = (((1, 3), (3,)), ((1, 3), (3,)), ((2, 2, 3),), ((4, 1), (1,), (2, 3)))
BANKS = "probe layers with parameters of shapes " + "; ".join(", ".join(map(str, shapes)) for shapes in BANK_SHAPES)


@dataclasses.dataclass(frozen=True)
class OptimizerCase:
    target: str
    kwargs: tuple = ()

    @property
    def class_name(self):
        return self.target.rsplit(".", 1)[-1]

    @property
    def label(self):
        return ", ".join(f"{k}={v}" for k, v in self.kwargs) or "default hyperparameters"

    def __str__(self):
        return f"{self.class_name}({self.label})"


DEFAULT_OPTIMIZERS = [OptimizerCase(MOMENTUM), OptimizerCase(ADAM)]
CUSTOM_OPTIMIZERS = [
    OptimizerCase(MOMENTUM, (("learning_rate", 0.05), ("momentum", 0.5))),
    OptimizerCase(ADAM, (("learning_rate", 0.01), ("beta_1", 0.8), ("beta_2", 0.99), ("epsilon", 1e-6))),
]


def optimizer_inputs(rng, count):
    params = [[rng.normal(scale=PARAMETER_SCALE, size=s) for s in shapes] for shapes in BANK_SHAPES]
    steps = [[[rng.normal(size=s) for s in shapes] for shapes in BANK_SHAPES] for _ in range(count)]
    return params, steps


def optimizer_after(value, count, method, case):
    """The parameters after each update, checked: [step][layer][index] arrays."""
    if isinstance(value, dict) and "wrote_directly" in value:
        fail(f"update() wrote into a layer's parameter array itself ({value['wrote_directly']}): apply the deltas with "
             "layer.update_parameters(deltas), which knows how the layer keeps its parameters", method=method, case=case)
    after = value.get("after") if isinstance(value, dict) else None
    if not isinstance(after, list) or len(after) != count:
        fail("the scenario returned something unexpected", method=method, case=case)
    return [[arrays(layer, shapes, f"after update {step}: parameters of layer {i}", method, case)
             for i, (layer, shapes) in enumerate(zip(layers, BANK_SHAPES))] for step, layers in enumerate(after, 1)]


def delta_precision(got):
    """float32 when the optimizer handed any delta in 32 bits or less, else float64."""
    dtypes = got.get("dtypes") if isinstance(got, dict) else None
    return numerics.precision(*[np.dtype(d) for d in dtypes if isinstance(d, str) and d[1:] in ("f2", "f4", "f8")]) \
        if isinstance(dtypes, list) else np.float64


def check_trajectory(optimizer, student, reference, rng):
    params, steps = optimizer_inputs(rng, 5)
    case = f"{optimizer}; {BANKS}; each update gets fresh gradients for every layer"
    method = f"{optimizer.class_name}.update"
    got, want = run_both(student, reference, "optimizer_run", optimizer.target, dict(optimizer.kwargs), params, steps,
                         case=case, method=method)
    got_after = optimizer_after(got, len(steps), method, case)
    dtype = delta_precision(got)
    for step, (g_step, w_step) in enumerate(zip(got_after, want["after"]), 1):
        for layer, (g_layer, w_layer, start) in enumerate(zip(g_step, w_step, params)):
            for index, (g, w, p0) in enumerate(zip(g_layer, w_layer, start)):
                moved, expected = np.asarray(g, dtype=np.float64) - p0, np.asarray(w) - p0
                comparison = numerics.compare(moved, expected, dtype=numerics.precision(dtype, g))
                if comparison.passed:
                    continue
                hints, mistake = [], ""
                if step > 1:
                    mistake = STATE
                    hints.append(f"{'the first update is' if step == 2 else f'the first {step - 1} updates are'} right: what "
                                 "is carried from one update to the next (previous deltas, moments, step count) is wrong, or "
                                 "not kept per layer and per parameter array")
                if not np.any(moved):
                    hints.append("the parameter did not change at all")
                found = numerics.recognise(moved, expected)
                fail(f"after {step} update{'s' if step > 1 else ''}, the change of parameter {index} of layer {layer} differs "
                     f"from the reference: {comparison.message}", method=method, case=case,
                     hints=hints + [f.text for f in found], mistake=mistake or numerics.mistake_of(found),
                     worst=worst(comparison), **located(comparison))


@pytest.mark.parametrize("optimizer", DEFAULT_OPTIMIZERS, ids=str)
@check("{optimizer.target}", "parameters follow the reference over 5 updates of 4 layers ({optimizer.label})", points=2, blame=UPDATE, clause="3 optimizers: Momentum delta = lr*g + momentum*previous_delta; Adam bias-corrected; 4 update: over several steps")
def test_optimizer_trajectory(optimizer, student, reference, rng):
    check_trajectory(optimizer, student, reference, rng)


@pytest.mark.parametrize("optimizer", CUSTOM_OPTIMIZERS, ids=str)
@check("{optimizer.target}", "parameters follow the reference over 5 updates of 4 layers ({optimizer.label})", points=2,
       visibility=HIDDEN, blame=UPDATE, clause="3 optimizers with given hyperparameters; 4 update: over several steps")
def test_optimizer_trajectory_custom(optimizer, student, reference, rng):
    check_trajectory(optimizer, student, reference, rng)


@pytest.mark.parametrize("optimizer", DEFAULT_OPTIMIZERS, ids=str)
@check("{optimizer.target}", "update() applies the deltas with each queued layer's update_parameters, once, then empties "
       "the queue", points=1, blame=UPDATE, clause="3 optimizers: add_gradient_fragments(layer, fragments), then update() applies the deltas with layer.update_parameters")
def test_optimizer_applies_and_empties(optimizer, student, reference, rng):
    params, steps = optimizer_inputs(rng, 2)
    case = f"{optimizer}; {BANKS}; 2 updates with gradients queued, then update() with nothing queued"
    method = f"{optimizer.class_name}.update"
    # Judged on the student's own values: the amounts are the trajectory checks' business.
    run_student(student, "optimizer_run", optimizer.target, {}, params, steps, True, case=case, method=method,
                judged_by=("optimizer_applies_and_empties", params))


# ================================================================ NeuralStack (on probes)

PROBE_STACK = ("a NeuralStack of probe layers Shift(4) -> Scale(4) -> Fold(4 -> 2) -> Shift(2) (X * a + b, sin(X) * s, "
               "fold of the columns, X * a + b), with a probe cost (log-cosh) and a probe optimizer (plain SGD) added "
               "between the layers")


def stack_parameters(rng):
    """(a, b) of Shift(4), (s,) of Scale(4), (a, b) of Shift(2)."""
    return [(1.0 + 0.3 * rng.normal(size=(1, 4)), 0.3 * rng.normal(size=4)), (1.0 + 0.3 * rng.normal(size=(1, 4)),),
            (1.0 + 0.3 * rng.normal(size=(1, 2)), 0.3 * rng.normal(size=2))]


PARAMETER_SHAPES = [[(1, 4), (4,)], [(1, 4)], [], [(1, 2), (2,)]]


@check(STACK, "add() takes layers, a cost and an optimizer; eval(X) forwards X through every layer in order", points=1, blame=FORWARD, clause="3 NeuralStack: add(layer | optimizer | cost), eval(X) forward through every layer; 4: eval judged where Dropout's choice does not matter")
def test_stack_eval(student, reference, rng):
    params, X = stack_parameters(rng), rng.normal(size=(5, 4))
    case = f"{PROBE_STACK}; eval(X), X of shape {X.shape}"
    method = "NeuralStack.eval"
    got, want = run_both(student, reference, "stack_eval", params, X, case=case, method=method)
    out = array(got["out"], "NeuralStack.eval's output", method, case, np.shape(want["out"]))
    comparison = numerics.compare(out, want["out"], dtype=np.float32)
    if not comparison.passed:
        fail(f"NeuralStack.eval's output is not X forwarded through every layer in the order they were added: "
             f"{comparison.message}", method=method, case=case, worst=worst(comparison), **located(comparison))


@check(STACK, "eval(X) and train(X, y, epochs, batch_size) leave X and y untouched", points=1, blame=CONTRACT, clause="4 contract: no mutation of inputs")
def test_stack_leaves_inputs_untouched(student, reference, rng):
    (X, teacher), params = training_data(rng, 12), stack_parameters(rng)
    y = teacher_targets(reference, teacher, X)
    case = f"{PROBE_STACK}; eval(X), then train(X, y, epochs=2, batch_size=4) of a new stack; X of shape {X.shape}"
    run_student(student, "stack_eval", params, X, case=case, method="NeuralStack.eval",
                judged_by=("stack_eval_untouched", X, 2))
    run_student(student, "stack_train", params, X, y, 2, 4, 0.1, seed_of(rng), case=case, method="NeuralStack.train",
                calls=2, judged_by=("stack_train_untouched",))


def training_case(X, epochs, batch_size, learning_rate):
    return f"{PROBE_STACK}; SGD(learning_rate={learning_rate}); train(X, y, epochs={epochs}, batch_size={batch_size}), {len(X)} samples"


def training_data(rng, n):
    """Inputs, and targets from a teacher stack of probes (so a stack of probes can fit them)."""
    return rng.normal(size=(n, 4)), stack_parameters(rng)


def teacher_targets(reference, teacher, X):
    """y = the teacher stack's output, computed by the reference engine's probes."""
    return np.asarray(play(reference, "bgd_scenarios.probe_prediction", teacher, X, student=False))


@check(STACK, "train(X, y, epochs, batch_size) returns the costs it computed, in order: one per batch or one per epoch",
       points=1, blame=TRAINING, clause="3 NeuralStack: train -> 1-D array of training losses in order (one per batch or per epoch)")
def test_stack_train_returns_losses(student, reference, rng):
    (X, teacher), params = training_data(rng, 24), stack_parameters(rng)
    y = teacher_targets(reference, teacher, X)
    epochs, batch_size, learning_rate = 3, 6, 0.1
    case = training_case(X, epochs, batch_size, learning_rate)
    method = "NeuralStack.train"
    run_student(student, "stack_train", params, X, y, epochs, batch_size, learning_rate, seed_of(rng), case=case,
                method=method, calls=2, judged_by=("stack_train_losses", epochs, len(X) // batch_size))


@check(STACK, "full-batch training follows the reference: the same gradients reach the optimizer, the same parameters result",
       points=2, blame=TRAINING, clause="3 NeuralStack: train; 4 end to end")
def test_stack_full_batch_training(student, reference, rng):
    (X, teacher), params = training_data(rng, 16), stack_parameters(rng)
    y = teacher_targets(reference, teacher, X)
    epochs, learning_rate = 4, 0.3
    # One batch of every sample: the order of the samples cannot change the
    # mean cost nor its gradient, so training is deterministic however it shuffles.
    case = training_case(X, epochs, len(X), learning_rate)
    method = "NeuralStack.train"
    got, want = run_both(student, reference, "stack_train", params, X, y, epochs, len(X), learning_rate, seed_of(rng),
                         case=case, method=method, calls=2)
    updates = [e[1] for e in got["events"] if e[0] == "update"]
    want_updates = [e[1] for e in want["events"] if e[0] == "update"]
    if len(updates) != epochs:
        fail(f"train called optimizer.update() {len(updates)} times for {epochs} epochs of one batch each: once per batch, "
             "after the gradients of every learnable layer are queued", method=method, case=case)
    for step, (g_update, w_update) in enumerate(zip(updates, want_updates), 1):
        queued = {int(index): grads for index, grads in g_update}
        for index, w_grads in w_update:
            if index not in queued:
                fail(f"at update {step}, the gradients of layer {index} ({PARAMETER_SHAPES[index]}) were not queued on the "
                     "optimizer: queue every learnable layer's gradients before optimizer.update()", method=method, case=case)
            grads = arrays(queued[index], [np.shape(w) for w in w_grads], f"update {step}: the gradients of layer {index}",
                           method, case)
            for g, w in zip(grads, w_grads):
                comparison = numerics.compare(g, w, dtype=np.float32)
                if not comparison.passed:
                    hints = []
                    if index < 3 and step == 1:
                        hints.append("each layer's backward must receive the signal of the layer after it (the last "
                                     "layer gets the cost's gradient)")
                    fail(f"at update {step}, the gradient of layer {index} differs from the reference's: "
                         f"{comparison.message}", method=method, case=case, hints=hints, worst=worst(comparison), **located(comparison))
    for index, (g_layer, w_layer) in enumerate(zip(got["parameters"], want["parameters"])):
        for g, w in zip(arrays(g_layer, [np.shape(w) for w in w_layer], f"the parameters of layer {index}", method, case), w_layer):
            expect_close(g, w, f"after training, the parameters of layer {index} differ from the reference's",
                         dtype=np.float32, method=method, case=case)


@check(STACK, "mini-batch training fits a small model: the cost of its predictions falls as the reference's does", points=2, blame=TRAINING, clause="4 end to end: a small model trains and its loss falls")
def test_stack_learns(student, reference, rng):
    (X, teacher), params = training_data(rng, 32), stack_parameters(rng)
    y = teacher_targets(reference, teacher, X)
    epochs, batch_size, learning_rate = 12, 8, 0.5
    case = training_case(X, epochs, batch_size, learning_rate)
    method = "NeuralStack.train"
    got, want = run_both(student, reference, "stack_train", params, X, y, epochs, batch_size, learning_rate, seed_of(rng),
                         case=case, method=method, calls=2)
    # Judged from the parameters after training (the probes' own prediction), never
    # from the losses train returns. The reference's cost falls far more than half.
    before, after = float(got["before"]), float(got["after"])
    ratio = float(want["after"]) / float(want["before"])
    needed = max(0.5, min(0.9, 2.0 * ratio))
    if not (np.isfinite(after) and after <= needed * before):
        fail(f"training does not fit the data: the cost of the stack's predictions went from {before:.4g} to {after:.4g} "
             f"(the reference's: {float(want['before']):.4g} to {float(want['after']):.4g}); it should fall to at most "
             f"{needed:.2f} of where it started", method=method, case=case,
             hints=["for each batch: forward through every layer, the cost's gradient, backward through the layers in "
                    "reverse (each layer's signal feeding the layer before it), queue each learnable layer's gradients, "
                    "then optimizer.update()"])
