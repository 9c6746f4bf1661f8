"""Properties the beras checks judge on a scenario played on the student's engine alone.

As `bgd_properties` (its docstring gives the rules): `property(the value of a
scenario of `beras_scenarios`, *arguments) -> problems`, dicts with
"summary", "method" (empty: the check's), and optionally "mistake",
"hints", "blame"; [] when the property holds. Called in the judge by the check
(`harness.play.judge`) and, copied into it, by the check's reproducer script
after it replays the scenario on the student's code.
"""

import numpy as np

IN_PLACE = "in-place"  # SPEC 5's mistake


def problem(summary, method="", mistake="", hints=()):
    """One problem found: what is wrong, the student's method at fault ("": the check's), the mistake, hints."""
    return {"summary": summary, "method": method, "mistake": mistake, "hints": list(hints)}


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


def same_array(got, want):
    array = numeric(got, np.shape(want))
    return array is not None and bool(np.array_equal(array, np.asarray(want, dtype=np.float64)))


def optimizer_in_place(got, params, grads, method):
    """One step of apply_gradients (`beras_scenarios.optimizer_steps` with one step):
    every given Variable holds new values, moved against its gradient in every
    entry; the gradients and a Variable not given are left alone. `method`:
    "<optimizer class>.apply_gradients", named in the problems."""
    after = got.get("after") if isinstance(got, dict) else None
    if not isinstance(after, list) or len(after) != 1 or not isinstance(after[0], list) or len(after[0]) != len(params) \
            or not all(numeric(a, np.shape(p)) is not None for a, p in zip(after[0], params)):
        return [problem("the parameters could not be read back after apply_gradients (wrong shapes or types)")]
    for i, (p, a, g) in enumerate(zip(params, after[0], grads)):
        if same_array(a, p):
            return [problem(f"{method} did not change parameter {i} (shape {np.shape(p)}): the arrays given must be "
                            "updated in place", mistake=IN_PLACE if got.get("replaced") is True else "",
                            hints=["`p = p - lr * g` or `params[i] = ...` makes a new array: write into the old one, "
                                   "`p -= lr * g` or `p[...] = ...`"])]
        moved = np.sign(numeric(a) - np.asarray(p, dtype=np.float64))
        for wrong, how, hints in [(moved == 0, "left {} of {} entries of parameter {} unchanged", []),
                                  (moved == np.sign(g), "moved {} of {} entries of parameter {} with their gradient "
                                   "instead of against it", ["a descent step subtracts: `p -= ...`"])]:
            if wrong.any():
                first = tuple(int(j) for j in np.argwhere(wrong)[0])
                return [problem(f"{method} {how.format(int(wrong.sum()), np.size(p), i)} (first at {first})",
                                hints=hints)]
    grads_after = got.get("grads_after")
    kept = grads_after[0] if isinstance(grads_after, list) and grads_after and isinstance(grads_after[0], list) else []
    for i, given in enumerate(grads):
        if i >= len(kept) or not same_array(kept[i], given):
            return [problem(f"{method} changed gradient {i}, which it must only read", mistake=IN_PLACE)]
    if not same_array(got.get("spare"), np.ones((2, 3))):
        return [problem(f"{method} changed a Variable that was not passed to it")]
    return []


def model_leaves_data(got, what):
    """A model action (`beras_scenarios.model_run` with one action): the x and y
    arrays it was given are left as they were. `what`: the call, for the problem."""
    run = got[0] if isinstance(got, list) and len(got) == 1 and isinstance(got[0], dict) else None
    if run is None:
        return [problem("the model scenario did not finish")]
    if run.get("data_untouched") is not True:
        return [{**problem(f"{what} changed the x or y arrays it was given (shuffle copies or indices, not the "
                           "caller's arrays)", mistake=IN_PLACE), "blame": "contract"}]
    return []


def real_scalar(value):
    """`value` as a float when it is a real scalar (float, int, NumPy scalar, 0-d array or
    Tensor: SPEC 4 leaves the type open), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iuf":
        return float(value)
    return None


def described(value):
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return repr(value) if isinstance(value, str) else type(value).__name__


def history(result, what, epochs):
    """(problems, {"loss": [floats], "acc": [floats]}) of what fit returned: a dict
    holding a list of `epochs` finite real numbers under "loss" and "acc"."""
    keys = ("loss", "acc")
    if not isinstance(result, dict) or not set(keys) <= set(result):
        got = f"a dict with keys {sorted(map(str, result))}" if isinstance(result, dict) else described(result)
        return [problem(f"{what} must return a dict with keys {sorted(keys)}, got {got}")], None
    values = {}
    for key in keys:
        entries = result[key]
        if not isinstance(entries, list) or len(entries) != epochs:
            got = f"a list of {len(entries)}" if isinstance(entries, list) else described(entries)
            return [problem(f'{what}["{key}"] must be a list of {epochs} numbers (one per epoch), got {got}')], None
        numbers = [real_scalar(v) for v in entries]
        bad = [i for i, v in enumerate(numbers) if v is None]
        if bad:
            return [problem(f'{what}["{key}"][{bad[0]}] must be a real number (a float, a NumPy scalar, a 0-d array '
                            f"or Tensor), got {described(entries[bad[0]])}")], None
        if not np.all(np.isfinite(numbers)):
            return [problem(f'{what}["{key}"] is not finite: {numbers}')], None
        values[key] = numbers
    return [], values


def _within(value, values):
    low, high = min(values), max(values)
    slack = 1e-5 * max(abs(low), abs(high)) + 1e-12
    return low - slack <= value <= high + slack


def _epochs(log, epochs, per_epoch, y):
    """(problems, the probe loss's and metric's values seen in each epoch of `log`), after
    checking that each epoch trained on every sample once. A training step's batch is the one
    the probe loss saw last before it; an epoch runs from its first batch's loss to the next
    epoch's (values computed in between, such as an evaluation at the end of the epoch, count
    as its own)."""
    steps = [i for i, event in enumerate(log) if event[0] == "step"]
    if len(steps) != epochs * per_epoch:
        return [problem(f"fit took {len(steps)} optimizer steps, expected {epochs * per_epoch} ({epochs} epochs of "
                        f"{per_epoch} batches: one step per batch)")], None
    losses = []
    for i in steps:
        last = [e for e in log[:i] if e[0] == "loss"]
        if not last:
            return [problem("fit took an optimizer step before computing any loss")], None
        losses.append((log.index(last[-1]), float(last[-1][1]), np.asarray(last[-1][2])))
    grouped = []
    y = np.asarray(y)
    for e in range(epochs):
        own = losses[e * per_epoch:(e + 1) * per_epoch]
        start = own[0][0]
        end = losses[(e + 1) * per_epoch][0] if e + 1 < epochs else len(log)
        rows = np.concatenate([labels.reshape(-1, y.shape[1]) for _, _, labels in own])
        # Compared in float32: a submission may cast the data to float32 before training.
        if rows.shape != y.shape or not np.array_equal(np.unique(np.float32(rows), axis=0),
                                                       np.unique(np.float32(y), axis=0)):
            return [problem(f"in epoch {e + 1}, the batches that were trained on do not hold every sample of (x, y) "
                            "exactly once", hints=["an epoch is one pass over all the samples, in batches of "
                                                   "batch_size"])], None
        span = log[start:end]
        grouped.append(([float(event[1]) for event in span if event[0] == "loss"],
                        [float(event[1]) for event in span if event[0] == "metric"]))
    return [], grouped


def model_fit_history(got, epochs, per_epoch, y, what):
    """fit(x, y, epochs, batch_size) of a model of probes, `per_epoch` batches an epoch
    (`beras_scenarios.model_run` with one action): it returns {"loss": [...], "acc": [...]},
    one value per epoch, each summing up the values computed in that epoch; it trains on
    every batch of every epoch once, with the model's trainable variables, and leaves x and
    y as they were. `what`: the call, for the problems."""
    problems = model_leaves_data(got, what)
    if problems:
        return problems
    run = got[0]
    problems, values = history(run.get("result"), what, epochs)
    if problems:
        return problems
    steps, log = run.get("steps"), run.get("log")
    if not isinstance(steps, list) or not isinstance(log, list) or \
            not all(isinstance(event, (list, tuple)) and len(event) >= 2 for event in log):
        return [problem("the model scenario did not finish")]
    if any(sorted(step) != [0, 1, 2] for step in steps):
        return [problem("fit gave the optimizer other weights than the model's trainable variables")]
    try:
        problems, grouped = _epochs(log, epochs, per_epoch, y)
    except (TypeError, ValueError, IndexError) as error:  # a log the probes did not write
        return [problem(f"the model scenario returned a log that cannot be read ({error})")]
    if problems:
        return problems
    for e, (losses, metrics) in enumerate(grouped):
        if not losses or not _within(values["loss"][e], losses):
            return [problem(f'fit(...)["loss"][{e}] is {values["loss"][e]:.6g}, but the losses computed in epoch '
                            f"{e + 1} were {', '.join(f'{v:.6g}' for v in losses)}",
                            hints=["an epoch's loss sums up the losses of its batches: their mean, say"])]
        if not metrics or not _within(values["acc"][e], metrics):
            return [problem(f'fit(...)["acc"][{e}] is {values["acc"][e]:.6g}, but the accuracies computed in epoch '
                            f"{e + 1} were {', '.join(f'{v:.6g}' for v in metrics) or 'none'}",
                            hints=["an epoch's accuracy sums up the accuracies of its batches: their mean, say"])]
    return []


def model_fit_trains(got, epochs, start_loss, what):
    """fit(x, y, epochs, batch_size) of a model of probes on a task they can learn
    (`beras_scenarios.model_run` with one action): the loss on the data, computed by
    the probes from the weights fit left, falls below half of `start_loss`, and
    the history fit returns says that it fell. `what`: the call, for the problems."""
    run = got[0] if isinstance(got, list) and len(got) == 1 and isinstance(got[0], dict) else None
    if run is None:
        return [problem("the model scenario did not finish")]
    problems, values = history(run.get("result"), what, epochs)
    if problems:
        return problems
    end_loss = real_scalar(run.get("data_loss"))  # computed by the probes from the weights fit left, not by fit
    if end_loss is None or not end_loss <= 0.5 * start_loss:
        shown = f"{end_loss:.4g}" if end_loss is not None else described(run.get("data_loss"))
        return [problem(f"after fit, the loss on the data is {shown}, from {start_loss:.4g} before: it did not "
                        f"fall by half in {epochs} epochs",
                        hints=["losses per epoch reported by fit: " + ", ".join(f"{v:.4g}" for v in values["loss"])])]
    if not values["loss"][-1] < values["loss"][0]:
        return [problem(f'the loss fell, but fit(...)["loss"] does not say so: {values["loss"]}')]
    return []
