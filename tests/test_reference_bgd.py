"""The bgd reference against finite differences, closed forms and loops."""

import bgd
import numpy as np
import pytest
from bgd.cost import MSE, CrossEntropy
from bgd.layers import (
    Activation,
    Convolutional2D,
    Dropout,
    Flatten,
    FullyConnected,
    Layer,
    MaxPooling2D,
)
from bgd.nn import NeuralStack
from bgd.optimizers import AdamOptimizer, MomentumOptimizer
from fd import numerical_gradient, rel_error

TOL = 1e-7


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def away_from_zero(rng, shape, margin=0.1):
    x = rng.uniform(margin, 2.0, size=shape)
    return x * rng.choice([-1.0, 1.0], size=shape)


def distinct_values(rng, shape):
    """Values 0.1 apart in a random order: no ties, no near-ties."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 1.0


def check_gradients(layer, X, rng):
    """Backward against central differences of `sum(G * forward(X))`, for the
    input and for every parameter array; returns (output, signal, grads)."""
    output = layer.forward(X)
    G = rng.standard_normal(output.shape)
    signal, grads = layer.backward(G)

    def f():
        return np.sum(layer.forward(X) * G)

    assert signal.shape == X.shape
    assert rel_error(signal, numerical_gradient(f, X)) <= TOL
    params = layer.get_parameters()
    if params is None:
        assert grads is None
    else:
        assert len(grads) == len(params)
        for param, grad in zip(params, grads, strict=True):
            assert grad.shape == param.shape
            assert rel_error(grad, numerical_gradient(f, param)) <= TOL
    return output, signal, grads


def randomize_parameters(layer, rng):
    for param in layer.get_parameters():
        param[...] = rng.standard_normal(param.shape)


# ---------------------------------------------------------------- Layer (given)


class Identity(Layer):
    """Returns its input itself: the output shares memory with the input."""

    def _forward(self, X):
        return X

    def _backward(self, error):
        return 2 * error


def test_layer_forward_records_shape_and_saves_input_and_output():
    X = np.arange(6.0).reshape(2, 3)
    layer = Identity()
    assert layer.propagate and layer.input_shape is None
    assert layer.forward(X) is X
    assert layer.input_shape == (2, 3)
    assert layer.current_input is X and layer.current_output is X


def test_layer_copies_saved_output_only_when_asked_and_shared():
    X = np.arange(6.0).reshape(2, 3)
    layer = Identity(copy=True)
    layer.forward(X)
    assert layer.current_output is not X and not np.may_share_memory(layer.current_output, X)
    assert np.array_equal(layer.current_output, X)
    fc = FullyConnected(3, 2, copy=True)
    out = fc.forward(X)
    assert fc.current_output is out  # a fresh array: nothing to copy


def test_layer_saves_nothing_when_told_not_to():
    layer = Identity(save_input=False, save_output=False)
    layer.forward(np.ones((2, 2)))
    assert layer.current_input is None and layer.current_output is None
    assert layer.input_shape == (2, 2)


def test_layer_backward_wraps_signal_and_respects_propagate():
    layer = Identity()
    layer.forward(np.ones((2, 2)))
    signal, grads = layer.backward(np.ones((2, 2)))
    assert np.array_equal(signal, 2 * np.ones((2, 2))) and grads is None
    layer.deactivate_propagation()
    assert not layer.propagate
    assert layer.backward(np.ones((2, 2))) == (None, None)
    layer.activate_propagation()
    assert layer.propagate


def test_learnable_and_get_parameters():
    assert FullyConnected(2, 3).learnable()
    assert Convolutional2D((2, 2, 1), 3).learnable()
    for layer in (Activation("relu"), Dropout(), Flatten(), MaxPooling2D((2, 2)), Identity()):
        assert layer.get_parameters() is None and not layer.learnable()


def test_update_parameters_in_place(rng):
    layer = FullyConnected(3, 2)
    randomize_parameters(layer, rng)
    weights, biases = layer.get_parameters()
    before = [weights.copy(), biases.copy()]
    deltas = (rng.standard_normal((3, 2)), rng.standard_normal((1, 2)))
    layer.update_parameters(deltas)
    after = layer.get_parameters()
    assert after[0] is weights and after[1] is biases
    assert layer.weights is weights and layer.biases is biases
    np.testing.assert_allclose(weights, before[0] - deltas[0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(biases, before[1] - deltas[1], rtol=0, atol=1e-15)


def test_update_parameters_rejects_bad_calls():
    with pytest.raises(TypeError):
        Identity().update_parameters((np.ones(1),))
    with pytest.raises(ValueError):
        FullyConnected(2, 2).update_parameters((np.ones((2, 2)),))


# ---------------------------------------------------------------- FullyConnected


@pytest.mark.parametrize("n, n_in, n_out", [(1, 3, 2), (5, 4, 7), (3, 6, 1)])
def test_fc_forward_and_gradients(rng, n, n_in, n_out):
    layer = FullyConnected(n_in, n_out)
    assert layer.weights.shape == (n_in, n_out) and layer.biases.shape == (1, n_out)
    assert not np.any(layer.biases)
    randomize_parameters(layer, rng)
    X = rng.standard_normal((n, n_in))
    X_before = X.copy()
    out, signal, (grad_w, grad_b) = check_gradients(layer, X, rng)
    np.testing.assert_allclose(out, X @ layer.weights + layer.biases, rtol=1e-13)
    assert np.array_equal(X, X_before)


def test_fc_backward_is_the_documented_formula(rng):
    layer = FullyConnected(4, 3)
    randomize_parameters(layer, rng)
    X = rng.standard_normal((5, 4))
    layer.forward(X)
    error = rng.standard_normal((5, 3))
    signal, (grad_w, grad_b) = layer.backward(error)
    np.testing.assert_allclose(signal, error @ layer.weights.T, rtol=1e-13)
    np.testing.assert_allclose(grad_w, X.T @ error, rtol=1e-13)
    np.testing.assert_allclose(grad_b, error.sum(0, keepdims=True), rtol=1e-13)


def test_fc_without_bias(rng):
    layer = FullyConnected(4, 3, with_bias=False)
    params = layer.get_parameters()
    assert len(params) == 1 and params[0] is layer.weights
    randomize_parameters(layer, rng)
    X = rng.standard_normal((2, 4))
    out, _, grads = check_gradients(layer, X, rng)
    assert len(grads) == 1
    np.testing.assert_allclose(out, X @ layer.weights, rtol=1e-13)


def test_fc_without_propagation_returns_no_signal_but_gradients(rng):
    layer = FullyConnected(4, 3)
    randomize_parameters(layer, rng)
    X = rng.standard_normal((3, 4))
    error = rng.standard_normal((3, 3))
    layer.forward(X)
    _, expected = layer.backward(error)
    layer.deactivate_propagation()
    layer.forward(X)
    signal, grads = layer.backward(error)
    assert signal is None
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_fc_parameters_are_the_arrays_it_computes_with(rng):
    layer = FullyConnected(3, 2)
    weights, biases = layer.get_parameters()
    weights[...] = np.arange(6.0).reshape(3, 2)
    biases[...] = [[10.0, 20.0]]
    out = layer.forward(np.array([[1.0, 0.0, 1.0]]))
    np.testing.assert_allclose(out, [[14.0, 26.0]])


def test_fc_dtype_float32(rng):
    layer = FullyConnected(3, 2, dtype=np.float32)
    assert all(p.dtype == np.float32 for p in layer.get_parameters())
    X = rng.standard_normal((4, 3)).astype(np.float32)
    out = layer.forward(X)
    assert out.dtype == np.float32
    signal, grads = layer.backward(np.ones_like(out))
    assert signal.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)


# ---------------------------------------------------------------- Activation


def softmax_rows(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


CLOSED_FORMS = {
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "softmax": softmax_rows,
}


@pytest.mark.parametrize("function", sorted(CLOSED_FORMS))
@pytest.mark.parametrize("shape", [(1, 5), (4, 3)])
def test_activation_forward_and_gradient(rng, function, shape):
    layer = Activation(function)
    X = away_from_zero(rng, shape)
    X_before = X.copy()
    out, _, grads = check_gradients(layer, X, rng)
    assert grads is None
    np.testing.assert_allclose(out, CLOSED_FORMS[function](X_before), rtol=1e-12)
    assert np.array_equal(X, X_before)


def test_activation_name_is_case_insensitive_and_checked():
    assert Activation("ReLU").function == "relu"
    with pytest.raises(ValueError):
        Activation("swish")


def test_relu_backward_keeps_saved_input(rng):
    layer = Activation("relu")
    X = away_from_zero(rng, (4, 5))
    X_before = X.copy()
    out_before = layer.forward(X).copy()
    layer.backward(rng.standard_normal((4, 5)))
    assert layer.current_input is X
    assert np.array_equal(X, X_before)
    assert np.array_equal(layer.current_output, out_before)


def test_softmax_backward_is_the_full_jacobian_product(rng):
    layer = Activation("softmax")
    X = rng.standard_normal((3, 4))
    s = layer.forward(X)
    error = rng.standard_normal((3, 4))
    signal, _ = layer.backward(error)
    jacobians = np.stack([np.diag(row) - np.outer(row, row) for row in s])
    expected = np.einsum("bij,bi->bj", jacobians, error)
    np.testing.assert_allclose(signal, expected, rtol=1e-12, atol=1e-15)
    diagonal_only = s * (1 - s) * error  # the original library's mistake
    assert rel_error(signal, diagonal_only) > 1e-2


def test_softmax_and_cross_entropy_survive_huge_logits():
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0], [1000.0, 1000.0, -1000.0]])
    y = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    layer = Activation("softmax")
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        s = layer.forward(logits)
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s.sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(s, [[1, 0, 0], [0, 0, 1], [0.5, 0.5, 0]], atol=1e-300)
    cost = CrossEntropy()
    loss = cost.eval(y, s)
    grad = cost.grad(y, s)
    signal, _ = layer.backward(grad)
    assert np.isfinite(loss) and np.all(np.isfinite(grad)) and np.all(np.isfinite(signal))
    # the middle row puts probability 0 on its label: -log(1e-15) / 3 rows at least
    assert loss >= -np.log(1e-15) / 3


def test_sigmoid_survives_huge_inputs():
    layer = Activation("sigmoid")
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        out = layer.forward(np.array([[-1000.0, 0.0, 1000.0]]))
    np.testing.assert_allclose(out, [[0.0, 0.5, 1.0]])


def test_softmax_then_cross_entropy_chain_matches_finite_differences(rng):
    layer, cost = Activation("softmax"), CrossEntropy()
    logits = rng.uniform(-8.0, 8.0, size=(4, 5))
    y = np.eye(5)[rng.integers(0, 5, size=4)]
    s = layer.forward(logits)
    signal, _ = layer.backward(cost.grad(y, s))
    numerical = numerical_gradient(lambda: cost.eval(y, layer.forward(logits)), logits)
    assert rel_error(signal, numerical) <= TOL
    np.testing.assert_allclose(signal, (s - y) / 4, atol=1e-12)


# ---------------------------------------------------------------- Convolutional2D


def naive_correlation(X, filters, biases, strides):
    n_images, height, width, _ = X.shape
    n_filters, fh, fw, _ = filters.shape
    s0, s1 = strides
    out = np.zeros((n_images, 1 + (height - fh) // s0, 1 + (width - fw) // s1, n_filters))
    for n, i, j, f in np.ndindex(*out.shape):
        window = X[n, i * s0 : i * s0 + fh, j * s1 : j * s1 + fw, :]
        out[n, i, j, f] = np.sum(window * filters[f]) + (0.0 if biases is None else biases[f])
    return out


CONV_CASES = [
    # (input shape, (FH, FW), n_filters, strides, with_bias)
    ((2, 5, 5, 1), (3, 3), 2, (1, 1), True),
    ((1, 7, 6, 2), (3, 2), 3, (2, 2), True),
    ((2, 6, 7, 3), (2, 3), 2, (2, 1), True),
    ((3, 5, 8, 2), (1, 3), 1, (1, 3), False),
    ((1, 4, 9, 1), (4, 2), 2, (1, 2), False),
]


@pytest.mark.parametrize("shape, kernel, n_filters, strides, with_bias", CONV_CASES)
def test_conv_forward_and_gradients(rng, shape, kernel, n_filters, strides, with_bias):
    layer = Convolutional2D((*kernel, shape[3]), n_filters, strides=strides, with_bias=with_bias)
    assert layer.filters.shape == (n_filters, *kernel, shape[3])
    assert len(layer.get_parameters()) == (2 if with_bias else 1)
    if with_bias:
        assert layer.biases.shape == (n_filters,)
    randomize_parameters(layer, rng)
    X = rng.standard_normal(shape)
    X_before = X.copy()
    out, _, grads = check_gradients(layer, X, rng)
    expected_shape = (
        shape[0],
        1 + (shape[1] - kernel[0]) // strides[0],
        1 + (shape[2] - kernel[1]) // strides[1],
        n_filters,
    )
    assert out.shape == expected_shape
    biases = layer.biases if with_bias else None
    np.testing.assert_allclose(out, naive_correlation(X, layer.filters, biases, strides), rtol=1e-12, atol=1e-13)
    assert len(grads) == (2 if with_bias else 1)
    assert np.array_equal(X, X_before)


def test_conv_without_propagation_returns_no_signal(rng):
    layer = Convolutional2D((2, 2, 2), 3, strides=(2, 1))
    X = rng.standard_normal((2, 5, 4, 2))
    error = rng.standard_normal((2, 2, 3, 3))
    layer.forward(X)
    _, expected = layer.backward(error)
    layer.deactivate_propagation()
    signal, grads = layer.backward(error)
    assert signal is None
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_conv_parameters_are_the_arrays_it_computes_with():
    layer = Convolutional2D((1, 1, 2), 1)
    filters, biases = layer.get_parameters()
    filters[...] = [[[[1.0, 10.0]]]]
    biases[...] = 100.0
    X = np.arange(8.0).reshape(1, 2, 2, 2)
    np.testing.assert_allclose(layer.forward(X)[0, :, :, 0], [[110.0, 132.0], [154.0, 176.0]])


def test_conv_rejects_bad_shapes():
    with pytest.raises(ValueError):
        Convolutional2D((3, 3), 2)
    layer = Convolutional2D((3, 3, 2), 2)
    with pytest.raises(ValueError):
        layer.forward(np.ones((1, 5, 5, 3)))


# ---------------------------------------------------------------- MaxPooling2D


def naive_pool(X, pool, strides):
    n_images, height, width, channels = X.shape
    (ph, pw), (s0, s1) = pool, strides
    out = np.zeros((n_images, 1 + (height - ph) // s0, 1 + (width - pw) // s1, channels))
    for n, i, j, c in np.ndindex(*out.shape):
        out[n, i, j, c] = X[n, i * s0 : i * s0 + ph, j * s1 : j * s1 + pw, c].max()
    return out


POOL_CASES = [
    # (input shape, pool, strides)
    ((2, 4, 6, 2), (2, 2), None),
    ((1, 7, 7, 1), (3, 3), (2, 2)),  # overlapping windows
    ((2, 5, 8, 3), (3, 2), (2, 1)),  # overlapping along both axes, non-square
    ((1, 5, 7, 2), (2, 3), None),  # sizes that do not divide: borders dropped
    ((3, 3, 3, 1), (3, 3), None),
]


@pytest.mark.parametrize("shape, pool, strides", POOL_CASES)
def test_max_pooling_forward_and_gradient(rng, shape, pool, strides):
    layer = MaxPooling2D(pool, strides)
    X = distinct_values(rng, shape)
    out, _, grads = check_gradients(layer, X, rng)
    assert grads is None
    effective = pool if strides is None else strides
    assert out.shape == (
        shape[0],
        1 + (shape[1] - pool[0]) // effective[0],
        1 + (shape[2] - pool[1]) // effective[1],
        shape[3],
    )
    np.testing.assert_array_equal(out, naive_pool(X, pool, effective))


def test_max_pooling_default_strides_are_the_pool_shape():
    assert MaxPooling2D((2, 3)).strides == (2, 3)
    assert MaxPooling2D((3, 3), (2, 2)).strides == (2, 2)


def test_max_pooling_ties_go_to_the_first_maximum_in_row_major_order():
    layer = MaxPooling2D((2, 2))
    X = np.array([[5.0, 1.0, 0.0, 7.0], [5.0, 5.0, 7.0, 7.0]]).reshape(1, 2, 4, 1)
    out = layer.forward(X)
    np.testing.assert_array_equal(out.ravel(), [5.0, 7.0])
    signal, grads = layer.backward(np.array([2.0, 3.0]).reshape(1, 1, 2, 1))
    expected = np.array([[2.0, 0.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0]]).reshape(1, 2, 4, 1)
    np.testing.assert_array_equal(signal, expected)
    assert grads is None


def test_max_pooling_adds_errors_where_windows_overlap():
    # pool 2x2, stride 1 on a 3x3 image whose maximum is in the middle:
    # all four windows pick the middle pixel
    X = np.zeros((1, 3, 3, 1))
    X[0, 1, 1, 0] = 1.0
    layer = MaxPooling2D((2, 2), (1, 1))
    layer.forward(X)
    error = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2, 1)
    signal, _ = layer.backward(error)
    expected = np.zeros((1, 3, 3, 1))
    expected[0, 1, 1, 0] = 10.0
    np.testing.assert_array_equal(signal, expected)


def test_max_pooling_tie_between_overlapping_windows():
    # pool 3 stride 2 on 1x5: both windows see the 9 at column 2 and another 9;
    # each window's first 9 gets that window's error
    X = np.array([9.0, 0.0, 9.0, 0.0, 9.0]).reshape(1, 1, 5, 1)
    layer = MaxPooling2D((1, 3), (1, 2))
    layer.forward(X)
    signal, _ = layer.backward(np.array([1.0, 10.0]).reshape(1, 1, 2, 1))
    np.testing.assert_array_equal(signal.ravel(), [1.0, 0.0, 10.0, 0.0, 0.0])


def test_max_pooling_keeps_float32(rng):
    layer = MaxPooling2D((2, 2))
    X = distinct_values(rng, (2, 4, 4, 3)).astype(np.float32)
    out = layer.forward(X)
    signal, _ = layer.backward(np.ones_like(out))
    assert out.dtype == np.float32 and signal.dtype == np.float32


# ---------------------------------------------------------------- Dropout


def test_dropout_is_active_when_new_and_preserves_the_mean():
    layer = Dropout(0.3)
    assert layer.active
    np.random.seed(0)
    X = np.ones((200, 500))
    out = layer.forward(X)
    assert set(np.unique(out)) == {0.0, 1.0 / 0.3}
    assert abs(np.mean(out != 0) - 0.3) < 0.01
    assert abs(out.mean() - 1.0) < 0.03
    assert np.array_equal(X, np.ones((200, 500)))


def test_dropout_mask_comes_from_the_global_generator(rng):
    X = rng.standard_normal((4, 6))
    np.random.seed(7)
    mask = np.random.rand(4, 6) < 0.6
    np.random.seed(7)
    out = Dropout(0.6).forward(X)
    np.testing.assert_allclose(out, X * mask / 0.6, rtol=1e-15)


def test_dropout_backward_reuses_the_forward_mask(rng):
    layer = Dropout(0.5)
    X = rng.standard_normal((5, 8))
    np.random.seed(3)
    out = layer.forward(X)
    kept = out != 0
    error = rng.standard_normal((5, 8))
    signal, grads = layer.backward(error)
    assert grads is None
    np.testing.assert_allclose(signal, np.where(kept, error / 0.5, 0.0), rtol=1e-15)

    def f():
        np.random.seed(3)
        return np.sum(layer.forward(X) * error)

    assert rel_error(signal, numerical_gradient(f, X)) <= TOL


def test_inactive_dropout_is_the_identity(rng):
    layer = Dropout(0.5)
    layer.deactivate()
    assert not layer.active
    X = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(layer.forward(X), X)
    error = rng.standard_normal((3, 4))
    signal, _ = layer.backward(error)
    np.testing.assert_array_equal(signal, error)
    layer.activate()
    assert layer.active
    np.random.seed(0)
    assert np.any(layer.forward(np.ones((10, 10))) == 0)


def test_dropout_rejects_bad_probability():
    for keep in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            Dropout(keep)


# ---------------------------------------------------------------- Flatten


@pytest.mark.parametrize("shape", [(1, 2, 3, 2), (3, 4, 2), (2, 5)])
def test_flatten(rng, shape):
    layer = Flatten()
    X = rng.standard_normal(shape)
    out, signal, _ = check_gradients(layer, X, rng)
    np.testing.assert_array_equal(out, X.reshape(shape[0], -1))
    assert signal.shape == shape


# ---------------------------------------------------------------- costs


@pytest.mark.parametrize("shape", [(1, 1), (4, 3)])
def test_mse(rng, shape):
    cost = MSE()
    y, y_hat = rng.standard_normal(shape), rng.standard_normal(shape)
    assert np.isclose(cost.eval(y, y_hat), 0.5 * np.mean((y_hat - y) ** 2), rtol=1e-14)
    grad = cost.grad(y, y_hat)
    np.testing.assert_allclose(grad, (y_hat - y) / y_hat.size, rtol=1e-14)
    assert rel_error(grad, numerical_gradient(lambda: cost.eval(y, y_hat), y_hat)) <= TOL


def test_cross_entropy_known_value():
    y_hat = np.array([[0.1, 0.2, 0.7], [0.05, 0.95, 0.0]])
    y = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    assert np.isclose(CrossEntropy().eval(y, y_hat), 0.20398411916314152, rtol=1e-12)


@pytest.mark.parametrize("shape", [(1, 3), (5, 4)])
def test_cross_entropy_gradient(rng, shape):
    cost = CrossEntropy()
    y_hat = rng.uniform(0.05, 1.0, size=shape)
    y = rng.dirichlet(np.ones(shape[1]), size=shape[0])  # soft labels
    expected = -np.mean(np.sum(y * np.log(y_hat), axis=1))
    assert np.isclose(cost.eval(y, y_hat), expected, rtol=1e-13)
    grad = cost.grad(y, y_hat)
    np.testing.assert_allclose(grad, -y / y_hat / shape[0], rtol=1e-13)
    assert rel_error(grad, numerical_gradient(lambda: cost.eval(y, y_hat), y_hat)) <= TOL


def test_cross_entropy_epsilon_guards_log_zero():
    cost = CrossEntropy(epsilon=1e-10)
    y_hat = np.array([[0.0, 1.0]])
    y = np.array([[1.0, 0.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        assert np.isclose(cost.eval(y, y_hat), -np.log(1e-10))
        np.testing.assert_allclose(cost.grad(y, y_hat), [[-1e10, 0.0]])


# ---------------------------------------------------------------- optimizers


def make_layers(rng):
    first, second = FullyConnected(3, 2), FullyConnected(2, 4, with_bias=False)
    randomize_parameters(first, rng)
    randomize_parameters(second, rng)
    return first, second


def gradient_steps(rng, n_steps=4):
    return [
        ((rng.standard_normal((3, 2)), rng.standard_normal((1, 2))), (rng.standard_normal((2, 4)),))
        for _ in range(n_steps)
    ]


def run_optimizer(optimizer, layers, steps):
    arrays = [p for layer in layers for p in layer.get_parameters()]
    trajectory = []
    for grads_per_layer in steps:
        for layer, grads in zip(layers, grads_per_layer, strict=True):
            optimizer.add_gradient_fragments(layer, grads)
        optimizer.update()
        assert optimizer.gradient_fragments == []
        current = [p for layer in layers for p in layer.get_parameters()]
        assert all(a is b for a, b in zip(arrays, current, strict=True))  # in place
        trajectory.append([p.copy() for p in current])
    return trajectory


@pytest.mark.parametrize("learning_rate, momentum", [(0.005, 0.9), (0.1, 0.5)])
def test_momentum_trajectory(rng, learning_rate, momentum):
    layers = make_layers(rng)
    params = [p.copy() for layer in layers for p in layer.get_parameters()]
    steps = gradient_steps(rng)
    optimizer = MomentumOptimizer(learning_rate=learning_rate, momentum=momentum)
    trajectory = run_optimizer(optimizer, layers, steps)
    previous = [np.zeros_like(p) for p in params]
    for grads_per_layer, got in zip(steps, trajectory, strict=True):
        grads = [g for layer_grads in grads_per_layer for g in layer_grads]
        for k, g in enumerate(grads):
            previous[k] = learning_rate * g + momentum * previous[k]
            params[k] = params[k] - previous[k]
        for want, have in zip(params, got, strict=True):
            np.testing.assert_allclose(have, want, rtol=1e-13, atol=1e-15)


def test_momentum_defaults():
    optimizer = MomentumOptimizer()
    assert optimizer.learning_rate == 0.005 and optimizer.momentum == 0.9


@pytest.mark.parametrize(
    "kwargs", [{}, {"learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6}]
)
def test_adam_trajectory(rng, kwargs):
    lr = kwargs.get("learning_rate", 0.001)
    b1, b2 = kwargs.get("beta_1", 0.9), kwargs.get("beta_2", 0.999)
    eps = kwargs.get("epsilon", 1e-8)
    layers = make_layers(rng)
    params = [p.copy() for layer in layers for p in layer.get_parameters()]
    steps = gradient_steps(rng)
    optimizer = AdamOptimizer(**kwargs)
    trajectory = run_optimizer(optimizer, layers, steps)
    assert optimizer.step == len(steps)
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t, (grads_per_layer, got) in enumerate(zip(steps, trajectory, strict=True), start=1):
        grads = [g for layer_grads in grads_per_layer for g in layer_grads]
        for k, g in enumerate(grads):
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g**2
            m_hat = m[k] / (1 - b1**t)
            v_hat = v[k] / (1 - b2**t)
            params[k] = params[k] - lr * m_hat / (np.sqrt(v_hat) + eps)
        for want, have in zip(params, got, strict=True):
            np.testing.assert_allclose(have, want, rtol=1e-12, atol=1e-15)


def test_adam_first_step_moves_every_parameter_by_about_the_learning_rate(rng):
    layer = FullyConnected(3, 2)
    before = layer.weights.copy()
    optimizer = AdamOptimizer(learning_rate=0.01)
    optimizer.add_gradient_fragments(layer, (rng.standard_normal((3, 2)), rng.standard_normal((1, 2))))
    optimizer.update()
    np.testing.assert_allclose(np.abs(before - layer.weights), 0.01, rtol=1e-5)


def test_optimizer_accepts_a_single_array():
    layer = FullyConnected(2, 2, with_bias=False)
    before = layer.weights.copy()
    optimizer = MomentumOptimizer(learning_rate=0.5, momentum=0.0)
    optimizer.add_gradient_fragments(layer, np.ones((2, 2)))
    optimizer.update()
    np.testing.assert_allclose(layer.weights, before - 0.5)


# ---------------------------------------------------------------- NeuralStack


def test_add_dispatches_by_type():
    stack = NeuralStack()
    first, second = FullyConnected(2, 3), Activation("tanh")
    cost, optimizer = MSE(), AdamOptimizer()
    for component in (first, cost, second, optimizer):
        stack.add(component)
    assert stack.layers == [first, second]
    assert stack.cost is cost and stack.optimizer is optimizer
    with pytest.raises(TypeError):
        stack.add("relu")


def test_train_needs_a_cost_and_an_optimizer():
    X, y = np.ones((4, 2)), np.ones((4, 1))
    stack = NeuralStack()
    stack.add(FullyConnected(2, 1))
    stack.add(AdamOptimizer())
    with pytest.raises(RuntimeError, match="cost"):
        stack.train(X, y, 1, 2)
    stack = NeuralStack()
    stack.add(FullyConnected(2, 1))
    stack.add(MSE())
    with pytest.raises(RuntimeError, match="optimizer"):
        stack.train(X, y, 1, 2)
    stack.add(AdamOptimizer())
    with pytest.raises(ValueError):
        stack.train(X, y[:3], 1, 2)


def test_eval_is_the_composition_of_the_layers(rng):
    stack = NeuralStack()
    fc, act = FullyConnected(3, 4), Activation("sigmoid")
    stack.add(fc)
    stack.add(act)
    X = rng.standard_normal((5, 3))
    np.testing.assert_allclose(stack.eval(X), 1 / (1 + np.exp(-(X @ fc.weights + fc.biases))), rtol=1e-13)


@pytest.mark.parametrize("initially_active", [True, False])
def test_eval_switches_dropout_off_and_restores_it(rng, initially_active):
    stack = NeuralStack()
    dropout = Dropout(0.5)
    if not initially_active:
        dropout.deactivate()
    stack.add(Flatten())
    stack.add(dropout)
    X = rng.standard_normal((4, 6))
    np.testing.assert_array_equal(stack.eval(X), X)
    assert dropout.active is initially_active


def blobs(rng, n=60):
    labels = rng.integers(0, 2, size=n)
    centers = np.array([[-1.5, 1.0], [1.5, -1.0]])
    X = centers[labels] + 0.6 * rng.standard_normal((n, 2))
    return X, np.eye(2)[labels]


def test_train_halves_the_loss_on_blobs(rng):
    np.random.seed(0)
    X, y = blobs(rng)
    X_before, y_before = X.copy(), y.copy()
    stack = NeuralStack()
    stack.add(FullyConnected(2, 2))
    stack.add(Activation("softmax"))
    stack.add(CrossEntropy())
    stack.add(MomentumOptimizer(learning_rate=0.05, momentum=0.9))
    losses = stack.train(X, y, epochs=15, batch_size=16)
    assert isinstance(losses, np.ndarray) and losses.ndim == 1 and losses.dtype.kind == "f"
    assert len(losses) == 15 * 4  # 60 samples in batches of 16: 4 batches an epoch
    assert np.all(np.isfinite(losses))
    assert losses[-4:].mean() <= 0.5 * losses[:4].mean()
    assert np.mean(stack.eval(X).argmax(1) == y.argmax(1)) > 0.9
    assert np.array_equal(X, X_before) and np.array_equal(y, y_before)
    assert stack.layers[0].propagate  # restored after training


def bars(rng, n=48):
    """6x6 one-channel images with a vertical (class 0) or horizontal (class 1) bar."""
    labels = rng.integers(0, 2, size=n)
    X = 0.1 * rng.standard_normal((n, 6, 6, 1))
    for k, (label, where) in enumerate(zip(labels, rng.integers(1, 5, size=n), strict=True)):
        if label == 0:
            X[k, :, where, 0] += 1.0
        else:
            X[k, where, :, 0] += 1.0
    return X, np.eye(2)[labels]


def test_train_halves_the_loss_of_a_tiny_conv_net(rng):
    np.random.seed(1)
    X, y = bars(rng)
    stack = NeuralStack()
    stack.add(Convolutional2D((3, 3, 1), 4))
    stack.add(Activation("relu"))
    stack.add(MaxPooling2D((2, 2)))
    stack.add(Flatten())
    stack.add(Dropout(0.9))
    stack.add(FullyConnected(16, 2))
    stack.add(Activation("softmax"))
    stack.add(CrossEntropy())
    stack.add(AdamOptimizer(learning_rate=0.02))
    losses = stack.train(X, y, epochs=15, batch_size=8)
    assert len(losses) == 15 * 6
    assert losses[-6:].mean() <= 0.5 * losses[:6].mean()
    assert np.mean(stack.eval(X).argmax(1) == y.argmax(1)) > 0.9


class Recorder(Identity):
    """Identity that remembers every batch it sees."""

    def __init__(self):
        Identity.__init__(self)
        self.batches = []

    def _forward(self, X):
        self.batches.append(X.copy())
        return X


def test_train_shuffles_each_epoch_with_permutation_and_reports_every_batch():
    X = np.arange(10.0).reshape(10, 1)
    y = np.zeros((10, 1))
    recorder = Recorder()
    stack = NeuralStack()
    stack.add(recorder)
    stack.add(MSE())
    stack.add(MomentumOptimizer())
    np.random.seed(5)
    losses = stack.train(X, y, epochs=2, batch_size=4)
    np.random.seed(5)
    orders = [np.random.permutation(10), np.random.permutation(10)]
    expected = [X[order[start : start + 4]] for order in orders for start in (0, 4, 8)]
    assert len(recorder.batches) == len(expected) == len(losses) == 6
    for got, want, loss in zip(recorder.batches, expected, losses, strict=True):
        np.testing.assert_array_equal(got, want)
        assert np.isclose(loss, 0.5 * np.mean(want**2), rtol=1e-14)


def test_train_backpropagates_through_the_whole_stack(rng):
    """One batch, plain gradient descent (momentum 0): the parameter change is
    -learning_rate times the finite-difference gradient of the loss."""
    X = rng.standard_normal((4, 3))
    y = np.eye(3)[[0, 2, 1, 2]]
    stack = NeuralStack()
    first, second = FullyConnected(3, 5), FullyConnected(5, 3)
    randomize_parameters(first, rng)
    randomize_parameters(second, rng)
    for component in (first, Activation("tanh"), second, Activation("softmax"), CrossEntropy()):
        stack.add(component)
    stack.add(MomentumOptimizer(learning_rate=1.0, momentum=0.0))
    params = [p for layer in (first, second) for p in layer.get_parameters()]
    numerical = [numerical_gradient(lambda: stack.cost.eval(y, stack.eval(X)), p) for p in params]
    before = [p.copy() for p in params]
    loss = stack.train(X, y, epochs=1, batch_size=4)
    assert len(loss) == 1
    for p, b, g in zip(params, before, numerical, strict=True):
        assert rel_error(b - p, g) <= TOL


def test_package_exports():
    for name in (
        "Activation",
        "AdamOptimizer",
        "Convolutional2D",
        "CrossEntropy",
        "Dropout",
        "Flatten",
        "FullyConnected",
        "Layer",
        "MSE",
        "MaxPooling2D",
        "MomentumOptimizer",
        "NeuralStack",
    ):
        assert hasattr(bgd, name), name
    assert bgd.layers.conv2d.Convolutional2D is Convolutional2D
    assert bgd.layers.max_pooling2d.MaxPooling2D is MaxPooling2D
