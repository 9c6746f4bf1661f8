"""Properties the bgd checks judge on a scenario played on the student's engine alone.

Where a check cannot compare with the reference (Dropout's masks are random,
an untouched input is a relation), it plays a scenario of `bgd_scenarios`
on the student's engine and judges what came back with a function of this
module: `property(the scenario's value, *arguments) -> problems`, a list of
dicts ("summary", "method", and optionally "mistake", "hints"), [] when the
property holds. The check calls it in the judge (`harness.play.judge`: the
first problem fails the check), and the check's reproducer script, which
replays the scenario on the student's code, calls the same function (this
module is copied into the script) and asserts it finds nothing.

Rules: pure functions of plain data (arrays, numbers, str, bool, None,
lists and dicts), NumPy and the standard library only, no import of the
harness or of the graded packages: this file runs in the judge on untrusted
data, in the student's reproducer script, and is copied into the sandbox
with the rest of the package. Anything unexpected in the data is a problem
to report, never an exception.
"""

import numpy as np

SIGMAS = 6.0  # statistical properties of dropout: correct code fails once in ~5e8 runs
IN_PLACE, STATE, SHAPE, SCALE, MASK = "in-place", "state", "shape", "scale", "mask"  # SPEC 5's mistakes


def problem(summary, method, mistake="", hints=(), worst=()):
    """One problem found: what is wrong, the student's method at fault, the recognised
    mistake, hints, and the largest errors [(index, got, expected)] when values differ."""
    return {"summary": summary, "method": method, "mistake": mistake, "hints": list(hints), "worst": list(worst)}


def largest_errors(got, expected, count=5):
    """[(index, got, expected)] of the `count` largest |got - expected| (same shapes)."""
    actual, wanted = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    errors = np.nan_to_num(np.abs(actual - wanted), nan=np.inf).ravel()
    return [(tuple(int(i) for i in np.unravel_index(flat, wanted.shape)), float(actual.flat[flat]),
             float(wanted.flat[flat])) for flat in np.argsort(-errors, kind="stable")[:count] if errors[flat] > 0]


def numeric(value, shape=None):
    """`value` as a float64 array when it is a real numeric array (of `shape`), else None."""
    if isinstance(value, (str, bytes, dict, bool)) or value is None:
        return None
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return None
    if array.dtype.kind not in "biuf" or (shape is not None and array.shape != tuple(shape)):
        return None
    return array.astype(np.float64)


def described(value):
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{value!r:.60}" if isinstance(value, str) else type(value).__name__


def tolerance_of(value):
    """(rtol, atol) of the precision `value` was computed in: float32's when it is
    a float of 32 bits or less, float64's otherwise."""
    kind = np.asarray(value).dtype
    return (1e-3, 1e-4) if kind.kind == "f" and kind.itemsize <= 4 else (1e-6, 1e-8)


def differs(got, expected, what):
    """A sentence saying where array `got` differs from `expected` beyond the
    tolerance of `got`'s precision, or "" when they agree."""
    actual, wanted = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if actual.shape != wanted.shape:
        return f"{what}: shape {actual.shape}, expected {wanted.shape}"
    rtol, atol = tolerance_of(got)
    scale = max(float(np.abs(wanted).max(initial=0.0)), 1.0)
    with np.errstate(invalid="ignore"):
        wrong = ~(np.abs(actual - wanted) <= rtol * np.abs(wanted) + atol * scale)
    if not wrong.any():
        return ""
    index = tuple(int(i) for i in np.argwhere(wrong)[0])
    return (f"{what}: {int(wrong.sum())} of {wanted.size} entries differ, the first at {list(index)}: "
            f"{actual[index]!r}, expected {wanted[index]!r}")


def constant_factor(got, expected):
    """A hint when `got` is `expected` times one constant in every entry (0.1 %), else ""."""
    actual, wanted = np.asarray(got, dtype=np.float64).ravel(), np.asarray(expected, dtype=np.float64).ravel()
    if actual.shape != wanted.shape or not np.any(wanted) or np.any((wanted == 0) & (actual != 0)):
        return ""
    ratios = actual[wanted != 0] / wanted[wanted != 0]
    c = float(np.median(ratios))
    if c == 1.0 or not np.all(np.abs(ratios - c) <= 1e-3 * abs(c)):
        return ""
    return f"a constant factor ~ {c:.4g} (actual ~ {c:.4g} x expected in every entry)"


def band(size, proba):
    """(low, high) of a Binomial(size, proba) count within SIGMAS."""
    mean, sd = size * proba, np.sqrt(size * proba * (1.0 - proba))
    return mean - SIGMAS * sd, mean + SIGMAS * sd


def signal_of(value):
    """The signal of what a bgd backward returned, (signal, gradients), or None."""
    return value[0] if isinstance(value, (list, tuple)) and len(value) == 2 else None


# ===================================================================== Dropout


def dropout_mask(value, X, keep_proba, what):
    """(problems, output, kept units) of a Dropout output of inputs `X` (no zeros):
    it must be finite, shaped like X, with about 1 - keep_proba of the units dropped."""
    y = numeric(value, np.shape(X))
    if y is None:
        return [problem(f"{what} is not a numeric array of shape {np.shape(X)} (got {described(value)})",
                        "Dropout.forward", SHAPE)], None, None
    if not np.isfinite(y).all():
        return [problem(f"{what} has NaN or inf", "Dropout.forward")], None, None
    kept = y != 0
    dropped = int((~kept).sum())
    low, high = band(y.size, 1.0 - keep_proba)
    if low <= dropped <= high:
        return [], y, kept
    hints = []
    if dropped == 0:
        hints.append("nothing was dropped: a new Dropout is active")
    elif dropped == y.size:
        hints.append("every unit was dropped (all zeros)")
    elif abs(dropped - y.size * keep_proba) <= SIGMAS * np.sqrt(y.size * keep_proba * (1 - keep_proba)):
        hints.append("about keep_proba of the units are dropped: keep_proba is the probability of KEEPING a unit")
    return [problem(f"{what}: dropped {dropped} of {y.size} units ({dropped / y.size:.1%}); with keep_proba {keep_proba} "
                    f"about {1 - keep_proba:.0%} should be (allowed: {low:.0f} to {high:.0f})", "Dropout.forward",
                    hints=hints)], None, None


def dropout_forwards(got, X, keep_proba):
    """Two forward passes of a new Dropout (`bgd_scenarios.dropout_forwards`): each
    drops about 1 - keep_proba of the units, divides the kept ones by keep_proba,
    and the two masks are independent draws."""
    method = "Dropout.forward"
    if not isinstance(got, (list, tuple)) or len(got) != 2:
        return [problem(f"the scenario returned {described(got)}, not the two outputs", method)]
    masks = []
    for which, value in zip(("first", "second"), got):
        problems, y, kept = dropout_mask(value, X, keep_proba, f"the {which} output")
        if problems:
            return problems
        masks.append(kept)
        wrong = differs(y[kept], np.asarray(X, dtype=np.float64)[kept] / keep_proba,
                        f"the units of the {which} output that Dropout.forward keeps are not the input divided by "
                        f"keep_proba = {keep_proba} (indices among the kept units)")
        if wrong:
            expected = np.asarray(X, dtype=np.float64)[kept] / keep_proba
            same_as_input = not differs(y[kept], np.asarray(X, dtype=np.float64)[kept], "")
            factor = constant_factor(y[kept], expected)
            hints = [factor] if factor else []
            if same_as_input:
                hints.append("the kept units are the input unchanged: inverted dropout divides them by keep_proba, so "
                             "that the output's mean stays the input's")
            return [problem(wrong, method, SCALE if same_as_input or factor else "", hints,
                            largest_errors(y[kept], expected))]
    both = int((masks[0] & masks[1]).sum())
    low, high = band(np.size(X), keep_proba * keep_proba)
    if low <= both <= high:
        return []
    identical = bool(np.array_equal(*masks))
    hint = ("the two forward passes kept exactly the same units: each forward must draw a new random mask (do not "
            "reseed the generator or reuse the first mask)") if identical else "the two masks are not independent draws"
    return [problem(f"two forward passes both kept {both} of {np.size(X)} units; independent masks keep about "
                    f"{np.size(X) * keep_proba * keep_proba:.0f} in both (allowed: {low:.0f} to {high:.0f})", method,
                    STATE if identical else "", [hint])]


def dropout_backward(got, X, E, keep_proba):
    """forward(X1), forward(X), backward(E) (`bgd_scenarios.dropout_backward`): the
    signal is E through the mask the last forward drew (its zeros: no input is
    0), divided by keep_proba."""
    method = "Dropout.backward"
    if not isinstance(got, dict):
        return [problem(f"the scenario returned {described(got)}", method)]
    problems, y, kept = dropout_mask(got.get("out"), X, keep_proba, "the output of the last forward")
    if problems:
        return problems
    back = got.get("back")
    if signal_of(back) is None and not (isinstance(back, (list, tuple)) and len(back) == 2):
        return [problem(f"Dropout.backward must return a pair (signal, gradients), got {described(back)}", method)]
    signal = numeric(signal_of(back), np.shape(E))
    if signal is None:
        return [problem(f"the signal of Dropout.backward is not a numeric array of shape {np.shape(E)} "
                        f"(got {described(signal_of(back))})", method, SHAPE)]
    E = np.asarray(E, dtype=np.float64)
    wrong = differs(signal_of(back), E * kept / keep_proba, "Dropout.backward's signal is not the error through the "
                    "last forward's mask divided by keep_proba")
    if not wrong:
        return []
    worst = largest_errors(signal, E * kept / keep_proba)
    if not differs(signal_of(back), E * kept, ""):
        return [problem(wrong, method, SCALE, ["the error goes through the mask but is not divided by keep_proba"],
                        worst)]
    if np.any((signal != 0) & ~kept):
        return [problem(wrong, method, MASK, ["the signal is not zero where the last forward dropped units: backward "
                                              "must reuse the mask of the last forward pass, not draw a new one"],
                        worst)]
    factor = constant_factor(signal, E * kept / keep_proba)
    return [problem(wrong, method, SCALE if factor else "", [factor] if factor else [], worst)]


def dropout_switch(got, X, E):
    """deactivate(), forward(X), backward(E), activate(), forward(X) twice
    (`bgd_scenarios.dropout_switch`): identity while off, dropping again once on."""
    if not isinstance(got, dict) or not isinstance(got.get("off"), dict) or not isinstance(got.get("on"), (list, tuple)):
        return [problem(f"the scenario returned {described(got)}", "Dropout.deactivate")]
    off = got["off"]
    out = numeric(off.get("out"), np.shape(X))
    if out is None:
        return [problem(f"forward's output after deactivate() is not a numeric array of shape {np.shape(X)} "
                        f"(got {described(off.get('out'))})", "Dropout.forward", SHAPE)]
    wrong = differs(off["out"], X, "after deactivate(), Dropout.forward is not the identity")
    if wrong:
        return [problem(wrong, "Dropout.forward")]
    signal = numeric(signal_of(off.get("back")), np.shape(E))
    if signal is None:
        return [problem(f"backward's signal after deactivate() is not a numeric array of shape {np.shape(E)} "
                        f"(got {described(signal_of(off.get('back')))})", "Dropout.backward", SHAPE)]
    wrong = differs(signal_of(off["back"]), E, "after deactivate(), Dropout.backward is not the identity")
    if wrong:
        return [problem(wrong, "Dropout.backward")]
    for which, value in zip(("first", "second"), got["on"]):
        y = numeric(value, np.shape(X))
        if y is None:
            return [problem(f"the {which} forward output after activate() is not a numeric array of shape "
                            f"{np.shape(X)} (got {described(value)})", "Dropout.activate", SHAPE)]
        if np.all(y != 0):
            return [problem(f"after deactivate() then activate(), the {which} forward drops no unit (of {y.size}): "
                            "activate() must switch dropout back on", "Dropout.activate")]
    return []


def dropout_untouched(got, X, E, keep_proba):
    """forward(X), backward(E) (`bgd_scenarios.dropout_untouched`): Dropout does its
    work (a mask drawn, a signal of E's shape) and leaves X and E as they were."""
    if not isinstance(got, dict):
        return [problem(f"the scenario returned {described(got)}", "Dropout.forward")]
    problems = dropout_mask(got.get("out"), X, keep_proba, "Dropout.forward output")[0]
    if problems:
        return problems  # it must do its work, not just leave X alone
    if numeric(signal_of(got.get("back")), np.shape(E)) is None:
        return [problem(f"backward's signal is not a numeric array of shape {np.shape(E)} "
                        f"(got {described(signal_of(got.get('back')))})", "Dropout.backward", SHAPE)]
    for key, name, method in (("input_kept", "input X", "Dropout.forward"), ("error_kept", "error E", "Dropout.backward")):
        if got.get(key) is not True:
            return [problem(f"Dropout changed the {name} in place (forward and backward must not modify what they "
                            "are given)", method, IN_PLACE)]
    return []


# ===================================================================== NeuralStack


def stack_eval_untouched(got, X, outputs):
    """eval(X) of a stack of probes (`bgd_scenarios.stack_eval`): it computes
    something ((N, `outputs`) not all zeros where the probes' own composition
    is not) and leaves X as it was."""
    method = "NeuralStack.eval"
    if not isinstance(got, dict):
        return [problem(f"the scenario returned {described(got)}", method)]
    out = numeric(got.get("out"), (len(X), outputs))
    if out is None:
        return [problem(f"NeuralStack.eval's output is not a numeric array of shape {(len(X), outputs)} "
                        f"(got {described(got.get('out'))})", method, SHAPE)]
    composed = numeric(got.get("composed"))
    if not np.any(out) and composed is not None and np.any(composed):
        return [problem("NeuralStack.eval's output is all zeros, and the reference's is not: nothing is computed",
                        method)]
    if got.get("input_kept") is not True:
        return [problem("NeuralStack.eval changed X in place", method, IN_PLACE)]
    return []


def stack_train_untouched(got):
    """train(X, y, ...) of a stack of probes (`bgd_scenarios.stack_train`): it
    trains (the optimizer's update() is called) and leaves X and y as they were."""
    method = "NeuralStack.train"
    events = got.get("events") if isinstance(got, dict) else None
    if not isinstance(events, list):
        return [problem(f"the scenario returned {described(got)}", method)]
    if not any(isinstance(event, (list, tuple)) and event and event[0] == "update" for event in events):
        return [problem("NeuralStack.train never called optimizer.update()", method)]
    if got.get("inputs_kept") is not True:
        return [problem("NeuralStack.train changed X or y in place (shuffle copies or indices, never the caller's "
                        "arrays)", method, IN_PLACE)]
    return []


def _close(a, b):
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def stack_train_losses(got, epochs, batches):
    """train(X, y, epochs, batch_size) of a stack of probes, `batches` batches an
    epoch (`bgd_scenarios.stack_train`): it returns the costs it computed, in
    order, one per batch; or one per epoch, each a cost computed in that epoch
    (or right after it), their mean or their sum."""
    method = "NeuralStack.train"
    events = got.get("events") if isinstance(got, dict) else None
    if not isinstance(events, list) or not all(isinstance(e, (list, tuple)) and len(e) == 2 for e in events):
        return [problem(f"the scenario returned {described(got)}", method)]
    value = got.get("losses")
    if isinstance(value, str) or not isinstance(value, (list, np.ndarray)):
        return [problem("NeuralStack.train must return a 1-D array (or list) of losses, got "
                        f"{value if isinstance(value, str) else type(value).__name__}", method)]
    losses = numeric(value)
    if losses is None or losses.ndim != 1:
        return [problem(f"NeuralStack.train must return a 1-D array of real numbers, got {described(value)}", method)]
    if len(losses) not in (epochs * batches, epochs):
        return [problem(f"NeuralStack.train returned {len(losses)} losses, expected {epochs * batches} (one per batch) "
                        f"or {epochs} (one per epoch)", method)]
    if not np.isfinite(losses).all():
        return [problem(f"NeuralStack.train returned NaN or inf losses: {losses.tolist()}", method)]
    costs = [float(e[1]) for e in events if e[0] == "cost"]
    if not costs:
        return [problem("train never called the cost's eval: the losses it returns are not the costs of the batches it "
                        "trained on", method)]
    if len(losses) == epochs * batches:  # one per batch: the costs train computed, in order
        position = 0
        for number, loss in enumerate(losses):
            while position < len(costs) and not _close(loss, costs[position]):
                position += 1
            if position == len(costs):
                return [problem(f"loss {number} that train returned ({loss:.6g}) is not a cost train computed in that "
                                f"order (the costs it computed: {[round(c, 6) for c in costs[:12]]}...)", method)]
            position += 1
        return []
    # One per epoch: a cost computed in that epoch (or right after it), a mean of them, or their sum.
    updates = [i for i, event in enumerate(events) if event[0] == "update"]
    for epoch, loss in enumerate(losses):
        first, after = epoch * batches, (epoch + 1) * batches  # the numbers of its first update and of the next epoch's
        start = updates[first - 1] + 1 if 0 < first <= len(updates) else 0
        stop = updates[after] if after < len(updates) else len(events)
        values = [float(e[1]) for e in events[start:stop] if e[0] == "cost"]
        if values and (min(values) - 1e-6 <= loss <= max(values) + 1e-6 or _close(loss, sum(values[:batches]))):
            continue
        return [problem(f"the loss train returned for epoch {epoch} ({loss:.6g}) is none of the costs it computed during "
                        f"that epoch, nor their mean or sum ({[round(c, 6) for c in values]})", method)]
    return []


# ===================================================================== optimizers


def optimizer_applies_and_empties(got, params):
    """Two updates with gradients queued, then one with nothing queued, of probe
    layers holding `params` (`bgd_scenarios.optimizer_run` with `extra_update`):
    every queued layer's update_parameters is called once per update() and
    changes every parameter; an update() with nothing queued changes nothing.
    The amounts are the trajectory checks' business."""
    method = ""  # the check's: "<optimizer class>.update"
    if isinstance(got, dict) and "wrote_directly" in got:
        return [problem(f"update() wrote into a layer's parameter array itself ({got['wrote_directly']}): apply the "
                        "deltas with layer.update_parameters(deltas), which knows how the layer keeps its parameters",
                        method)]
    after = got.get("after") if isinstance(got, dict) else None
    calls = got.get("calls") if isinstance(got, dict) else None
    if not isinstance(after, list) or len(after) != 3 or not isinstance(calls, list) or len(calls) != 3:
        return [problem(f"the scenario returned {described(got)}, not the parameters and calls after 3 updates", method)]
    for step, layers in enumerate(after, 1):
        for layer, (values, start) in enumerate(zip(layers if isinstance(layers, list) else [], params)):
            for index, value in enumerate(values if isinstance(values, list) and len(values) == len(start) else [None]):
                if index >= len(start) or numeric(value, np.shape(start[index])) is None:
                    return [problem(f"after update {step}: the parameters of layer {layer} could not be read back "
                                    f"(got {described(values)})", method, SHAPE)]
    for layer, (values, start) in enumerate(zip(after[0], params)):
        for index, (value, p0) in enumerate(zip(values, start)):
            if np.array_equal(numeric(value), np.asarray(p0, dtype=np.float64)):
                return [problem(f"update() with gradients queued did not change parameter {index} of layer {layer}",
                                method, hints=["apply the deltas with layer.update_parameters(deltas)"])]
    expected_calls = [[1] * len(params), [2] * len(params), [2] * len(params)]
    if calls[:2] != expected_calls[:2]:
        return [problem(f"each update() must call update_parameters once on every queued layer; the calls per layer "
                        f"after each update were {calls[:2]}, expected {expected_calls[:2]}", method)]
    for layer, (before, now) in enumerate(zip(after[1], after[2])):
        for index, (b, a) in enumerate(zip(before, now)):
            if calls[2] != expected_calls[2] or not np.array_equal(numeric(a), numeric(b)):
                return [problem(f"update() with nothing queued changed parameter {index} of layer {layer}: update() "
                                "must empty the queue of gradient fragments once it has applied them", method, STATE,
                                ["call self.flush() (or empty gradient_fragments) at the end of update()"])]
    return []
