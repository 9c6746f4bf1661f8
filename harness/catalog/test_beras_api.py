"""Checks of beras beyond the generic layer checks: the optimizers, the gradient
tape, the given core, Dense's contract, the model, the encoder and the metric.

Every check is "build the scenario, run it on both engines, compare": the
scenario is a plain function of `harness/scenarios/beras_scenarios.py`, run in
the student's sandbox and in the reference's (`play_both`); what comes back is
validated here, then compared. Nothing expected is computed here: the
reference's values are the expected ones.

A check of class X runs no other class of the student's: its scenario builds
X among the harness's PROBES (`harness/scenarios/beras_probes.py`: small
layers, a loss, a metric, an optimizer and a tape of the harness's own, built
on the given base classes). So the tape is tried on probe layers and a probe
loss, the model on probe layers, loss, metric, optimizer and tape, and the
given core on probes; a bug costs points in the checks of its own class only.
"""

import numpy as np

from harness import numerics, reproducers
from harness.catalog.beras_judging import (
    SCENARIOS,
    Scenario,
    close,
    describe,
    expect,
    gradient_list,
    is_array,
    judge_gradient,
    precision_of,
    probe_weights,
    real_scalar,
    same_array,
    scalars,
)
from harness.checks import HIDDEN, CheckFailure, check
from harness.play import play
from harness.vocabulary import CONTRACT, FORWARD, IN_PLACE, SHAPE, STATE, TRAINING, UPDATE


def __tracebackhide__(excinfo):
    """pytest: leave this module's frames out of a CheckFailure's traceback (the diagnosis says it
    all). Any other exception, a bug of a check, keeps its full traceback."""
    return excinfo is not None and excinfo.errisinstance(CheckFailure)


# ============================================================== optimizers

# Two parameters of one shape: state kept by shape (not per parameter) shows.
OPTIMIZER_SHAPES = ((3, 4), (1, 4), (5,), (3, 4))
PARAMETER_SCALES = (1.0, 0.1, 3.0, 0.3)  # each parameter's gradients have their own size: shared state shows
STEP_SCALES = (1.0, 0.25, 2.0, 0.1, 1.0)  # big and small steps: the running averages matter
# amsgrad: one big step, then small ones. The largest RAW second moment stays the first step's,
# while the bias-corrected one shrinks as 1 - beta_2^t grows: with beta_2 = 0.5 the two maxima
# give steps that differ by more than 25 % somewhere in every run (measured on 500 seeds).
AMSGRAD_STEP_SCALES = (1.0, 0.05, 0.05, 0.05, 0.05)
# Steps are compared relative to their own size. Where epsilon is added (sqrt(v) + eps, or Keras's
# eps * sqrt(1 - beta_2^t)) changes a step by ~eps / |g|, 1e-5 at the default epsilons: tolerated
# here; the hidden checks use large epsilons, where the documented placement matters.
OPTIMIZER_RTOL = 1e-4


def optimizer_case(rng, scales):
    params = [rng.normal(scale=0.5, size=shape) for shape in OPTIMIZER_SHAPES]
    steps = [
        [scale * size * numerics.away_from(rng, shape, points=(0.0,), margin=0.1)
         for shape, size in zip(OPTIMIZER_SHAPES, PARAMETER_SCALES)]
        for scale in scales
    ]
    return params, steps


def _optimizer_label(cls, kwargs):
    return f"{cls}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def _after(scenario, got, n_steps):
    """The parameters after each step, validated."""
    after = got.get("after") if isinstance(got, dict) else None
    if not isinstance(after, list) or len(after) != n_steps or not all(
        isinstance(step, list) and len(step) == len(OPTIMIZER_SHAPES)
        and all(is_array(a, s) for a, s in zip(step, OPTIMIZER_SHAPES)) for step in after
    ):
        scenario.fail("the parameters could not be read back after apply_gradients (wrong shapes or types)")
    return after


def check_in_place(cls, kwargs, student, rng):
    """One step: every given Variable holds new values, moved against its gradient in every
    entry; the gradients and a Variable not given are left alone."""
    params, steps = optimizer_case(rng, STEP_SCALES[:1])
    scenario = Scenario("optimizer_steps", cls, kwargs, params, steps, method=f"{cls}.apply_gradients",
                        case=f"{_optimizer_label(cls, kwargs)}, one step on parameters of shapes {list(OPTIMIZER_SHAPES)}")
    scenario.student(student, judged_by=("optimizer_in_place", params, steps[0], scenario.method))


def check_trajectory(cls, kwargs, student, reference, rng, scales=STEP_SCALES):
    params, steps = optimizer_case(rng, scales)
    n = len(steps)
    scenario = Scenario("optimizer_steps", cls, kwargs, params, steps, method=f"{cls}.apply_gradients",
                        case=f"{_optimizer_label(cls, kwargs)}, {n} steps on parameters of shapes "
                             f"{list(OPTIMIZER_SHAPES)}, a new gradient each step")
    got, want = scenario.both(student, reference)
    with reproducers.replaying(lambda failure: trajectory_reproducer(cls, kwargs, params, steps, want["after"],
                                                                       precision_of(*got["after"][-1]))):
        _judge_trajectory(scenario, got, want, params, n)


def _judge_trajectory(scenario, got, want, params, n):
    after, expected = _after(scenario, got, n), want["after"]
    if all(same_array(a, p) for step in after for a, p in zip(step, params)):
        scenario.fail(f"{scenario.method} never changed the parameters in {n} steps (are they updated in place?)",
                      mistake=IN_PLACE if got.get("replaced") is True else "")
    dtype = precision_of(*after[-1])
    first_step_right = False
    for t in range(n):
        for i, p in enumerate(params):
            # Each step's own move, from where each engine was: a sum of steps can cancel out.
            a0, w0 = (p, p) if t == 0 else (after[t - 1][i], expected[t - 1][i])
            moved = np.asarray(after[t][i], dtype=np.float64) - np.asarray(a0, dtype=np.float64)
            wanted = np.asarray(expected[t][i]) - np.asarray(w0)
            if close(moved, wanted, dtype, rtol=OPTIMIZER_RTOL):
                continue
            hint = ""
            if first_step_right:
                hint = ("the first step is right, a later one is not: the state kept between steps "
                        "(running averages, step count, one per parameter) is updated or used wrongly")
            expect(scenario, moved, wanted, f"{scenario.method}: step {t + 1} of {n} did not move parameter {i} "
                   f"(shape {p.shape}) as expected", dtype=dtype, hints=[hint], rtol=OPTIMIZER_RTOL,
                   mistake=STATE if first_step_right else "")
        first_step_right = first_step_right or t == 0


def trajectory_reproducer(cls, kwargs, params, steps, expected, dtype):
    """The script of a trajectory check: the same steps on the student's optimizer, each
    step's own move of each parameter asserted against the reference's, as the check does."""
    moves, atols = {}, []
    for t, step in enumerate(expected):
        row = []
        for i, p in enumerate(params):
            wanted = np.asarray(step[i], dtype=np.float64) - np.asarray(p if t == 0 else expected[t - 1][i])
            moves[f"expected_move_{t}_{i}"] = wanted
            row.append(reproducers.tolerance(wanted, dtype, rtol=_optimizer_rtol(dtype))[1])
        atols.append(row)
    rtol = _optimizer_rtol(dtype)
    arrays = {**{f"parameter_{i}": np.asarray(p) for i, p in enumerate(params)},
              **{f"gradient_{t}_{i}": np.asarray(g) for t, grads in enumerate(steps) for i, g in enumerate(grads)},
              **moves, "atol": np.asarray(atols)}
    body = [
        f"optimizer = {cls}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})",
        f"params = [Variable(np.array(data[f'parameter_{{i}}'])) for i in range({len(params)})]",
        "for t in range(len(data['atol'])):",
        "    before = [np.array(p, dtype=np.float64) for p in params]",
        f"    grads = [np.array(data[f'gradient_{{t}}_{{i}}']) for i in range({len(params)})]",
        "    optimizer.apply_gradients(list(params), grads)  # a copy of the list: the Variables must change in place",
        "    for i, p in enumerate(params):",
        "        moved = np.asarray(p, dtype=np.float64) - before[i]  # this step's own move (updated in place?)",
        f"        np.testing.assert_allclose(moved, data[f'expected_move_{{t}}_{{i}}'], rtol={rtol!r}, atol=data['atol'][t, i],",
        f"                                   err_msg=f'{cls}.apply_gradients: step {{t + 1}} did not move parameter {{i}} as expected')",
    ]
    imports = ["from beras.core import Variable", f"from beras.optimizers import {cls}"]
    return reproducers.Reproducer(imports, body, arrays, _optimizer_label(cls, kwargs) + f", {len(steps)} steps")


def _optimizer_rtol(dtype):
    return max(OPTIMIZER_RTOL, numerics.RTOL[numerics.precision(dtype or np.float64)])


@check("beras.optimizers.BasicOptimizer", "apply_gradients moves every given array in place, against its gradient, "
       "and changes nothing else", points=1, clause="2 optimizers: apply_gradients updates the params in place; 4 update: exactly the right arrays, in place", blame=UPDATE)
def test_basic_optimizer_in_place(student, reference, rng):
    check_in_place("BasicOptimizer", {"learning_rate": 0.1}, student, rng)


@check("beras.optimizers.BasicOptimizer", "parameters over 5 steps match the reference", points=2, clause="2 BasicOptimizer: p -= lr*g; 4 update: over several steps", blame=UPDATE)
def test_basic_optimizer_trajectory(student, reference, rng):
    check_trajectory("BasicOptimizer", {"learning_rate": 0.1}, student, reference, rng)


@check("beras.optimizers.RMSProp", "apply_gradients moves every given array in place, against its gradient, "
       "and changes nothing else", points=1, clause="2 optimizers: apply_gradients updates the params in place; 4 update: exactly the right arrays, in place", blame=UPDATE)
def test_rmsprop_in_place(student, reference, rng):
    check_in_place("RMSProp", {"learning_rate": 0.01}, student, rng)


@check("beras.optimizers.RMSProp", "parameters over 5 steps match the reference (a running average of g² per parameter)",
       points=2, clause="2 RMSProp: v = beta*v + (1-beta)*g², p -= lr*g/(sqrt(v)+epsilon); 4 update: optimizer state",
       blame=UPDATE)
def test_rmsprop_trajectory(student, reference, rng):
    check_trajectory("RMSProp", {"learning_rate": 0.01}, student, reference, rng)


@check("beras.optimizers.RMSProp", "parameters over 5 steps match the reference with beta=0.6, epsilon=0.01", points=2,
       visibility=HIDDEN, clause="2 RMSProp(learning_rate, beta, epsilon) formula; 4 update: optimizer state", blame=UPDATE)
def test_rmsprop_trajectory_hyperparameters(student, reference, rng):
    check_trajectory("RMSProp", {"learning_rate": 0.02, "beta": 0.6, "epsilon": 0.01}, student, reference, rng)


@check("beras.optimizers.Adam", "apply_gradients moves every given array in place, against its gradient, "
       "and changes nothing else", points=1, clause="2 optimizers: apply_gradients updates the params in place; 4 update: exactly the right arrays, in place", blame=UPDATE)
def test_adam_in_place(student, reference, rng):
    check_in_place("Adam", {"learning_rate": 0.01}, student, rng)


@check("beras.optimizers.Adam", "parameters over 5 steps match the reference (bias-corrected moments per parameter)",
       points=2, clause="2 Adam, as Keras and PyTorch: bias-corrected m_hat, v_hat; 4 update: optimizer state", blame=UPDATE)
def test_adam_trajectory(student, reference, rng):
    check_trajectory("Adam", {"learning_rate": 0.01}, student, reference, rng)


@check("beras.optimizers.Adam", "parameters over 5 steps match the reference with amsgrad=True (the running max of the "
       "raw second moment), beta_1=0.8, beta_2=0.5, epsilon=1e-3", points=2, visibility=HIDDEN, clause="2 Adam amsgrad: v_max = max(v_max, v) over the raw second moment, v_hat = v_max/(1-b2^t)", blame=UPDATE)
def test_adam_trajectory_amsgrad(student, reference, rng):
    kwargs = {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.5, "epsilon": 1e-3, "amsgrad": True}
    check_trajectory("Adam", kwargs, student, reference, rng, scales=AMSGRAD_STEP_SCALES)


# ============================================================== gradient tape
# The student's tape over probe layers (wave: sin(x) * w, bend: x * w + x²/10,
# squash: 0.5 + 0.4 sin(w x)) and a probe loss: the layers are right by
# construction, so any wrong gradient is the tape's.

GRAPHS = {
    "chain": ("loss(squash(bend(wave(x))), y), x (5, 3)", ["x", "wave.w", "bend.w", "squash.w"], 3),
    "fan-out": ("h = wave1(x); loss(bend(h), squash(wave2(h))): h feeds two layers, at two depths; x (5, 3)",
                ["x", "wave1.w", "bend.w", "wave2.w", "squash.w"], 4),
    "weight input": ("loss(wave(x), bend(wave.w)): wave's weight is also bend's input; x (1, 3)",
                     ["x", "wave.w (also bend's input)", "bend.w"], 2),
    "disconnected": ("loss(wave(x), y), with squash(x) computed under the tape but unused, a layer never called "
                     "and a Tensor never used", ["wave.w", "squash.w (its output unused)", "the never-called layer's w",
                                                "a Tensor never used", "x", "y"], 3),
}
SUM_HINT = "a tensor used by two layers must receive the SUM of their contributions, after both are known"


def check_tape(graph, student, reference, rng, hint=""):
    description, names, n_layers = GRAPHS[graph]
    batch = 1 if graph == "weight input" else 5
    weights = probe_weights(rng, 3, n_layers)
    x, y = rng.normal(size=(batch, 3)), rng.normal(size=(batch, 3))
    method = "GradientTape.gradient"
    scenario = Scenario("tape_graph", graph, weights, x, y, case=description, method=method)
    got, want = scenario.both(student, reference)
    grads = gradient_list(scenario, got["grads"], len(names), method)
    dtype = precision_of(*[g for g in grads if is_array(g)])
    for name, g, w in zip(names, grads, want["grads"]):
        judge_gradient(scenario, name, g, w, dtype, method, hint)


@check("beras.gradient_tape.GradientTape", "gradients through a chain of three layers and a loss match the reference",
       points=2, clause="2 GradientTape: gradient(target, sources) -> list of arrays shaped like sources", blame=CONTRACT)
def test_tape_chain(student, reference, rng):
    check_tape("chain", student, reference, rng)


@check("beras.gradient_tape.GradientTape", "a tensor used by two layers gets the sum of both gradients (fan-out)",
       points=2, clause="2 GradientTape: a tensor used by two layers gets the sum of both contributions; 4 contract: fan-out sums", blame=CONTRACT)
def test_tape_fan_out(student, reference, rng):
    check_tape("fan-out", student, reference, rng, hint=SUM_HINT)


@check("beras.gradient_tape.GradientTape", "a weight that is also another layer's input gets the sum of both gradients",
       points=2, clause="2 GradientTape: a tensor used by two layers gets the sum of both contributions", blame=CONTRACT)
def test_tape_weight_as_input(student, reference, rng):
    check_tape("weight input", student, reference, rng, hint=SUM_HINT)


@check("beras.gradient_tape.GradientTape", "a source the loss does not depend on gets None; the others get their "
       "gradients", points=1, clause="2 GradientTape: None for a disconnected source; 4 contract: disconnected sources", blame=CONTRACT)
def test_tape_disconnected(student, reference, rng):
    check_tape("disconnected", student, reference, rng)


@check("beras.gradient_tape.GradientTape",
       "the with block sets and clears Diffable.gradient_tape, gradient works after it, nesting raises RuntimeError",
       points=1, clause="2 GradientTape: context manager that sets Diffable.gradient_tape; BACKGROUND: __enter__ raises RuntimeError when a tape is active", blame=CONTRACT)
def test_tape_lifecycle(student, reference, rng):
    (w,) = probe_weights(rng, 3, 1)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    scenario = Scenario("tape_lifecycle", w, x, y, method="GradientTape.__enter__",
                        case="with GradientTape() as tape: loss = probe_loss(wave(x), y); a second tape entered "
                             "inside; tape.gradient(loss, [x, wave.w]) after the block")
    got, want = scenario.both(student, reference)
    for key, method, summary in [
        ("returns_self", "GradientTape.__enter__", "must return the tape itself (`with GradientTape() as tape`)"),
        ("active", "GradientTape.__enter__", "must set Diffable.gradient_tape to the tape"),
        ("cleared", "GradientTape.__exit__", "must set Diffable.gradient_tape back to None"),
    ]:
        if got[key] is not want[key]:
            scenario.fail(f"{method} {summary}", method=method)
    if got["nested"] != want["nested"]:
        raised = "it did not raise" if got["nested"] is None else f"it raised {got['nested']}"
        scenario.fail(f"GradientTape.__enter__ must raise {want['nested']} when a tape is already active; {raised}")
    method = "GradientTape.gradient"
    grads = gradient_list(scenario, got["grads"], 2, method)
    dtype = precision_of(*[g for g in grads if is_array(g)])
    for name, g, w in zip(["x", "wave.w"], grads, want["grads"]):
        judge_gradient(scenario, name, g, w, dtype, f"{method} (after the with block)")


# ============================================================== core (given code)
# Probes that rely on the given code alone: no class the student writes takes part.
# Students receive this code complete: its checks tell a student who changed it,
# and are worth no points, so that untouched given code earns nothing (SPEC 1: the
# template scores zero; a submission that does nothing earns nothing).

GIVEN = 0


@check("beras.core.Tensor", "Tensor is an ndarray with .trainable (default True), kept through slicing, reshapes and "
       "ufuncs; Variable(x) is such a Tensor", points=GIVEN, clause="2 core: Tensor (ndarray subclass with .trainable, default True), Variable; BACKGROUND: __array_finalize__; 4: given classes are checked too", blame=CONTRACT)
def test_tensor(student, reference, rng):
    x = rng.normal(size=(3, 4))
    scenario = Scenario("tensor_semantics", x, method="Tensor.__new__",
                        case="Tensor(x), Variable(x), then views and ufuncs of a Tensor t whose trainable is False")
    got, want = scenario.both(student, reference)
    for key, what in [("is_tensor", "Tensor(x) must be an instance of Tensor and of np.ndarray"),
                      ("trainable", "Tensor(x).trainable must be True"),
                      ("variable_is_tensor", "Variable(x) must be a Tensor (Variable is Tensor, or a subclass)"),
                      ("variable_trainable", "Variable(x).trainable must be True")]:
        if got[key] is not want[key]:
            scenario.fail(what)
    for key, what in [("tensor", "Tensor(x)"), ("variable", "Variable(x)")]:
        if not same_array(got[key], want[key]):
            scenario.fail(f"{what} does not hold the values of x")
    for name, g in got["derived"].items():
        w = want["derived"].get(name)
        if w is None:
            continue
        if g["is_tensor"] is not w["is_tensor"] or not same_array(g["value"], w["value"]):
            scenario.fail(f"{name} must be a Tensor of shape {np.shape(w['value'])} holding the expected values",
                          method="Tensor.__array_finalize__")
        if g["trainable"] != w["trainable"]:
            scenario.fail(f"{name}.trainable is {g['trainable']!r} for a Tensor t whose trainable is False, expected "
                          f"{w['trainable']!r} (__array_finalize__ copies it)", method="Tensor.__array_finalize__")


@check("beras.core.Callable", "calling an instance returns call's result as a Tensor", points=GIVEN, clause="2 core: Callable; BACKGROUND: Callable.__call__ returns Tensor(self.call(...)); 4: given classes are checked too",
       blame=CONTRACT)
def test_callable(student, reference, rng):
    x = rng.normal(size=(3, 4))
    scenario = Scenario("callable_call", x, method="Callable.__call__",
                        case="c(x, scale=2.0) for a Callable whose call returns np.cos(x) * scale, a plain ndarray")
    got, want = scenario.both(student, reference)
    if got["is_tensor"] is not want["is_tensor"]:
        scenario.fail("Callable.__call__ must return Tensor(self.call(*args, **kwargs)): a Tensor")
    if not same_array(got["value"], want["value"]):
        scenario.fail("Callable.__call__ must return the values that call returned (with the arguments passed on)")


@check("beras.core.Weighted", "trainable, its setter, trainable_variables and non_trainable_variables", points=GIVEN, clause="2 core: Weighted; BACKGROUND: trainable, its setter, trainable_variables, non_trainable_variables", blame=CONTRACT)
def test_weighted(student, reference, rng):
    weights = [rng.normal(size=(3, 2)), rng.normal(size=(1, 2))]
    scenario = Scenario("weighted_flags", weights, method="Weighted.trainable",
                        case="obj = a Weighted with weights [w0, w1]; obj.trainable = False; w1.trainable = True")
    got, want = scenario.both(student, reference)
    labels = {
        "trainable_0": "a new object's trainable", "n_trainable_0": "len(trainable_variables) at first",
        "n_frozen_0": "len(non_trainable_variables) at first",
        "flags_1": "[w.trainable for w in weights] after obj.trainable = False",
        "trainable_1": "trainable after obj.trainable = False",
        "n_trainable_1": "len(trainable_variables) after obj.trainable = False",
        "n_frozen_1": "len(non_trainable_variables) after obj.trainable = False",
        "trainable_2": "trainable after w1.trainable = True",
        "n_trainable_2": "len(trainable_variables) after w1.trainable = True",
        "is_w1": "trainable_variables == [w1] after w1.trainable = True",
        "frozen_is_w0": "non_trainable_variables == [w0] after w1.trainable = True",
    }
    for key, what in labels.items():
        if got[key] != want[key]:
            scenario.fail(f"{what} is {got[key]!r}, expected {want[key]!r}")


@check("beras.core.Diffable", "calling a layer under a tape records previous_layers[id(output)] and keeps its inputs "
       "(in argument order) and outputs", points=GIVEN, clause="2 core: Diffable.gradient_tape, previous_layers maps id(output) -> layer; BACKGROUND: Diffable.__call__", blame=CONTRACT)
def test_diffable_records(student, reference, rng):
    x, x2 = rng.normal(size=(4, 3)), rng.normal(size=(2, 3))
    scenario = Scenario("diffable_records", x, x2, method="Diffable.__call__",
                        case="Diffable.gradient_tape = a recorder; h = single(x); c = pair(h, b=x); "
                             "d = pair(b=h, a=x); Diffable.gradient_tape = None; single(x2)")
    got, want = scenario.both(student, reference)
    labels = {
        "single_recorded": "previous_layers[id(h)] is the layer that returned h",
        "pair_recorded": "previous_layers[id(c)] and [id(d)] are the layer called with two arguments",
        "entries": "len(previous_layers) after three calls",
        "single_inputs": "layer.inputs is [x], the tensor it was called with",
        "single_outputs": "layer.outputs is [h], the tensor it returned",
        "pair_inputs": "after pair(b=h, a=x), pair.inputs is [x, h] (the order of call's arguments)",
        "pair_input_dict": "pair.input_dict maps call's argument names to the values given",
        "outside_not_recorded": "a call while Diffable.gradient_tape is None is not recorded",
    }
    for key, what in labels.items():
        if got[key] != want[key]:
            scenario.fail(f"{what}: got {got[key]!r}, expected {want[key]!r}")
    if not same_array(got["single_output"], want["single_output"]):
        scenario.fail("layer(x) must return what call(x) returned")
    last, expected = got["last_inputs"], want["last_inputs"]
    if not isinstance(last, list) or len(last) != 1 or not same_array(last[0], expected[0]):
        scenario.fail("after a second call, layer.inputs must be [x2] (a layer keeps its last call's inputs)")


COMPOSE_LABELS = [
    "compose_input_gradients, shared (in, out) gradient",
    "compose_input_gradients, batched (B, in, out) gradient",
    "compose_input_gradients with J = [None] (returns the local gradients)",
    "compose_input_gradients of a layer with two inputs, one shared and one batched gradient",
    "compose_weight_gradients, batched w gradient (B, in, out), shared b gradient (1, out)",
    "compose_weight_gradients, shared w gradient (in, out), batched b gradient (B, 1, out)",
    "compose_weight_gradients, per-sample x[:, :, None] (B, in, 1) and ones (1, out)",
]


@check("beras.core.Diffable",
       "compose_input_gradients and compose_weight_gradients for shared (in, out) and batched (B, in, out) local gradients",
       points=GIVEN, clause="2 core: compose_input_gradients(J), compose_weight_gradients(J); conventions: batched or shared gradients; BACKGROUND", blame=CONTRACT)
def test_diffable_composition(student, reference, rng):
    b, n_in, n_out = 5, 3, 4
    x, x2, u = rng.normal(size=(b, n_in)), rng.normal(size=(b, 2)), rng.normal(size=(b, n_out))
    w_shapes = [(n_in, n_out), (1, n_out)]
    cases = [
        ("input", [x], [], [rng.normal(size=(n_in, n_out))], [u]),
        ("input", [x], [], [rng.normal(size=(b, n_in, n_out))], [u]),
        ("input", [x], [], [rng.normal(size=(n_in, n_out))], [None]),
        ("input", [x, x2], [], [rng.normal(size=(n_in, n_out)), rng.normal(size=(b, 2, n_out))], [u]),
        ("weight", [x], w_shapes, [rng.normal(size=(b, n_in, n_out)), rng.normal(size=(1, n_out))], [u]),
        ("weight", [x], w_shapes, [rng.normal(size=(n_in, n_out)), rng.normal(size=(b, 1, n_out))], [u]),
        ("weight", [x], w_shapes, [rng.normal(size=(b, n_in, 1)), np.ones((1, n_out))], [u]),
    ]
    scenario = Scenario("diffable_compose", x, cases, method="Diffable.compose_input_gradients",
                        case=f"a Diffable whose get_*_gradients return given arrays, inputs of batch {b}, J = [u]")
    got, want = scenario.both(student, reference)
    for label, (kind, *_), g, w in zip(COMPOSE_LABELS, cases, got, want):
        method = f"Diffable.compose_{kind}_gradients"
        if not isinstance(g, list) or len(g) != len(w):
            scenario.fail(f"{label}: expected a list of {len(w)} arrays, got {describe(g)}", method=method)
        for i, (gi, wi) in enumerate(zip(g, w)):
            expect(scenario, gi, wi, f"{label}: item {i}", method=method)


# ============================================================== Dense


INITIALIZERS = ("zero", "normal", "xavier", "kaiming")
# SPEC names the initializers without their spreads: "xavier" (Glorot) and "kaiming" (He, fan in)
# have theirs in their names, normal or uniform; "normal" may have any spread (1, or Keras's 0.05).
SPREAD_FIXED = ("xavier", "kaiming")


@check("beras.layers.Dense", "Dense(in, out, initializer) has weights [w (in, out), b (1, out)], Tensors, w drawn as the "
       "initializer says (zero, normal, xavier, kaiming), b zero", points=2, clause="2 Dense: weights -> [w (input_size, output_size), b (1, output_size)]; initializers zero, normal, xavier, kaiming; b starts at zero", blame=CONTRACT)
def test_dense_weights(student, reference, rng):
    n_in, n_out = 200, 100
    scenario = Scenario("dense_weights", n_in, n_out, list(INITIALIZERS), method="Dense._initialize_weight",
                        case=f"Dense({n_in}, {n_out}, initializer=...) for {', '.join(INITIALIZERS)}")
    got, want = scenario.both(student, reference)
    for name in INITIALIZERS:
        g, w = got[name], want[name]
        if g.get("kind") != "list" or len(g["shapes"]) != 2:
            scenario.fail(f"Dense.weights must be a list [w, b], got {g.get('kind')}"
                          + (f" of {len(g['shapes'])} items" if g.get("kind") == "list" else ""), method="Dense.weights")
        for i, what in enumerate(["w", "b"]):
            if g["shapes"][i] != w["shapes"][i]:
                scenario.fail(f"initializer {name!r}: {what} has shape {tuple(g['shapes'][i])}, expected "
                              f"{tuple(w['shapes'][i])}")
            if g["is_tensor"][i] is not True:
                scenario.fail(f"initializer {name!r}: {what} must be a beras Tensor (a Variable)")
        if g["b_nonzero"] != 0:
            scenario.fail(f"initializer {name!r}: b must be all zeros ({g['b_nonzero']} nonzero entries)")
        if w["w_nonzero"] == 0:
            if g["w_nonzero"] != 0:
                scenario.fail(f"initializer {name!r}: w must be all zeros ({g['w_nonzero']} nonzero entries)")
            continue
        std, expected = float(g["w_std"]), float(w["w_std"])
        if not std > 0:
            scenario.fail(f"initializer {name!r}: the entries of w must be drawn at random, they are all equal")
        if name in SPREAD_FIXED and not abs(std - expected) <= 0.15 * expected:
            scenario.fail(f"initializer {name!r}: the entries of w have standard deviation {std:.4g}, expected "
                          f"{expected:.4g} (within 15 %) for Dense({n_in}, {n_out})")
        if not abs(float(g["w_mean"])) <= 0.1 * std:
            scenario.fail(f"initializer {name!r}: the entries of w have mean {float(g['w_mean']):.4g}, expected about 0")


# ============================================================== SequentialModel
# A SequentialModel of probe layers (wave, bend, squash; width 3), compiled with a
# probe optimizer (plain SGD, in place), a probe loss and a probe metric, and
# stepping with a probe tape (bound to the name GradientTape in beras while the
# scenario runs): only the model's own code is on trial.

MODEL_CASE = "SequentialModel([wave, bend, squash]) (probe layers) compiled with a probe SGD(lr={lr}), loss and metric; {}"
LR = 0.5


def model_case(rng, n):
    weights = probe_weights(rng, 3, 3)
    x = rng.uniform(-1.5, 1.5, size=(n, 3))
    y = rng.uniform(0.1, 0.9, size=(n, 3))
    return weights, x, y


def play_model(student, reference, weights, x, y, actions, what, method, frozen=(), lr=LR, calls=1, both=True,
               judged_by=None):
    """The model scenario on both engines (or the student's alone, `judged_by` a property as
    `Scenario.student` takes it): a list of one record per action. `calls` scales the time limit:
    one per epoch of a fit (each a handful of tiny batches of the probes), so that a fit that
    hangs costs a few limits, not one per batch."""
    scenario = Scenario("model_run", weights, x, y, actions, lr, list(frozen), method=method, calls=calls,
                        case=MODEL_CASE.format(what, lr=lr) + (f"; layer(s) {list(frozen)} frozen (trainable = False)"
                                                                if frozen else ""))
    if both:
        got, want = scenario.both(student, reference)
    else:
        got, want = scenario.student(student, judged_by), None
    if not isinstance(got, list) or len(got) != len(actions):
        scenario.fail("the model scenario did not finish")
    return scenario, got, want


def expect_untouched(scenario, run, weights, flags, what):
    """No weight changed, no trainable flag changed, no optimizer step."""
    for i, (a, b) in enumerate(zip(run["weights"], weights)):
        if not same_array(a, b):
            scenario.fail(f"{what} changed the weight of layer {i}: it must not train")
    if run["steps"]:
        scenario.fail(f"{what} called the optimizer's apply_gradients {len(run['steps'])} time(s): it must not train")
    if run["flags"] != list(flags):
        scenario.fail(f"{what} changed the trainable flags of the weights: {list(flags)} -> {run['flags']}",
                      mistake=STATE,
                      hints=["it must not set model.trainable (or any layer's): that would freeze or unfreeze weights "
                             "for the training that follows"])
    if not run["data_untouched"]:
        scenario.fail(f"{what} changed the x or y arrays it was given", mistake=IN_PLACE)


def expect_scalars(scenario, got, want, what, dtype=np.float64):
    for key in ("loss", "acc"):
        expect(scenario, got[key], want[key], f'{what}["{key}"]', dtype=dtype)


@check("beras.model.SequentialModel", "call runs the layers in order (output matches the reference)", points=1, clause="2 SequentialModel: call(x)", blame=FORWARD)
def test_model_call(student, reference, rng):
    weights, x, y = model_case(rng, 6)
    scenario, got, want = play_model(student, reference, weights, x, y, [("call", [x], {})], "model.call(x), batch 6",
                                     "SequentialModel.call")
    output, expected = got[0]["result"], want[0]["result"]
    if not is_array(output, np.shape(expected)):
        scenario.fail(f"model.call(x) returned {describe(output)}, expected an array of shape {np.shape(expected)}",
                      mistake=SHAPE)
    expect(scenario, output, expected, "model.call(x)", hints=["each layer is called on the previous layer's output, "
                                                               "in the order of model.layers"])
    if not got[0]["data_untouched"]:
        scenario.fail("model.call(x) changed the x array it was given", mistake=IN_PLACE, blame=CONTRACT)


@check("beras.model.SequentialModel", "batch_step(training=False) returns the batch's loss and accuracy and changes no "
       "weight, no trainable flag", points=1, clause="2 SequentialModel: batch_step(x, y, training) trains only when training; 4: loss/acc any real scalar; 4 contract: trainable", blame=CONTRACT)
def test_model_batch_step_no_training(student, reference, rng):
    weights, x, y = model_case(rng, 6)
    scenario, got, want = play_model(student, reference, weights, x, y, [("batch_step", [x, y], {"training": False})],
                                     "batch_step(x, y, training=False), batch 6", "SequentialModel.batch_step")
    values = scalars(scenario, got[0]["result"], ("loss", "acc"), "batch_step(x, y, training=False)")
    expect_untouched(scenario, got[0], weights, [True] * 3, "batch_step(training=False)")
    expect_scalars(scenario, values, want[0]["result"], "batch_step(x, y, training=False)")


def check_training_step(student, reference, rng, frozen=()):
    weights, x, y = model_case(rng, 6)
    scenario, got, want = play_model(student, reference, weights, x, y, [("batch_step", [x, y], {"training": True})],
                                     "batch_step(x, y, training=True), batch 6", "SequentialModel.batch_step",
                                     frozen=frozen)
    run, expected = got[0], want[0]
    values = scalars(scenario, run["result"], ("loss", "acc"), "batch_step(x, y, training=True)")
    expect_scalars(scenario, values, expected["result"], "batch_step(x, y, training=True) (before the step)")
    trainable = [i for i in range(3) if i not in frozen]
    if len(run["steps"]) != 1:
        scenario.fail(f"batch_step(training=True) called the optimizer's apply_gradients {len(run['steps'])} times, "
                      "expected once", hints=["exactly one optimizer step per batch_step, with the gradients of this "
                                              "batch's loss for model.trainable_variables"])
    if sorted(run["steps"][0]) != trainable:
        scenario.fail(f"batch_step(training=True) gave the optimizer the weights of layers {run['steps'][0]}, expected "
                      f"those of layers {trainable} (model.trainable_variables)",
                      hints=["weights with trainable = False must not be given to the optimizer"] if frozen else [])
    if run["flags"] != [i not in frozen for i in range(3)]:
        scenario.fail(f"batch_step(training=True) changed the trainable flags of the weights: -> {run['flags']}")
    if not run["data_untouched"]:
        scenario.fail("batch_step(training=True) changed the x or y arrays it was given", mistake=IN_PLACE,
                      blame=CONTRACT)
    # While this check runs, beras's name GradientTape stands for the harness's probe tape.
    hints = [] if run["tapes"] else ["batch_step never entered a GradientTape: its forward pass must run inside "
                                     "`with GradientTape() as tape:` (the class beras.model imports)"]
    for i, (a, w, a0) in enumerate(zip(run["weights"], expected["weights"], weights)):
        if i in frozen and not same_array(a, a0):
            scenario.fail(f"batch_step(training=True) changed the weight of layer {i}, whose trainable is False")
        expect(scenario, np.asarray(a, dtype=np.float64) - a0, np.asarray(w) - a0,
               f"after batch_step(training=True), the weight of layer {i} did not move as one optimizer step with this "
               "batch's gradients moves it", hints=hints)


@check("beras.model.SequentialModel", "batch_step(training=True) returns the batch's loss and accuracy and takes exactly "
       "one optimizer step with the trainable weights' gradients", points=2, clause="2 SequentialModel: batch_step(x, y, training=True) -> {loss, acc}; 4 update", blame=UPDATE)
def test_model_batch_step_training(student, reference, rng):
    check_training_step(student, reference, rng)


@check("beras.model.SequentialModel", "batch_step(training=True) leaves weights with trainable = False unchanged",
       points=1, visibility=HIDDEN, clause="2 Weighted: trainable_variables; SequentialModel: batch_step trains the trainable weights; 4 contract: trainable", blame=UPDATE)
def test_model_frozen_layer(student, reference, rng):
    check_training_step(student, reference, rng, frozen=(1,))


@check("beras.model.SequentialModel", "evaluate returns the loss and accuracy on all the data and changes nothing",
       points=1, clause="2 SequentialModel: evaluate(x, y, batch_size) -> {loss, acc} (changes no weight)", blame=CONTRACT)
def test_model_evaluate(student, reference, rng):
    weights, x, y = model_case(rng, 12)
    scenario, got, want = play_model(student, reference, weights, x, y, [("evaluate", [x, y, 4], {})],
                                     "evaluate(x, y, 4) on 12 samples", "SequentialModel.evaluate", calls=3)
    values = scalars(scenario, got[0]["result"], ("loss", "acc"), "evaluate(x, y, 4)")
    expect_untouched(scenario, got[0], weights, [True] * 3, "evaluate")
    expect_scalars(scenario, values, want[0]["result"], "evaluate(x, y, 4) on 12 samples")


@check("beras.model.SequentialModel", 'fit trains on every batch of every epoch once and returns {{"loss": [...], '
       '"acc": [...]}}, one value per epoch', points=1, clause="2 SequentialModel: fit(x, y, epochs, batch_size) -> {loss: [one per epoch], acc: [...]}; 4 contract: no mutation of inputs", blame=TRAINING)
def test_model_fit_history(student, reference, rng):
    weights, x, y = model_case(rng, 12)
    epochs, batch_size, per_epoch = 3, 4, 3
    play_model(student, reference, weights, x, y, [("fit", [x, y, epochs, batch_size], {})],
               f"fit(x, y, {epochs}, {batch_size}) on 12 samples", "SequentialModel.fit", calls=epochs, both=False,
               judged_by=("model_fit_history", epochs, per_epoch, y, f"fit(x, y, {epochs}, {batch_size})"))


def toy_task(rng, n=48):
    """A task the probe model can learn: labels made by the same probe layers with other weights,
    the start at 30 to 60 % of those weights. Plain SGD with lr 3 (the probe loss's gradient is
    small) lowers the loss below a third of its start within 10 epochs of 6 batches, in any
    batch order (measured on 2,000 runs, half of them shuffled)."""
    teacher = probe_weights(rng, 3, 3)
    x = rng.uniform(-1.5, 1.5, size=(n, 3))
    start = [w * rng.uniform(0.3, 0.6, size=w.shape) for w in teacher]
    return teacher, start, x


@check("beras.model.SequentialModel", "end to end: fit on a small task halves the loss on the data", points=2, clause="4 end to end: a small model trains and its loss falls", blame=TRAINING)
def test_model_trains(student, reference, rng):
    teacher, start, x = toy_task(rng)
    # The labels, and the loss before training: the probes alone compute them (no model), asked
    # of the reference engine.
    task = play(reference, f"{SCENARIOS}.probe_task", teacher, start, x, student=False)
    y, start_loss = np.asarray(task["y"], dtype=np.float64), float(task["start_loss"])
    epochs = 10
    play_model(student, reference, start, x, y, [("fit", [x, y, epochs, 8], {})], f"fit(x, y, {epochs}, 8) on 48 samples",
               "SequentialModel.fit", lr=3.0, calls=epochs, both=False,
               judged_by=("model_fit_trains", epochs, start_loss, f"fit(x, y, {epochs}, 8)"))


# ============================================================== OneHotEncoder


def check_onehot(student, reference, rng, classes):
    k = len(classes)
    # Every class first appears in descending order: an encoder numbering the classes in order
    # of appearance, not np.unique's, shows on every seed.
    fit_labels = [v.item() for v in np.concatenate([np.sort(classes)[::-1], rng.choice(classes, size=6)])]
    labels = [v.item() for v in rng.choice(classes, size=7)]
    one_hot = numerics.one_hot(rng, 5, k)
    scenario = Scenario("onehot", fit_labels, labels, one_hot, method="OneHotEncoder.call",
                        case=f"fit({fit_labels}), then encode {labels} and decode one-hot rows")
    got, want = scenario.both(student, reference)
    encoded = got["encoded"]
    if not is_array(encoded, np.shape(want["encoded"])):
        scenario.fail(f"OneHotEncoder.call: expected {np.shape(want['encoded'])} one-hot rows, got {describe(encoded)}",
                      mistake=SHAPE)
    if not same_array(encoded, want["encoded"]):
        scenario.fail("OneHotEncoder.call: wrong one-hot rows (column i must stand for the i-th label of "
                      "np.unique(fit labels))", hints=["np.unique sorts the labels; the order in which they appear "
                                                       "does not matter"])
    for key, what in [("decoded", "inverse(one-hot rows)"), ("roundtrip", "inverse(call(labels))")]:
        if got[key] != want[key]:
            scenario.fail(f"OneHotEncoder.inverse: {what} gave {got[key]}, expected {want[key]}",
                          method="OneHotEncoder.inverse")
    for (method, what), untouched in zip([("OneHotEncoder.fit", "fit"), ("OneHotEncoder.call", "call"),
                                          ("OneHotEncoder.inverse", "inverse")], got["untouched"]):
        if untouched is not True:
            scenario.fail(f"OneHotEncoder.{what} changed the array it was given", method=method, mistake=IN_PLACE,
                          blame=CONTRACT)


@check("beras.onehot.OneHotEncoder", "fit and call give one-hot rows in np.unique order of integer labels; inverse maps back",
       points=1, clause="2 OneHotEncoder: fit, call -> one-hot rows in np.unique order, inverse -> labels", blame=FORWARD)
def test_onehot_integers(student, reference, rng):
    check_onehot(student, reference, rng, rng.choice(np.arange(-20, 60), size=5, replace=False))


@check("beras.onehot.OneHotEncoder", "string labels: one-hot rows in np.unique order, inverse maps back", points=1,
       visibility=HIDDEN, clause="2 OneHotEncoder: fit, call -> one-hot rows in np.unique order, inverse -> labels", blame=FORWARD)
def test_onehot_strings(student, reference, rng):
    check_onehot(student, reference, rng, rng.choice(np.array(["owl", "cat", "ant", "dog", "bee", "yak", "emu"]), size=4,
                                                     replace=False))


# ============================================================== CategoricalAccuracy


@check("beras.metrics.CategoricalAccuracy", "matches the reference on random probabilities, batch sizes 8, 6, 5 and 1",
       points=1, clause="2 CategoricalAccuracy: fraction of rows where the argmaxes agree; 4 contract: no mutation of inputs", blame=FORWARD)
def test_categorical_accuracy(student, reference, rng):
    cases = []
    for n, k, agree in [(8, 4, 0.6), (5, 5, 0.4), (1, 3, 1.0), (1, 3, 0.0), (6, 2, 0.5)]:
        probs = numerics.probabilities(rng, (n, k), floor=0.01)
        labels = numerics.one_hot(rng, n, k)
        hit = rng.random(n) < agree
        labels[hit] = np.eye(k)[np.argmax(probs[hit], axis=1)]
        miss = ~hit & (np.argmax(labels, axis=1) == np.argmax(probs, axis=1))
        labels[miss] = np.roll(labels[miss], 1, axis=1)
        cases.append((probs, labels))
    scenario = Scenario("accuracy", cases, method="CategoricalAccuracy.call",
                        case="CategoricalAccuracy()(probs, labels) for shapes " + ", ".join(str(p.shape) for p, _ in cases))
    got, want = scenario.both(student, reference)
    if not isinstance(got.get("values"), list) or len(got["values"]) != len(cases):
        scenario.fail("the accuracies could not be read back")
    for (probs, _), g, w in zip(cases, got["values"], want["values"]):
        value = real_scalar(g)
        if value is None:
            scenario.fail(f"the accuracy must be a real number, got {describe(g)}")
        expect(scenario, value, w, f"accuracy for probabilities of shape {probs.shape}",
               hints=["the argmax is over the class axis (the last one), per row"])
    if got["untouched"] is not True:
        scenario.fail("CategoricalAccuracy.call changed the probabilities or labels it was given", mistake=IN_PLACE,
                      blame=CONTRACT)


# ============================================================== CategoricalCrossentropy (beyond the generic checks)


@check("beras.losses.CategoricalCrossentropy", "clips y_pred to [1e-8, 1 - 1e-8] before the log: the true class given "
       "probability 0 or 1e-6", points=1, clause="2 CategoricalCrossentropy: -sum(y_true * log(clip(y_pred, 1e-8, 1 - 1e-8))); 4 forward: probabilities near 0",
       blame=FORWARD)
def test_crossentropy_clips(student, reference, rng):
    cases = []
    for p_true in (0.0, 1e-6):
        labels = numerics.one_hot(rng, 4, 3)
        probs = numerics.probabilities(rng, (4, 3), floor=0.05)
        probs[labels == 1] = 0.0
        probs *= (1 - p_true) / probs.sum(axis=1, keepdims=True)
        probs[labels == 1] = p_true
        cases.append((probs, labels))
    scenario = Scenario("crossentropy_values", cases, method="CategoricalCrossentropy.call",
                        case="CategoricalCrossentropy()(y_pred, y_true), the true class of every row given probability "
                             "0, then 1e-6")
    got, want = scenario.both(student, reference)
    if not isinstance(got.get("values"), list) or len(got["values"]) != len(cases):
        scenario.fail("the losses could not be read back")
    for p_true, g, w in zip((0.0, 1e-6), got["values"], want["values"]):
        value = real_scalar(g)
        if value is None:
            scenario.fail(f"the loss must be a real scalar, got {describe(g)}")
        expect(scenario, value, w, f"the loss where the true class has probability {p_true:g}", dtype=precision_of(g),
               hints=["y_pred is clipped to [1e-8, 1 - 1e-8] before the log (SPEC), not to another range"])
    if got["untouched"] is not True:
        scenario.fail("CategoricalCrossentropy.call changed the y_pred or y_true array it was given (clip into a new "
                      "array, not in place)", mistake=IN_PLACE, blame=CONTRACT)
