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
