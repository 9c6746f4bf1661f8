"""Scenarios of the beras checks: the code a student would write to try a class.

Each function builds one class of the student's (or the reference's) beras
around the probes of `beras_probes`, runs it, and returns plain data: arrays,
numbers, bools, strings, None, and lists or dicts of them. The judge runs the
same function on both engines and compares (`harness.play`); it validates
everything that comes back, which here is only ever untrusted data.

Each scenario clears `beras.core.Diffable.gradient_tape` before and after,
so that one broken tape cannot make later scenarios fail with "Cannot nest
gradient tapes".
"""

import contextlib
import sys
from types import SimpleNamespace

import numpy as np

from .beras_probes import kit, layer


@contextlib.contextmanager
def no_tape_left():
    """Diffable.gradient_tape is None before and after the block, whatever happens in it."""
    core = kit().core
    core.Diffable.gradient_tape = None
    try:
        yield core
    finally:
        core.Diffable.gradient_tape = None


def copy(value):
    """A plain ndarray copy of an array-like, its dtype kept (what it held at this moment)."""
    return np.array(value)


def gradients(value):
    """The list a tape or compose_* returned, as plain data (or a note of what it was)."""
    if isinstance(value, (list, tuple)):
        return [None if g is None else copy(g) if _numeric(g) else f"<{type(g).__name__}>" for g in value]
    return f"<{type(value).__name__}>"


def _numeric(value):
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except Exception:
        return False


def dtype_names(*arrays):
    """The dtypes of the arrays the student's code stored, returned or computed (for tolerances)."""
    names = []
    for a in arrays:
        try:
            names.append(np.asarray(a).dtype.str)
        except Exception:
            pass
    return names


# ====================================================================== optimizers


def optimizer_steps(cls, kwargs, params, steps):
    """`cls(**kwargs).apply_gradients(params, grads)` once per step of `steps`, the same
    Variables each time; after each step, what the Variables and the gradients hold."""
    import beras.optimizers

    k = kit()
    optimizer = getattr(beras.optimizers, cls)(**kwargs)
    variables = [k.variable(p) for p in params]
    spare = k.variable(np.ones((2, 3)))  # a Variable not given to the optimizer
    after, grads_after, replaced = [], [], False
    for grads in steps:
        given = [np.array(g, dtype=np.float64) for g in grads]
        passed = list(variables)
        optimizer.apply_gradients(passed, list(given))
        # A new array put in the list's place (params[i] = ...) instead of an update in place.
        replaced = replaced or any(a is not b for a, b in zip(passed, variables))
        after.append([copy(v) for v in variables])
        grads_after.append([copy(g) for g in given])
    return {"after": after, "grads_after": grads_after, "spare": copy(spare), "replaced": replaced}


# ====================================================================== the tape


def tape_graph(graph, weights, x, y):
    """The student's GradientTape over probe layers; `graph` names the wiring:

    chain:        loss(squash(bend(wave(x))), y)
    fan-out:      h = wave1(x); loss(bend(h), squash(wave2(h)))  (h is used twice, at two depths)
    weight input: loss(wave(x), bend(wave.w))                    (a weight that is also an input)
    disconnected: loss(wave(x), y), with squash(x) computed and left unused, a layer never
                  called, and a Tensor never used
    """
    import beras.gradient_tape

    k = kit()
    with no_tape_left() as core:
        xv, yv = core.Tensor(x), core.Tensor(y)
        loss_fn = k.Cauchy()
        tape = beras.gradient_tape.GradientTape()
        if graph == "chain":
            wave, bend, squash = layer("wave", weights[0]), layer("bend", weights[1]), layer("squash", weights[2])
            with tape:
                loss = loss_fn(squash(bend(wave(xv))), yv)
            sources = [xv, wave.w, bend.w, squash.w]
        elif graph == "fan-out":
            wave1, bend = layer("wave", weights[0]), layer("bend", weights[1])
            wave2, squash = layer("wave", weights[2]), layer("squash", weights[3])
            with tape:
                h = wave1(xv)
                loss = loss_fn(bend(h), squash(wave2(h)))
            sources = [xv, wave1.w, bend.w, wave2.w, squash.w]
        elif graph == "weight input":
            wave, bend = layer("wave", weights[0]), layer("bend", weights[1])
            with tape:
                loss = loss_fn(wave(xv), bend(wave.w))
            sources = [xv, wave.w, bend.w]
        elif graph == "disconnected":
            wave, squash, never = layer("wave", weights[0]), layer("squash", weights[1]), layer("bend", weights[2])
            unused = core.Tensor(np.array(x))
            with tape:
                loss = loss_fn(wave(xv), yv)
                squash(xv)
            sources = [wave.w, squash.w, never.w, unused, xv, yv]
        else:
            raise ValueError(graph)
        grads = tape.gradient(loss, sources)
    return {"loss": copy(loss), "grads": gradients(grads)}


def tape_lifecycle(w, x, y):
    """`with GradientTape() as t`: what __enter__ returns and sets, what __exit__ clears,
    a second tape entered inside the block, and t.gradient called after the block."""
    import beras.gradient_tape

    GradientTape = beras.gradient_tape.GradientTape
    k = kit()
    with no_tape_left() as core:
        wave, loss_fn, xv = layer("wave", w), k.Cauchy(), core.Tensor(x)
        tape = GradientTape()
        with tape as entered:
            active = core.Diffable.gradient_tape is tape
            loss = loss_fn(wave(xv), y)
            try:
                GradientTape().__enter__()
                nested = None
            except Exception as error:  # the type is compared with the reference's
                nested = type(error).__name__
            core.Diffable.gradient_tape = tape  # as it was, if the second tape took over
        cleared = core.Diffable.gradient_tape is None
        grads = tape.gradient(loss, [xv, wave.w])
    return {"returns_self": entered is tape, "active": active, "cleared": cleared, "nested": nested,
            "grads": gradients(grads)}


# ====================================================================== core (given code)


def tensor_semantics(x):
    """Tensor(x), Variable(x), and views and ufuncs of a Tensor whose trainable is False."""
    import beras.core as core

    t = core.Tensor(x)
    v = core.Variable(x)
    out = {
        "tensor": copy(t), "is_tensor": isinstance(t, core.Tensor) and isinstance(t, np.ndarray),
        "trainable": t.trainable is True, "variable": copy(v),
        "variable_is_tensor": isinstance(v, core.Tensor), "variable_trainable": v.trainable is True,
    }
    t.trainable = False
    derived = {"t[1]": t[1], "t[:, 1:]": t[:, 1:], "t.reshape(-1)": t.reshape(-1), "t.T": t.T,
               "np.exp(t)": np.exp(t), "t + 1": t + 1.0}
    out["derived"] = {
        name: {"value": copy(d), "is_tensor": isinstance(d, core.Tensor), "trainable": _flag(d)}
        for name, d in derived.items()
    }
    return out


def _flag(obj):
    """obj.trainable when it is a bool, else a note of what it is."""
    flag = getattr(obj, "trainable", None)
    return flag if isinstance(flag, bool) else f"<{type(flag).__name__}>"


def callable_call(x):
    """A Callable whose call returns a plain ndarray, called as c(x, scale=2.0)."""
    import beras.core as core

    value = kit().BareCallable()(x, scale=2.0)
    return {"value": copy(value), "is_tensor": isinstance(value, core.Tensor)}


def weighted_flags(weights):
    """trainable, its setter, trainable_variables and non_trainable_variables of a Weighted."""
    obj = kit().BareWeighted(weights)
    w = obj.weights
    out = {"trainable_0": _flag(obj), "n_trainable_0": len(obj.trainable_variables),
           "n_frozen_0": len(obj.non_trainable_variables)}
    obj.trainable = False
    out.update({"flags_1": [v.trainable is True for v in w], "trainable_1": _flag(obj),
                "n_trainable_1": len(obj.trainable_variables), "n_frozen_1": len(obj.non_trainable_variables)})
    w[1].trainable = True
    trainable = obj.trainable_variables
    out.update({"trainable_2": _flag(obj), "n_trainable_2": len(trainable),
                "is_w1": len(trainable) == 1 and trainable[0] is w[1],
                "frozen_is_w0": [v is w[0] for v in obj.non_trainable_variables]})
    return out


def diffable_records(x, x2):
    """Probes relying on the given Diffable.__call__, called while Diffable.gradient_tape is a
    bare recorder (any object with previous_layers), then once more with no tape."""
    k = kit()
    with no_tape_left() as core:
        recorder = SimpleNamespace(previous_layers={})
        single, pair = k.Bare(), k.BarePair()
        xv = core.Tensor(x)
        core.Diffable.gradient_tape = recorder
        h = single(xv)
        c = pair(h, b=xv)
        d = pair(b=h, a=xv)
        core.Diffable.gradient_tape = None
        recorded = dict(recorder.previous_layers)
        out = {
            "single_recorded": recorded.get(id(h)) is single,
            "pair_recorded": recorded.get(id(c)) is pair and recorded.get(id(d)) is pair,
            "entries": len(recorded),
            "single_inputs": isinstance(single.inputs, list) and len(single.inputs) == 1 and single.inputs[0] is xv,
            "single_outputs": isinstance(single.outputs, list) and len(single.outputs) == 1 and single.outputs[0] is h,
            "pair_inputs": isinstance(pair.inputs, list) and [id(v) for v in pair.inputs] == [id(xv), id(h)],
            "pair_input_dict": isinstance(pair.input_dict, dict) and set(pair.input_dict) == {"a", "b"}
            and pair.input_dict["a"] is xv and pair.input_dict["b"] is h,
            "single_output": copy(h),
        }
        h2 = single(x2)
        out["outside_not_recorded"] = id(h2) not in recorder.previous_layers
        out["last_inputs"] = [copy(v) for v in single.inputs] if isinstance(single.inputs, list) else "<not a list>"
    return out


def diffable_compose(x, cases):
    """Diffable.compose_*_gradients of probes whose local gradients are the given arrays.

    cases: (kind, inputs, weights, local gradients, J); `inputs` are the arrays stored as
    the probe's inputs, `weights` the shapes of its weights."""
    k = kit()
    results = []
    for kind, inputs, weight_shapes, local, J in cases:
        probe = k.Bare(weights=[np.zeros(s) for s in weight_shapes], input_gradients=local if kind == "input" else (),
                       weight_gradients=local if kind == "weight" else ())
        probe.inputs = [np.array(v) for v in inputs]
        composed = getattr(probe, f"compose_{kind}_gradients")(J)
        results.append(gradients(composed))
    return results


# ====================================================================== Dense


def dense_weights(n_in, n_out, names):
    """For each initializer: what Dense(n_in, n_out, initializer).weights is (a list of how many,
    their shapes, whether they are Tensors), the spread of w, nonzero counts."""
    import beras.core as core
    import beras.layers

    out = {}
    for seed, name in enumerate(names):
        np.random.seed(100 + seed)
        weights = beras.layers.Dense(n_in, n_out, initializer=name).weights
        if not isinstance(weights, (list, tuple)):
            out[name] = {"kind": f"<{type(weights).__name__}>"}
            continue
        out[name] = {"kind": "list", "shapes": [list(np.shape(v)) for v in weights],
                     "is_tensor": [isinstance(v, core.Tensor) for v in weights]}
        if len(weights) == 2:
            w, b = weights
            out[name].update({"w_std": float(np.std(w)), "w_mean": float(np.mean(w)),
                              "w_nonzero": int(np.count_nonzero(w)), "b_nonzero": int(np.count_nonzero(b))})
    return out


# ====================================================================== a class inside a tape


def _target_class(target):
    import importlib

    module, _, name = target.rpartition(".")
    return getattr(importlib.import_module(module), name)


def in_tape(target, args, kwargs, is_loss, params, probe_weights, x, t):
    """The class `target` where it lives: inside a tape, between probe layers, composed by a
    probe tape (`kit().chain_tape_class()`), so only the class itself is on trial: where it
    inherits `__call__` or `compose_*` from the given Diffable, the given code's semantics are
    used (`given_call`, `compose`), so a change to the given code costs Diffable's checks only.

    A layer:  loss(bend(X(wave(x))), t); sources x, wave.w, X's weights, bend.w.
    A loss:   X(squash1(x), squash2(t)); sources x, squash1.w, t, squash2.w (y_pred and y_true
              both in [0.1, 0.9]: probabilities and soft labels, away from any clipping).
    X's weights are set by writing into the arrays `X.weights` returns."""
    k = kit()
    tape = k.chain_tape_class()()
    with no_tape_left() as core:
        X = _target_class(target)(*args, **kwargs)
        weights = list(X.weights) if params else []
        for w, value in zip(weights, params):
            w[...] = value
        xv, tv = core.Tensor(x), core.Tensor(t)
        if is_loss:
            before, after = layer("squash", probe_weights[0]), layer("squash", probe_weights[1])
            with tape:
                h = before(xv)
                label = after(tv)
                kept = [copy(h), copy(label)]
                out = k.given_call(X, h, label)
                loss = out
            fed = [h, label]
            sources = [xv, before.w, tv, after.w]
        else:
            before, after = layer("wave", probe_weights[0]), layer("bend", probe_weights[1])
            loss_fn = k.Cauchy()
            with tape:
                h = before(xv)
                kept = [copy(h)]
                out = k.given_call(X, h)
                loss = loss_fn(after(out), tv)
            fed = [h]
            sources = [xv, before.w, *weights, after.w]
        inputs = getattr(X, "inputs", None)
        report = {
            "recorded": tape.previous_layers[id(out)] is X,
            "inputs_kept": isinstance(inputs, (list, tuple)) and len(inputs) >= len(fed)
            and all(a is b for a, b in zip(inputs, fed)),
            "returned_input": any(out is f for f in fed),
            "changed_by_forward": [not np.array_equal(copy(f), c) for f, c in zip(fed, kept)],
            "loss": copy(loss),
        }
        report["source_shapes"] = [list(np.shape(s)) for s in sources]
        report["dtypes"] = dtype_names(out, *weights)
        if not report["recorded"] or not report["inputs_kept"] or report["returned_input"]:
            # No tape can go through X (an output that is its own input makes a cycle the
            # probe tape would follow forever): the judge says why, no gradient to take.
            return report
        grads = tape.gradient(loss, sources)
        report["changed_by_backward"] = [not np.array_equal(copy(f), c) for f, c in zip(fed, kept)]
        report["grads"] = gradients(grads)
    return report


# ====================================================================== SequentialModel


@contextlib.contextmanager
def probe_tape_in_beras(tape_class):
    """Every name in the beras package that is bound to the student's GradientTape class
    (`beras.model.GradientTape`, `beras.GradientTape`, aliases) is bound to `tape_class`
    while the block runs, so the model's steps take the probe tape's gradients."""
    import beras.gradient_tape

    original = getattr(beras.gradient_tape, "GradientTape", None)
    swapped = []
    if original is not None:
        for name, module in list(sys.modules.items()):
            if module is None or not (name == "beras" or name.startswith("beras.")):
                continue
            for attribute, value in list(vars(module).items()):
                if value is original:
                    swapped.append((module, attribute))
                    setattr(module, attribute, tape_class)
    try:
        yield
    finally:
        for module, attribute in swapped:
            setattr(module, attribute, original)


MODEL_LAYERS = ("wave", "bend", "squash")


def _plain_result(value):
    """What batch_step / evaluate / fit / call returned, as plain data (Tensors become arrays)."""
    if isinstance(value, dict):
        return {str(key): _plain_result(v) for key, v in value.items()} if all(isinstance(k, str) for k in value) \
            else f"<a dict with keys {sorted(map(repr, value))}>"
    if isinstance(value, (list, tuple)):
        return [_plain_result(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (np.ndarray, np.generic)) and _numeric(value):
        return np.array(value)
    return f"<{type(value).__name__}>"


def model_run(weights, x, y, actions, learning_rate=0.5, frozen=()):
    """A SequentialModel of the probe layers wave, bend, squash (weights `weights`),
    compiled with a probe optimizer (plain SGD), loss and metric, and with the probe tape
    bound to the name GradientTape in beras; then each action (method, args, kwargs) in turn.

    `frozen`: indices of layers whose weight has trainable = False. After each action: what
    it returned, the weights and their trainable flags, the optimizer steps it took (the
    indices of the weights each was given), the probe loss's and metric's calls and the
    optimizer's steps in order, how often the probe tape was entered, whether the arrays given
    to the method are untouched, and the loss on all of (x, y) computed by the probes alone."""
    import beras.model

    k = kit()
    layers = [layer(kind, w) for kind, w in zip(MODEL_LAYERS, weights)]
    for i in frozen:
        layers[i].w.trainable = False
    probe_weights = [p.w for p in layers]
    log = []
    optimizer = k.PlainSGD(learning_rate, log)
    tape_class = k.chain_tape_class()
    with no_tape_left():
        model = beras.model.SequentialModel(layers)
        model.compile(optimizer, k.Cauchy(log), k.Closeness(log))
        out = []
        for method, args, kwargs in actions:
            del log[:]
            steps_before, tapes_before = len(optimizer.steps), len(tape_class.used)
            given = [(a, np.array(a)) for a in args if isinstance(a, np.ndarray)]
            with probe_tape_in_beras(tape_class):
                result = getattr(model, method)(*args, **kwargs)
            out.append({
                "result": _plain_result(result),
                "weights": [copy(w) for w in probe_weights],
                "flags": [w.trainable is True for w in probe_weights],
                "steps": [[_index_of(p, probe_weights) for p in params] for params, _ in optimizer.steps[steps_before:]],
                "log": [list(event) for event in log],
                "tapes": len(tape_class.used) - tapes_before,
                "data_untouched": all(np.array_equal(a, kept) for a, kept in given),
                "data_loss": _probe_loss(layers, x, y),
            })
    return out


def probe_task(teacher, start, x):
    """A task for the probe model: labels y = the probe layers with the `teacher` weights on x,
    and the loss on (x, y) of the probe layers with the `start` weights (no model involved)."""
    y = x
    for kind, w in zip(MODEL_LAYERS, teacher):
        y = layer(kind, w).call(y)
    return {"y": copy(y), "start_loss": _probe_loss([layer(kind, w) for kind, w in zip(MODEL_LAYERS, start)], x, y)}


def _index_of(obj, items):
    return next((i for i, item in enumerate(items) if item is obj), -1)


def _probe_loss(layers, x, y):
    """The probe loss of the probe layers on (x, y), computed without the model."""
    h = np.asarray(x, dtype=np.float64)
    for p in layers:
        h = p.f(h, np.asarray(p.w, dtype=np.float64))
    return float(kit().Cauchy.value(h, y))


# ====================================================================== OneHotEncoder, CategoricalAccuracy


def onehot(fit_labels, labels, one_hot):
    """fit, call, inverse of rows, inverse of call (labels given as lists: numbers or str)."""
    import beras.onehot

    encoder = beras.onehot.OneHotEncoder()
    given = [np.array(fit_labels), np.array(labels), np.array(one_hot)]
    kept = [np.array(a) for a in given]
    encoder.fit(given[0])
    encoded = encoder(given[1])
    decoded = encoder.inverse(given[2])
    roundtrip = encoder.inverse(np.array(encoded))

    def listed(values):
        return [v.item() if isinstance(v, np.generic) else v for v in np.asarray(values).tolist()]

    return {"encoded": copy(encoded), "decoded": listed(decoded), "roundtrip": listed(roundtrip),
            "untouched": [bool(np.array_equal(a, b)) for a, b in zip(given, kept)]}


def accuracy(cases):
    """CategoricalAccuracy()(probs, labels) for each (probs, labels); whether the arrays given are untouched."""
    import beras.metrics

    metric = beras.metrics.CategoricalAccuracy()
    values, untouched = [], True
    for probs, labels in cases:
        kept = (np.array(probs), np.array(labels))
        values.append(_plain_result(metric(probs, labels)))
        untouched = untouched and np.array_equal(probs, kept[0]) and np.array_equal(labels, kept[1])
    return {"values": values, "untouched": bool(untouched)}


def crossentropy_values(cases):
    """CategoricalCrossentropy()(y_pred, y_true) for each (y_pred, y_true); whether the arrays given are untouched."""
    import beras.losses

    values, untouched = [], True
    for y_pred, y_true in cases:
        kept = (np.array(y_pred), np.array(y_true))
        values.append(_plain_result(beras.losses.CategoricalCrossentropy()(y_pred, y_true)))
        untouched = untouched and np.array_equal(y_pred, kept[0]) and np.array_equal(y_true, kept[1])
    return {"values": values, "untouched": bool(untouched)}
