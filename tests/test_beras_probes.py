"""The probes of harness/scenarios/beras_probes.py are right: the checks trust them.

Their vector-Jacobian products match finite differences; their `get_*_gradients`
give the same products through the given `Diffable.compose_*` (so a tape that
composes them itself is served as well); the probe tape's gradients on a tree
of probes match finite differences; the given-code re-implementations
(`given_call`, `compose` of a layer that inherits compose_*) agree with the
given code. Run on the reference engine's `beras` (tests/conftest.py).
"""

import numpy as np
import pytest

from harness.scenarios import beras_probes, beras_scenarios

KIT = beras_probes.kit()
RNG = np.random.default_rng(7)


def fd(f, x, eps=1e-6):
    """d f(x) / dx by central differences, shaped like x (f scalar)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (f(up) - f(down)) / (2 * eps)
    return grad


@pytest.mark.parametrize("kind", sorted(beras_probes.PROBE_LAYERS))
def test_a_probe_layer_composes_its_derivatives(kind):
    w, x, u = RNG.normal(size=(1, 3)), RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    probe = beras_probes.layer(kind, w)
    probe(x)
    gx = probe.compose_input_gradients([u])[0]
    gw = probe.compose_weight_gradients([u])[0]
    np.testing.assert_allclose(gx, fd(lambda v: np.sum(probe.f(v, w) * u), x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gw, fd(lambda v: np.sum(probe.f(x, v) * u), w), rtol=1e-6, atol=1e-8)
    # the given composition of its local derivatives gives the same
    given_x = KIT.core.Diffable.compose_input_gradients(probe, [u])[0]
    given_w = KIT.core.Diffable.compose_weight_gradients(probe, [u])[0]
    np.testing.assert_allclose(given_x, gx, rtol=1e-12)
    np.testing.assert_allclose(given_w, gw, rtol=1e-12)


def test_the_probe_loss_and_its_gradients():
    p, t = RNG.uniform(0.1, 0.9, size=(3, 4)), RNG.uniform(0.1, 0.9, size=(3, 4))
    loss = KIT.Cauchy()
    value = loss(p, t)
    assert np.ndim(value) == 0 and value > 0
    gp, gt = loss.get_input_gradients()
    np.testing.assert_allclose(gp, fd(lambda v: KIT.Cauchy.value(v, t), p), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(gt, fd(lambda v: KIT.Cauchy.value(p, v), t), rtol=1e-6, atol=1e-9)
    assert not np.isclose(KIT.Cauchy.value(t, p), value), "swapped arguments must show"
    assert not np.isclose(KIT.Closeness()(t, p), KIT.Closeness()(p, t)), "swapped arguments must show"


def test_the_probe_tape_on_a_tree_of_probes():
    ws = [RNG.normal(size=(1, 3)) for _ in range(3)]
    x, s = RNG.normal(size=(5, 3)), RNG.normal(size=(5, 3))

    def forward(x, s, ws):
        wave, bend, squash = (beras_probes.layer(k, w) for k, w in zip(("wave", "bend", "squash"), ws))
        return KIT.Cauchy()(squash(bend(x)), wave(s)), (wave, bend, squash)

    tape = KIT.chain_tape_class()()
    with tape:
        loss, (wave, bend, squash) = forward(x, s, ws)
    grads = tape.gradient(loss, [x, s, wave.w, bend.w, squash.w])
    assert KIT.core.Diffable.gradient_tape is None
    np.testing.assert_allclose(grads[0], fd(lambda v: forward(v, s, ws)[0], x), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(grads[1], fd(lambda v: forward(x, v, ws)[0], s), rtol=1e-6, atol=1e-9)
    for i, k in enumerate((0, 1, 2)):
        def f(v, k=k):
            return forward(x, s, [v if j == k else w for j, w in enumerate(ws)])[0]
        np.testing.assert_allclose(grads[2 + i], fd(f, ws[k]), rtol=1e-6, atol=1e-9)


def test_the_given_code_reimplemented_agrees_with_the_given_code():
    import beras

    x, u = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 5))
    ours, theirs = beras.Dense(3, 5), beras.Dense(3, 5)
    for a, b in zip(ours.weights, theirs.weights):
        a[...] = RNG.normal(size=a.shape)
        b[...] = a
    recorder = type("Recorder", (), {})()
    recorder.previous_layers = {}
    KIT.core.Diffable.gradient_tape = recorder
    try:
        out = KIT.given_call(ours, x)
    finally:
        KIT.core.Diffable.gradient_tape = None
    np.testing.assert_array_equal(out, theirs(x))
    assert ours.inputs == [x] and recorder.previous_layers[id(out)] is ours
    # Dense inherits compose_*: the probe tape composes it with the given code's semantics.
    tape = KIT.chain_tape_class()()
    with tape:
        h = KIT.given_call(ours, x)
        loss = KIT.Cauchy()(h, np.zeros_like(u))
    got = tape.gradient(loss, [x, *ours.weights])
    with beras.GradientTape() as real:
        loss = KIT.Cauchy()(theirs(x), np.zeros_like(u))
    want = real.gradient(loss, [x, *theirs.weights])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


def test_the_model_scenario_and_the_task_run_on_the_reference():
    teacher = [RNG.uniform(0.5, 1.5, size=(1, 3)) for _ in range(3)]
    x = RNG.uniform(-1.5, 1.5, size=(12, 3))
    task = beras_scenarios.probe_task(teacher, [0.5 * w for w in teacher], x)
    runs = beras_scenarios.model_run(teacher, x, task["y"], [("evaluate", [x, task["y"], 4], {})])
    assert runs[0]["result"]["loss"] == pytest.approx(0.0, abs=1e-12)
    assert runs[0]["data_loss"] == pytest.approx(0.0, abs=1e-12) and task["start_loss"] > 0
