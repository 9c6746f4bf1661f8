"""Pure functions behind the layers (an extra module of this submission)."""

import numpy as np


def out_size(size, window, stride):
    return 1 + (size - window) // stride


def correlate_valid(X, filters, strides):
    """Valid cross-correlation of NHWC images with (F, FH, FW, C) filters, by FFT.

    The circular correlation over the whole image equals the valid one at every
    position where the filter does not wrap around; keep those, at the strides.
    """
    N, H, W, C = X.shape
    F, FH, FW, _ = filters.shape
    s0, s1 = strides
    Xf = np.fft.rfft2(X, s=(H, W), axes=(1, 2))  # (N, H, W//2+1, C)
    Kf = np.fft.rfft2(filters, s=(H, W), axes=(1, 2))  # (F, H, W//2+1, C)
    spectrum = np.einsum("nuvc,fuvc->nuvf", Xf, np.conj(Kf))
    full = np.fft.irfft2(spectrum, s=(H, W), axes=(1, 2))  # (N, H, W, F)
    return full[:, :H - FH + 1:s0, :W - FW + 1:s1, :]


def offsets(window):
    for a in range(window[0]):
        for b in range(window[1]):
            yield a, b


def strided_slice(a, b, n_rows, n_cols, strides):
    s0, s1 = strides
    return (slice(None), slice(a, a + s0 * (n_rows - 1) + 1, s0), slice(b, b + s1 * (n_cols - 1) + 1, s1), slice(None))


def correlate_backward(X, filters, error, strides):
    """(dX, dfilters) of the valid cross-correlation for the upstream `error`."""
    _, OH, OW, F = error.shape
    dX = np.zeros(X.shape, dtype=np.result_type(X, filters, error))
    dfilters = np.zeros(filters.shape, dtype=dX.dtype)
    for a, b in offsets(filters.shape[1:3]):
        where = strided_slice(a, b, OH, OW, strides)
        dfilters[:, a, b, :] = np.tensordot(error, X[where], axes=([0, 1, 2], [0, 1, 2]))
        dX[where] += np.tensordot(error, filters[:, a, b, :], axes=([3], [0]))
    return dX, dfilters


def max_pool(X, pool, strides):
    """(maxima, index of the first maximum inside each window)."""
    N, H, W, C = X.shape
    OH, OW = out_size(H, pool[0], strides[0]), out_size(W, pool[1], strides[1])
    stacked = np.stack([X[strided_slice(a, b, OH, OW, strides)] for a, b in offsets(pool)])
    first = np.argmax(stacked, axis=0)  # row-major window order: the first maximum wins ties
    return np.take_along_axis(stacked, first[None], axis=0)[0], first


def max_pool_backward(error, first, input_shape, pool, strides):
    _, OH, OW, _ = error.shape
    dX = np.zeros(input_shape, dtype=np.result_type(error, np.float64))
    for k, (a, b) in enumerate(offsets(pool)):
        dX[strided_slice(a, b, OH, OW, strides)] += np.where(first == k, error, 0.0)
    return dX


def sigmoid(X):
    return np.exp(-np.logaddexp(0.0, -X))


def softmax(X):
    shifted = X - np.max(X, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_vjp(y, error):
    return y * (error - np.einsum("...i,...i->...", y, error)[..., None])


def momentum_delta(gradient, previous, learning_rate, momentum):
    return learning_rate * gradient + momentum * previous


def adam_moments(m, v, gradient, beta_1, beta_2):
    return beta_1 * m + (1 - beta_1) * gradient, beta_2 * v + (1 - beta_2) * gradient**2


def adam_delta(m, v, step, learning_rate, beta_1, beta_2, epsilon):
    m_hat = m / (1 - beta_1**step)
    v_hat = v / (1 - beta_2**step)
    return learning_rate * m_hat / (np.sqrt(v_hat) + epsilon)
