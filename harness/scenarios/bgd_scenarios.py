"""Scenarios of the bgd checks: plain Python a student could write to try a
class, run in the sandbox on the student's engine and on the reference's
(`harness.play.play_both`). Each returns plain data (arrays copied when they
were returned, numbers, None, lists, dicts); the checks validate it.

Scenarios that need classes other than the one checked use the probes of
`bgd_probes` (layers, a cost and an optimizer of the harness's own).
"""

import importlib

import numpy as np


def _class(dotted):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def snap(value, depth=0):
    """`value` as plain data, arrays copied NOW (later calls may change them)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            return np.array(value, copy=True, subok=False)
        return f"<array of dtype {value.dtype}>"
    if isinstance(value, (list, tuple)) and depth < 4:
        return [snap(v, depth + 1) for v in value]
    return f"<{type(value).__name__} object>"


def build(target, args=(), kwargs=None, params=None):
    """The student's `target(*args, **kwargs)`, its parameters set by writing
    into the arrays get_parameters() returns (`p[...] = value`, SPEC 4)."""
    layer = _class(target)(*args, **(kwargs or {}))
    if params:
        for p, value in zip(layer.get_parameters(), params):
            p[...] = value
    return layer


# ===================================================================== the given Layer base


def base_update_parameters(freq, scale, shift, steps):
    """A probe on the given base; update_parameters called once per step:
    the arrays get_parameters() returned first, read after every step."""
    from .bgd_probes import Wave

    layer = Wave(freq, scale, shift)
    kept = layer.get_parameters()
    after = {}
    for step, deltas in enumerate(steps, 1):
        layer.update_parameters(tuple(deltas))
        after[f"after step {step}"] = [snap(p) for p in kept]
    return after


def base_forward_records(freq, scale, shift, X):
    """What forward keeps, for each combination of save_input / save_output,
    and whether a saved output that is a view of the input is copied."""
    from .bgd_probes import Mirror, Wave

    records = {}
    for save_input in (True, False):
        for save_output in (True, False):
            layer = Wave(freq, scale, shift, save_input=save_input, save_output=save_output)
            out = layer.forward(X)
            records[f"save_input={save_input}, save_output={save_output}"] = {
                "output": snap(out),
                "input_shape": snap(layer.input_shape),
                "current_input": snap(layer.current_input),
                "current_output": snap(layer.current_output),
            }
    for copy in (False, True):
        layer = Mirror(copy=copy)  # its output is a view of its input
        X_own = np.array(X)
        layer.forward(X_own)
        saved = layer.current_output
        records[f"copy={copy}, output a view of the input"] = {
            "current_output shares memory with the input": bool(np.may_share_memory(saved, X_own))
            if isinstance(saved, np.ndarray) else None
        }
    return records


def base_propagation(freq, scale, shift, X, E):
    """Backward of probes on the given base, with propagation on, off, on."""
    from .bgd_probes import Mirror, Wave

    result = {}
    for name, layer in (("a layer without parameters", Mirror()), ("a learnable layer", Wave(freq, scale, shift))):
        layer.forward(X)
        steps = {"learnable()": snap(layer.learnable()), "backward, propagation on": snap(layer.backward(E))}
        layer.deactivate_propagation()
        steps["propagate after deactivate_propagation()"] = snap(layer.propagate)
        steps["backward, propagation off"] = snap(layer.backward(E))
        layer.activate_propagation()
        steps["propagate after activate_propagation()"] = snap(layer.propagate)
        steps["backward, propagation on again"] = snap(layer.backward(E))
        result[name] = steps
    return result


# ===================================================================== layers


def propagation_off(target, args, kwargs, params, X, E):
    """forward, then backward with propagation off, then on again."""
    layer = build(target, args, kwargs, params)
    layer.forward(X)
    layer.deactivate_propagation()
    off = snap(layer.backward(E))
    layer.activate_propagation()
    on = snap(layer.backward(E))
    return {"off": off, "on": on}


def update_in_place(target, args, kwargs, params, steps, X):
    """Apply deltas step after step with the layer's own update_parameters
    (or, when it inherits the given base's, as that base does: `p -= d` in
    the arrays get_parameters() returns), then read the arrays kept from
    before, the layer's forward, and that of a new layer given their values."""
    from bgd.layers.layer import Layer

    layer = build(target, args, kwargs, params)
    kept = list(layer.get_parameters())
    overrides = getattr(type(layer), "update_parameters", None) is not Layer.update_parameters
    before = snap(layer.forward(X))
    for deltas in steps:
        if overrides:
            layer.update_parameters(tuple(deltas))
        else:
            for p, d in zip(layer.get_parameters(), deltas):
                p -= d
    values = [snap(p) for p in kept]
    out = snap(layer.forward(X))
    twin = build(target, args, kwargs, values)
    return {"overrides": overrides, "kept": values, "before": before, "out": out, "twin_out": snap(twin.forward(X))}


def forwards_then_backward(target, args, kwargs, params, inputs, E):
    """Several forward passes then one backward, against a new layer that saw
    only the last input: (output, backward) of each."""
    layer = build(target, args, kwargs, params)
    for X in inputs[:-1]:
        layer.forward(X)
    out = snap(layer.forward(inputs[-1]))
    back = snap(layer.backward(E))
    fresh = build(target, args, kwargs, params)
    fresh_out = snap(fresh.forward(inputs[-1]))
    fresh_back = snap(fresh.backward(E))
    return {"after_several": [out, back], "fresh": [fresh_out, fresh_back]}


def layer_backward(target, args, kwargs, params, X, E):
    """(output, backward) of a new layer."""
    layer = build(target, args, kwargs, params)
    out = snap(layer.forward(X))
    return {"out": out, "back": snap(layer.backward(E))}


def cost_calls(target, pairs):
    """eval and grad on each (y, y_hat) in turn, against a new cost's on the last pair."""
    cost = _class(target)()
    for y, y_hat in pairs[:-1]:
        cost.eval(y, y_hat)
        cost.grad(y, y_hat)
    y, y_hat = pairs[-1]
    fresh = _class(target)()
    return {"after_several": [snap(cost.eval(y, y_hat)), snap(cost.grad(y, y_hat))],
            "fresh": [snap(fresh.eval(y, y_hat)), snap(fresh.grad(y, y_hat))]}


# ===================================================================== Dropout


def dropout_forwards(keep_proba, X, seed, count):
    """`count` forward passes of a new Dropout (np.random seeded first)."""
    np.random.seed(seed)
    layer = _class("bgd.layers.dropout.Dropout")(keep_proba)
    return [snap(layer.forward(X)) for _ in range(count)]


def dropout_backward(keep_proba, inputs, E, seed):
    """Forward passes on `inputs`, then backward: the last output and the signal."""
    np.random.seed(seed)
    layer = _class("bgd.layers.dropout.Dropout")(keep_proba)
    for X in inputs[:-1]:
        layer.forward(X)
    out = snap(layer.forward(inputs[-1]))
    return {"out": out, "back": snap(layer.backward(E))}


def dropout_switch(X, E, seed):
    """deactivate(): forward, backward; activate(): two forward passes."""
    np.random.seed(seed)
    layer = _class("bgd.layers.dropout.Dropout")(0.5)
    layer.deactivate()
    off = {"out": snap(layer.forward(X)), "back": snap(layer.backward(E))}
    layer.activate()
    return {"off": off, "on": [snap(layer.forward(X)), snap(layer.forward(X))]}


def dropout_untouched(keep_proba, X, E, seed):
    """forward(X), backward(E); are X and E as they were?"""
    np.random.seed(seed)
    layer = _class("bgd.layers.dropout.Dropout")(keep_proba)
    X_own, E_own = np.array(X), np.array(E)
    out = snap(layer.forward(X_own))
    back = snap(layer.backward(E_own))
    return {"out": out, "back": back, "input_kept": bool(np.array_equal(X_own, X)),
            "error_kept": bool(np.array_equal(E_own, E))}


# ===================================================================== optimizers


def optimizer_run(target, kwargs, params, steps, extra_update=False):
    """Probe layers holding `params`; per step, each layer's gradients queued
    then one update(). The parameters after every step and how many times
    each layer's update_parameters ran; with `extra_update`, one more update()
    with nothing queued."""
    from .bgd_probes import Bank

    layers = [Bank(*values) for values in params]
    optimizer = _class(target)(**kwargs)
    after, calls = [], []
    rounds = list(steps) + ([None] if extra_update else [])
    for grads in rounds:
        for layer, layer_grads in zip(layers, grads or ()):
            optimizer.add_gradient_fragments(layer, tuple(layer_grads))
        try:
            optimizer.update()
        except ValueError as error:
            if "read-only" not in str(error):
                raise
            return {"wrote_directly": str(error)}
        after.append([layer.values() for layer in layers])
        calls.append([layer.updates for layer in layers])
    return {"after": after, "calls": calls, "dtypes": sorted(set().union(*(layer.delta_dtypes for layer in layers)))}


# ===================================================================== NeuralStack


def _probe_stack(params, journal, learning_rate=0.1):
    """A NeuralStack of Shift(4) -> Scale(4) -> Fold(4 -> 2) -> Shift(2), with
    the LogCosh cost and the SGD optimizer added in between the layers."""
    from .bgd_probes import SGD, Fold, LogCosh, Scale, Shift

    (a1, b1), (s,), (a2, b2) = params
    layers = [Shift(a1, b1, journal), Scale(s, journal), Fold(journal), Shift(a2, b2, journal)]
    net = _class("bgd.nn.NeuralStack")()
    net.add(layers[0])
    net.add(LogCosh(journal))
    net.add(layers[1])
    net.add(SGD(learning_rate, journal))
    net.add(layers[2])
    net.add(layers[3])
    return net, layers


def _predict(layers, X):
    out = np.asarray(X, dtype=np.float64)
    for layer in layers:
        out = layer.compute(out)
    return out


def probe_prediction(params, X):
    """The output of the probe stack with `params` (the probes alone, no NeuralStack)."""
    from .bgd_probes import Fold, Scale, Shift

    (a1, b1), (s,), (a2, b2) = params
    return _predict([Shift(a1, b1), Scale(s), Fold(), Shift(a2, b2)], X)


def stack_eval(params, X):
    """eval(X) of a stack of probes; the probes' own composition beside it."""
    journal = []
    net, layers = _probe_stack(params, journal)
    composed = _predict(layers, X)
    X_own = np.array(X)
    out = snap(net.eval(X_own))
    return {"out": out, "composed": composed, "input_kept": bool(np.array_equal(X_own, X))}


def stack_train(params, X, y, epochs, batch_size, learning_rate, seed):
    """train() a stack of probes (np.random seeded first): what it returned,
    what the cost and the optimizer were asked (in order), the parameters
    after training, and the cost of the probes' own prediction before and after."""
    from .bgd_probes import LogCosh

    np.random.seed(seed)
    journal = []
    net, layers = _probe_stack(params, journal, learning_rate)
    index = {id(layer): i for i, layer in enumerate(layers)}
    before = LogCosh.value(y, _predict(layers, X))
    X_own, y_own = np.array(X), np.array(y)
    losses = snap(net.train(X_own, y_own, epochs, batch_size))
    inputs_kept = bool(np.array_equal(X_own, X) and np.array_equal(y_own, y))
    after = LogCosh.value(y, _predict(layers, X))
    events = []
    for event in journal:
        if event[0] == "cost":
            events.append(["cost", event[1]])
        elif event[0] == "update":
            events.append(["update", [[index.get(key, -1), grads] for key, grads in event[1]]])
    return {
        "losses": losses,
        "events": events,
        "parameters": [layer.values() for layer in layers],
        "before": before,
        "after": after,
        "inputs_kept": inputs_kept,
    }
