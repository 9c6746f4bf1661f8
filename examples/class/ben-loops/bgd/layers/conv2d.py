"""2-D convolution (valid cross-correlation) on NHWC images."""

import numpy as np

from .layer import Layer


class Convolutional2D(Layer):
    """Valid cross-correlation of NHWC images with `n_filters` filters.

    `output[n, i, j, f] = biases[f] + sum over (a, b, c) of
    filters[f, a, b, c] * X[n, i * s0 + a, j * s1 + b, c]`, of shape
    `(N, 1 + (H - FH) // s0, 1 + (W - FW) // s1, F)`.

    Args:
        filter_shape (tuple): `(FH, FW, C)`, the height, width and number of
            channels of each filter.
        n_filters (int): number of filters `F`.
        strides (tuple): `(s0, s1)`, the steps between windows along the
            height and the width (an int means the same step for both).
        with_bias (bool): whether to add a bias to each filter's output.
        copy (bool): see `Layer`.

    Attributes:
        filters (np.ndarray): shape (F, FH, FW, C), normal with standard
            deviation sqrt(2 / (FH * FW * C)).
        biases (np.ndarray or None): shape (F,), zeros; None when
            `with_bias` is False.
    """

    def __init__(self, filter_shape, n_filters, strides=(1, 1), with_bias=True, copy=False):
        Layer.__init__(self, copy=copy)
        if len(filter_shape) != 3:
            raise ValueError(f"filter_shape must be (height, width, channels), got {filter_shape!r}")
        self.filter_shape = tuple(int(n) for n in filter_shape)
        if np.isscalar(strides):
            strides = (strides, strides)
        if len(strides) != 2 or min(strides) < 1:
            raise ValueError(f"strides must be two positive integers, got {strides!r}")
        self.strides = tuple(int(s) for s in strides)
        self.n_filters = int(n_filters)
        self.with_bias = with_bias
        fan_in = int(np.prod(self.filter_shape))
        self.filters = np.random.randn(self.n_filters, *self.filter_shape) * np.sqrt(2.0 / fan_in)
        self.biases = np.zeros(self.n_filters) if with_bias else None

    def get_parameters(self):
        if self.with_bias:
            return (self.filters, self.biases)
        return (self.filters,)

    def _check_input(self, X):
        """Raise ValueError unless X is a batch of NHWC images this layer can read."""
        height, width, channels = self.filter_shape
        if X.ndim != 4 or X.shape[3] != channels or X.shape[1] < height or X.shape[2] < width:
            raise ValueError(
                f"{type(self).__name__} expects NHWC images with {channels} channels and at least "
                f"{height}x{width} pixels, got shape {X.shape}"
            )

    def _forward(self, X):
        self._check_input(X)
        N, H, W, C = X.shape
        FH, FW, _ = self.filter_shape
        s0, s1 = self.strides
        OH, OW = 1 + (H - FH) // s0, 1 + (W - FW) // s1
        out = np.zeros((N, OH, OW, self.n_filters), dtype=np.result_type(X, self.filters))
        rows = self.filters.reshape(self.n_filters, -1)  # one filter per row
        for n in range(N):
            for i in range(OH):
                for j in range(OW):
                    window = X[n, i * s0:i * s0 + FH, j * s1:j * s1 + FW, :]
                    out[n, i, j, :] = rows @ window.ravel()
                    if self.with_bias:
                        out[n, i, j, :] += self.biases
        return out

    def _backward(self, error):
        X = self.current_input
        N, H, W, C = X.shape
        FH, FW, _ = self.filter_shape
        s0, s1 = self.strides
        _, OH, OW, F = error.shape
        grad_filters = np.zeros(self.filters.shape, dtype=np.result_type(X, error))
        grad_rows = grad_filters.reshape(F, -1)  # a view: filling it fills grad_filters
        rows = self.filters.reshape(F, -1)
        signal = np.zeros(X.shape, dtype=np.result_type(error, self.filters)) if self.propagate else None
        for n in range(N):
            for i in range(OH):
                for j in range(OW):
                    window = X[n, i * s0:i * s0 + FH, j * s1:j * s1 + FW, :]
                    e = error[n, i, j, :]
                    grad_rows += np.outer(e, window.ravel())
                    if signal is not None:
                        signal[n, i * s0:i * s0 + FH, j * s1:j * s1 + FW, :] += (e @ rows).reshape(FH, FW, C)
        if self.with_bias:
            grad_biases = np.zeros(F, dtype=grad_filters.dtype)
            for f in range(F):
                grad_biases[f] = error[..., f].sum()
            return signal, (grad_filters, grad_biases)
        return signal, (grad_filters,)
