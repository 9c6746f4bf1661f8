"""The beras reference against finite differences and closed forms."""

import beras
import numpy as np
import pytest
from fd import numerical_gradient, rel_error

TOL = 1e-7


def away_from_zero(rng, shape, margin=0.1):
    x = rng.uniform(margin, 2.0, size=shape)
    return x * rng.choice([-1.0, 1.0], size=shape)


class Project(beras.Diffable):
    """The scalar sum(c * y): a loss layer whose gradient is exactly `c`."""

    weights = []

    def __init__(self, c):
        self.c = c

    def call(self, y):
        return beras.Tensor(np.sum(self.c * y))

    def get_input_gradients(self):
        return [self.c]

    def get_weight_gradients(self):
        return []


class Add(beras.Diffable):
    """a + b, so that tests can build graphs where a tensor fans out."""

    weights = []

    def call(self, a, b):
        return a + b

    def get_input_gradients(self):
        return [np.ones_like(self.inputs[0]), np.ones_like(self.inputs[1])]

    def get_weight_gradients(self):
        return []

    def compose_input_gradients(self, J=None):
        return [J[0], J[0]]


def vjp_through_tape(layer, x, upstream):
    """Input and weight gradients of sum(upstream * layer(x)), by the tape."""
    x = beras.Tensor(x)
    with beras.GradientTape() as tape:
        loss = Project(upstream)(layer(x))
    return tape.gradient(loss, [x] + layer.weights)


def vjp_by_composition(layer, x, upstream):
    layer(beras.Tensor(x))
    return layer.compose_input_gradients([upstream]) + layer.compose_weight_gradients([upstream])


def fd_vjp(layer, x, upstream):
    def objective():
        return np.sum(upstream * layer.call(x))

    return [numerical_gradient(objective, x)] + [numerical_gradient(objective, w) for w in layer.weights]


LAYERS = {
    "dense 3->5": (lambda: beras.Dense(3, 5), (4, 3)),
    "dense 7->2 batch 1": (lambda: beras.Dense(7, 2), (1, 7)),
    "dense xavier": (lambda: beras.Dense(6, 6, initializer="xavier"), (3, 6)),
    "leaky relu": (lambda: beras.LeakyReLU(alpha=0.2), (5, 4)),
    "relu": (lambda: beras.ReLU(), (3, 6)),
    "sigmoid": (lambda: beras.Sigmoid(), (4, 5)),
    "tanh": (lambda: beras.Tanh(), (2, 7)),
    "softmax": (lambda: beras.Softmax(), (4, 6)),
    "softmax batch 1": (lambda: beras.Softmax(), (1, 3)),
}


@pytest.mark.parametrize("name", LAYERS)
def test_layer_gradients_match_finite_differences(name):
    make, shape = LAYERS[name]
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    np.random.seed(1)
    layer = make()
    for w in layer.weights:
        w[...] = rng.normal(size=w.shape)
    x = away_from_zero(rng, shape)
    x_before = x.copy()
    y_shape = layer.call(x).shape
    upstream = rng.normal(size=y_shape)
    expected = fd_vjp(layer, x, upstream)
    np.testing.assert_array_equal(x, x_before)  # forward leaves its input alone
    for got in (vjp_by_composition(layer, x, upstream), vjp_through_tape(layer, x, upstream)):
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert np.shape(g) == e.shape
            assert rel_error(g, e) <= TOL


def test_activations_match_their_closed_forms():
    x = np.random.default_rng(5).normal(size=(3, 4)) * 3
    e = np.exp(x - x.max(axis=1, keepdims=True))
    expected = {
        beras.ReLU(): np.maximum(x, 0),
        beras.LeakyReLU(): np.where(x > 0, x, 0.3 * x),
        beras.LeakyReLU(0.2): np.where(x > 0, x, 0.2 * x),
        beras.Sigmoid(): 1 / (1 + np.exp(-x)),
        beras.Tanh(): np.tanh(x),
        beras.Softmax(): e / e.sum(axis=1, keepdims=True),
    }
    for layer, want in expected.items():
        np.testing.assert_allclose(layer(x), want, rtol=1e-12, atol=1e-15)


def test_dense_forward_is_the_affine_map():
    layer = beras.Dense(3, 2, initializer="zero")
    assert [w.shape for w in layer.weights] == [(3, 2), (1, 2)]
    layer.w[...] = np.arange(6.0).reshape(3, 2)
    layer.b[...] = [[1.0, -1.0]]
    x = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(layer(x), [[17.0, 21.0]])
    assert isinstance(layer(x), beras.Tensor)


@pytest.mark.parametrize("initializer, std", [("normal", 1.0), ("xavier", np.sqrt(2 / 600)), ("kaiming", np.sqrt(2 / 400))])
def test_dense_initializers_have_the_documented_spread(initializer, std):
    np.random.seed(0)
    layer = beras.Dense(400, 200, initializer=initializer)
    assert abs(np.std(layer.w) / std - 1) < 0.02
    assert not np.any(layer.b)
    assert all(w.trainable for w in layer.weights)


def test_unknown_initializer_is_rejected():
    with pytest.raises(ValueError):
        beras.Dense(2, 2, initializer="ones")


def test_softmax_is_stable_for_huge_logits():
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -999.0]])
    s = beras.Softmax()(x)
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s.sum(axis=1), 1.0)
    np.testing.assert_allclose(s[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(s[1, 2], 1 / (1 + 2 * np.exp(-1)))


def test_sigmoid_is_stable_for_huge_inputs():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = beras.Sigmoid()(np.array([[-1000.0, 0.0, 1000.0]]))
    np.testing.assert_allclose(s, [[0.0, 0.5, 1.0]])


def test_activations_keep_float32():
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    for layer in (beras.LeakyReLU(), beras.Sigmoid(), beras.Tanh(), beras.Softmax()):
        assert layer(x).dtype == np.float32


LOSSES = {
    "mse": (beras.MeanSquaredError, lambda rng: (rng.normal(size=(4, 3)), rng.normal(size=(4, 3)))),
    "mse batch 1": (beras.MeanSquaredError, lambda rng: (rng.normal(size=(1, 5)), rng.normal(size=(1, 5)))),
    "cce": (
        beras.CategoricalCrossentropy,
        lambda rng: (rng.dirichlet(np.ones(4), size=5) * 0.9 + 0.025, np.eye(4)[rng.integers(0, 4, size=5)]),
    ),
}


@pytest.mark.parametrize("name", LOSSES)
def test_loss_gradients_match_finite_differences(name):
    cls, sample = LOSSES[name]
    rng = np.random.default_rng(7)
    y_pred, y_true = sample(rng)
    loss = cls()
    value = loss(y_pred, y_true)
    assert isinstance(value, beras.Tensor) and value.ndim == 0
    expected = [numerical_gradient(lambda: loss.call(y_pred, y_true), a) for a in (y_pred, y_true)]
    loss(y_pred, y_true)
    got = loss.compose_input_gradients(None)
    for g, e in zip(got, expected):
        assert rel_error(g, e) <= TOL


def test_losses_match_their_definitions():
    y_pred = np.array([[0.1, 0.2, 0.7], [0.05, 0.95, 0.0]])
    y_true = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    # The value the course's own tests take from Keras.
    assert float(beras.CategoricalCrossentropy()(y_pred, y_true)) == pytest.approx(0.20398411916314152, rel=1e-9)
    assert float(beras.MeanSquaredError()(y_pred, y_true)) == pytest.approx(np.mean((y_pred - y_true) ** 2))


def test_crossentropy_of_softmax_survives_huge_logits():
    logits = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    labels = np.array([[0.0, 1.0], [0.0, 1.0]])
    with beras.GradientTape() as tape:
        x = beras.Tensor(logits)
        loss = beras.CategoricalCrossentropy()(beras.Softmax()(x), labels)
    (grad,) = tape.gradient(loss, [x])
    assert np.isfinite(float(loss)) and np.all(np.isfinite(grad))
    assert float(loss) == pytest.approx(-np.log(1e-8) / 2)


def test_tape_sums_over_fan_out_and_returns_none_when_disconnected():
    rng = np.random.default_rng(3)
    x = beras.Tensor(rng.normal(size=(3, 4)))
    shared, tanh, sig, add, mse = beras.Dense(4, 4), beras.Tanh(), beras.Sigmoid(), Add(), beras.MeanSquaredError()
    unused = beras.Dense(4, 4)
    target = rng.normal(size=(3, 4))

    def loss_fn():
        h = shared(x)  # `h` feeds two layers
        return mse(add(tanh(h), sig(h)), target)

    with beras.GradientTape() as tape:
        loss = loss_fn()
    got = tape.gradient(loss, [x, shared.w, shared.b, unused.w])
    assert got[3] is None
    for g, param in zip(got[:3], [x, shared.w, shared.b]):
        expected = numerical_gradient(lambda: float(loss_fn()), param)
        assert rel_error(g, expected) <= TOL


def test_tape_sums_a_weight_used_by_two_layers():
    rng = np.random.default_rng(4)
    x = beras.Tensor(rng.normal(size=(2, 3)))
    first, second = beras.Dense(3, 3), beras.Dense(3, 3)
    second.w = first.w  # the same weight object in two layers
    project = Project(rng.normal(size=(2, 3)))

    def loss_fn():
        return project(second(beras.Tanh()(first(x))))

    with beras.GradientTape() as tape:
        loss = loss_fn()
    (grad,) = tape.gradient(loss, [first.w])
    assert rel_error(grad, numerical_gradient(lambda: float(loss_fn()), first.w)) <= TOL


def test_nested_tapes_are_refused_and_the_tape_is_cleared_on_exit():
    with beras.GradientTape():
        with pytest.raises(RuntimeError):
            beras.GradientTape().__enter__()
    assert beras.Diffable.gradient_tape is None


def test_trainable_flags():
    layer = beras.Dense(2, 3)
    assert layer.trainable and len(layer.trainable_variables) == 2
    layer.trainable = False
    assert not layer.trainable and len(layer.non_trainable_variables) == 2
    assert beras.Tensor(np.ones(2))[1:].trainable


def trajectory(optimizer, grads_per_step, start):
    """Parameters after each step; a second parameter rides along every step
    (its own state must not disturb the first's: per-parameter state, one step count)."""
    param, other = beras.Variable(start.copy()), beras.Variable(np.ones((2, 2)))
    same_object = param
    seen = []
    for step, g in enumerate(grads_per_step):
        optimizer.apply_gradients([param, other], [g, np.full((2, 2), 0.1 * (step + 1))])
        seen.append(param.copy())
    assert param is same_object  # updated in place, never rebound
    assert not np.array_equal(other, np.ones((2, 2)))
    return seen


GRADS = [np.array([[0.5, -1.0, 2.0]]), np.array([[0.1, 0.3, -0.2]]), np.array([[-1.5, 0.0, 0.4]]), np.array([[0.7, 0.7, 0.7]])]
START = np.array([[1.0, 2.0, -3.0]])


def test_basic_optimizer_trajectory():
    got = trajectory(beras.BasicOptimizer(0.1), GRADS, START)
    expected = START - 0.1 * np.cumsum(GRADS, axis=0)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_rmsprop_trajectory():
    lr, beta, eps = 0.01, 0.9, 1e-6
    got = trajectory(beras.RMSProp(lr), GRADS, START)
    p, v = START.copy(), 0.0
    for g, seen in zip(GRADS, got):
        v = beta * v + (1 - beta) * g**2
        p = p - lr * g / (np.sqrt(v) + eps)
        np.testing.assert_allclose(seen, p, rtol=1e-12)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_trajectory(amsgrad):
    lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-7
    got = trajectory(beras.Adam(lr, amsgrad=amsgrad), GRADS, START)
    p, m, v, v_max = START.copy(), 0.0, 0.0, 0.0
    for t, (g, seen) in enumerate(zip(GRADS, got), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        if amsgrad:  # SPEC: the running max of the RAW second moment, then bias-corrected
            v_max = np.maximum(v_max, v)
            v_hat = v_max / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(seen, p, rtol=1e-12)


def test_amsgrad_differs_once_the_second_moment_shrinks():
    # beta_2 = 0.5 forgets fast: the raw second moment shrinks after a large gradient
    plain = trajectory(beras.Adam(0.05, beta_2=0.5), GRADS, START)
    ams = trajectory(beras.Adam(0.05, beta_2=0.5, amsgrad=True), GRADS, START)
    assert not np.allclose(plain[-1], ams[-1])


def test_metric_and_one_hot_encoder():
    probs = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    labels = np.array([[0, 1], [0, 1], [0, 1]])
    assert float(beras.CategoricalAccuracy()(probs, labels)) == pytest.approx(2 / 3)
    enc = beras.OneHotEncoder()
    enc.fit(np.array(["cat", "ant", "dog", "ant"]))
    one_hot = enc(np.array(["dog", "ant"]))
    np.testing.assert_array_equal(one_hot, [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(enc.inverse(one_hot), ["dog", "ant"])
    with pytest.raises(ValueError):
        enc(np.array(["eel"]))


def toy_classification(rng, n=200):
    centers = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    labels = rng.integers(0, 3, size=n)
    x = centers[labels] + rng.normal(scale=0.7, size=(n, 2))
    return x, np.eye(3)[labels]


@pytest.mark.parametrize(
    "optimizer", [lambda: beras.BasicOptimizer(0.2), lambda: beras.RMSProp(0.01), lambda: beras.Adam(0.01)]
)
def test_sequential_model_fit_halves_the_loss(optimizer):
    rng = np.random.default_rng(0)
    np.random.seed(0)
    x, y = toy_classification(rng)
    model = beras.SequentialModel(
        [beras.Dense(2, 16, initializer="kaiming"), beras.LeakyReLU(), beras.Dense(16, 3, initializer="xavier"), beras.Softmax()]
    )
    model.compile(optimizer(), beras.CategoricalCrossentropy(), beras.CategoricalAccuracy())
    before = model.evaluate(x, y, batch_size=50)
    history = model.fit(x, y, epochs=15, batch_size=20)
    after = model.evaluate(x, y, batch_size=50)
    assert len(history["loss"]) == 15 and len(history["acc"]) == 15
    assert all(isinstance(v, float) for v in history["loss"])
    assert after["loss"] <= 0.5 * before["loss"]
    assert after["acc"] > 0.85


def test_evaluate_changes_no_weight_and_batch_step_trains_only_when_asked():
    rng = np.random.default_rng(1)
    x, y = toy_classification(rng, n=30)
    model = beras.SequentialModel([beras.Dense(2, 3), beras.Softmax()])
    model.compile(beras.BasicOptimizer(0.5), beras.CategoricalCrossentropy(), beras.CategoricalAccuracy())
    before = [w.copy() for w in model.weights]
    model.evaluate(x, y, batch_size=7)
    stats = model.batch_step(x, y, training=False)
    assert set(stats) == {"loss", "acc"}
    for w, b in zip(model.weights, before):
        np.testing.assert_array_equal(w, b)
    model.batch_step(x, y, training=True)
    assert any(not np.array_equal(w, b) for w, b in zip(model.weights, before))
