"""The math that both teaching APIs share, written once.

`beras` and `bgd` wrap these pure functions in their own classes; the
functions take and return plain NumPy arrays, never mutate their inputs (the
optimizer steps excepted, which update `param` in place by design), and keep
the caller's floating dtype.

Only the reference engine imports this module. The student template is
generated from the reference with the calls to it stripped out, so a student
writes the math in their own classes.
"""

import numpy as np

# ---------------------------------------------------------------- dense layer


def affine(x, w, b):
    """`x @ w + b` for a batch `x` of shape (B, n_in)."""
    return x @ w + b


def affine_vjp(x, w, grad_out):
    """Gradients of `sum(grad_out * affine(x, w, b))`.

    Returns `(dx, dw, db)`; the weight gradients are summed over the batch and
    `db` keeps the (1, n_out) shape of the bias.
    """
    return grad_out @ w.T, x.T @ grad_out, grad_out.sum(axis=0, keepdims=True)


# ---------------------------------------------------------------- activations


def leaky_relu(x, alpha):
    return np.where(x > 0, x, alpha * x)


def leaky_relu_derivative(x, alpha):
    """Elementwise derivative; at exactly 0 we take the left slope, as Keras."""
    return np.where(x > 0, 1.0, alpha).astype(x.dtype, copy=False)


def sigmoid(x):
    # Two branches so that neither exp() can overflow: for x < 0 use
    # exp(x) / (1 + exp(x)), which is the same function.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def sigmoid_derivative_from_output(s):
    return s * (1.0 - s)


def tanh_derivative_from_output(t):
    return 1.0 - t * t


def softmax(x):
    """Row-wise (last axis) softmax, stable for logits of any magnitude."""
    shifted = x - x.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_jacobians(s):
    """Per-row Jacobians `diag(s) - s sᵀ`, shape (B, n, n), from outputs `s`."""
    jacobians = -s[:, :, np.newaxis] * s[:, np.newaxis, :]
    diagonal = np.arange(s.shape[-1])
    jacobians[:, diagonal, diagonal] += s
    return jacobians


def softmax_vjp(s, grad_out):
    """`Jᵀ grad_out` for every row without building the Jacobians."""
    return s * (grad_out - np.sum(grad_out * s, axis=-1, keepdims=True))


# ---------------------------------------------------------------- losses


def squared_error_mean(y_pred, y_true):
    """`mean((y_pred - y_true)**2)` over every element, and its gradient
    with respect to `y_pred` (the gradient for `y_true` is its negative)."""
    diff = y_pred - y_true
    return np.mean(diff * diff), 2.0 * diff / diff.size


def crossentropy_rows_mean(probs, labels, lower, upper=None):
    """Mean over rows of `-sum(labels * log(clip(probs, lower, upper)))`.

    Returns `(loss, d_loss/d_probs, d_loss/d_labels)`. The probability
    gradient is the formula `-labels / clipped / N` everywhere: clipping is a
    guard against log(0), not part of the model, so it does not zero the
    gradient (a grader compares it only where no clipping happens).
    """
    n_rows = probs.shape[0]
    clipped = np.clip(probs, lower, upper)
    log_p = np.log(clipped)
    loss = -np.sum(labels * log_p) / n_rows
    return loss, -labels / clipped / n_rows, -log_p / n_rows


# ---------------------------------------------------------------- optimizers
# Each step updates `param` in place (callers hold references to it) and
# returns the new optimizer state.


def sgd_step(param, grad, learning_rate):
    param -= learning_rate * grad


def rmsprop_step(param, grad, mean_square, learning_rate, beta, epsilon):
    mean_square = beta * mean_square + (1.0 - beta) * grad * grad
    param -= learning_rate * grad / (np.sqrt(mean_square) + epsilon)
    return mean_square


def adam_direction(grad, m, v, step, beta_1, beta_2):
    """Bias-corrected Adam moments after `step` updates (step counts from 1).

    Returns `(m, v, m_hat, v_hat)`; the caller turns them into a delta.
    """
    m = beta_1 * m + (1.0 - beta_1) * grad
    v = beta_2 * v + (1.0 - beta_2) * grad * grad
    m_hat = m / (1.0 - beta_1**step)
    v_hat = v / (1.0 - beta_2**step)
    return m, v, m_hat, v_hat


def adam_delta(learning_rate, m_hat, v_hat, epsilon):
    return learning_rate * m_hat / (np.sqrt(v_hat) + epsilon)


def momentum_delta(grad, previous_delta, learning_rate, momentum):
    return learning_rate * grad + momentum * previous_delta
