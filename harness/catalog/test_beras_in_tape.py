"""Every differentiable class of beras where it lives: inside a tape, between probe layers.

The generic checks (`test_differentiable.py`) try a layer on its own: its
forward, and its compose_* with a given J. Here it is called as a model calls
it, on the output of a probe layer, its own output fed to another probe layer
and a probe loss (a loss: fed by two probe layers, one for y_pred and one for
y_true), all under a probe tape that composes each layer's compose_* (so
neither the student's tape nor their other layers take part). The gradients
that reach the probes' weights and the input must be the reference's: a
layer that forgets what the given `Diffable.__call__` recorded (overwriting
`self.inputs`), returns or changes its input array, or gets dL/dy_true
wrong fails here, in a check of its own class.
"""

import numpy as np
import pytest

from harness import gradcheck, numerics
from harness.catalog.beras_judging import (
    Scenario,
    describe,
    expect,
    gradient_list,
    judge_gradient,
    precision_of,
    probe_weights,
)
from harness.catalog.specs import BERAS_LAYERS
from harness.checks import INTEGRATION, check
from harness.drivers import BerasLoss
from harness.vocabulary import BACKWARD, CONTRACT, FORWARD, IN_PLACE


def half_precision(names):
    """Whether the dtype names a scenario reported include a float of 16 bits or less."""
    dtypes = []
    for name in names if isinstance(names, list) else ():
        try:
            dtypes.append(np.dtype(str(name)))
        except TypeError:
            pass
    return numerics.half_precision(*dtypes)


def in_tape_case(spec, reference, rng):
    """Constructor arguments, parameters, probe weights and data for the first ordinary case of `spec`."""
    case = next(c for c in spec.cases if not c.extreme)
    param_shapes, out_shape = gradcheck.shapes(spec, case, reference)
    params = [rng.normal(scale=gradcheck.PARAMETER_SCALE, size=s) for s in param_shapes]
    in_shape = case.shapes[0]
    # x away from 0 (the probe before is sin(x) * w): no input of a ReLU near its kink.
    x = rng.uniform(0.2, 1.5, size=in_shape) * rng.choice([-1.0, 1.0], size=in_shape)
    is_loss = isinstance(spec.driver, BerasLoss)
    widths = (in_shape[1], in_shape[1]) if is_loss else (in_shape[1], out_shape[1])
    probes = [probe_weights(rng, n, 1)[0] for n in widths]
    t = rng.normal(size=in_shape if is_loss else out_shape)
    return case, is_loss, params, probes, x, t


@pytest.mark.parametrize("spec", BERAS_LAYERS, ids=str)
@check("{spec.target}", "inside a GradientTape, between probe layers, passes the right gradients to the layers around "
       "it{spec.variant}", points=1, tags=(INTEGRATION,), clause="2 Diffable/J conventions and GradientTape semantics, losses' get_input_gradients() -> [dL/dy_pred, dL/dy_true]; 4 contract: tape semantics, no mutation of inputs",
       blame=BACKWARD)
def test_in_tape(spec, student, reference, rng):
    case, is_loss, params, probes, x, t = in_tape_case(spec, reference, rng)
    name = spec.driver.class_name
    made = spec.driver.constructor(case)
    if is_loss:
        description = f"loss = {made}(squash1(x), squash2(t)) under a tape; x {x.shape}"
        names = ["x (through squash1, to y_pred)", "squash1.w (before y_pred)", "t (through squash2, to y_true)",
                 "squash2.w (before y_true)"]
        methods = [f"{name}.get_input_gradients"] * 4
    else:
        description = f"loss = probe_loss(bend({made}(wave(x))), t) under a tape; x {x.shape}"
        names = ["x", "wave.w (the probe layer before)", *[f"{name}.weights[{i}]" for i in range(len(params))],
                 "bend.w (the probe layer after)"]
        methods = ([f"{name}.get_input_gradients"] * 2 + [f"{name}.get_weight_gradients"] * len(params)
                   + [f"{name}.call"])
    scenario = Scenario("in_tape", spec.target, list(case.args), dict(case.kwargs), is_loss, params, probes, x, t,
                        case=description, method=f"{name}.get_input_gradients")
    got, want = scenario.both(student, reference)
    fed = "its two inputs" if is_loss else "its input"
    contract = [
        ("recorded", f"{name}(...) under a tape must record previous_layers[id(output)] = the layer (the given "
                     f"Diffable.__call__ does it): does {name} override __call__, or replace its output?",
         f"{name}.__call__", ""),
        ("inputs_kept", f"after {name}(...), {name}.inputs must be the list of the tensors it was called with (the "
                        f"given Diffable.__call__ stores it): {name}.call must not assign self.inputs", f"{name}.call",
         ""),
        ("returned_input", f"{name}.call returned the array it was given instead of a new one (so the tape cannot "
                           "tell them apart)", f"{name}.call", IN_PLACE),
        ("changed_by_forward", f"{name}.call changed {fed} in place", f"{name}.call", IN_PLACE),
        ("changed_by_backward", f"{name}'s backward (get_*_gradients or compose_*) changed {fed} in place",
         f"{name}.get_input_gradients", IN_PLACE),
    ]
    for key, summary, method, mistake in contract:
        if got.get(key) != want[key]:
            scenario.fail(summary, method=method, blame=CONTRACT, mistake=mistake)
    grads = gradient_list(scenario, got["grads"], len(names), "the probe tape's gradient")
    dtype = precision_of(got["loss"], *[g for g in grads if isinstance(g, np.ndarray)], names=got.get("dtypes"))
    if half_precision(got.get("dtypes")):
        scenario.fail(f"{name} computes in half precision (float16): SPEC asks for float32 or float64 (its output "
                      "or its weights are float16)", method=f"{name}.call")
    expect(scenario, got["loss"], want["loss"], f"the loss at the end of the chain ({describe(got['loss'])}) differs "
           f"from the reference: {name}'s forward", dtype=dtype, method=f"{name}.call", blame=FORWARD)
    shapes = got.get("source_shapes") if isinstance(got.get("source_shapes"), list) else want["source_shapes"]
    for source, g, w, method, shape in zip(names, grads, want["grads"], methods, shapes):
        judge_gradient(scenario, source, g, w, dtype, method, shape=shape)
