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
        # stored in float32, computed in float64
        self.filters = (np.random.randn(self.n_filters, *self.filter_shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        self.biases = np.zeros(self.n_filters, dtype=np.float32) if with_bias else None

    def get_parameters(self):
        if self.with_bias:
            return (self.filters, self.biases)
        return (self.filters,)

    def _im2col(self, X):
        """(N, OH, OW, FH*FW*C): row (n, i, j) is the flattened window under output (i, j)."""
        FH, FW, C = self.filter_shape
        s0, s1 = self.strides
        rows, cols = _positions(X.shape[1:3], (FH, FW), self.strides)
        out = np.empty((X.shape[0], len(rows), len(cols), FH * FW * C))
        for i in rows:
            for j in cols:
                out[:, i, j, :] = X[:, i * s0:i * s0 + FH, j * s1:j * s1 + FW, :].reshape(X.shape[0], -1)
        return out

    def _col2im(self, dcols, shape):
        FH, FW, C = self.filter_shape
        s0, s1 = self.strides
        dX = np.zeros(shape)
        rows, cols = _positions(shape[1:3], (FH, FW), self.strides)
        for i in rows:
            for j in cols:
                dX[:, i * s0:i * s0 + FH, j * s1:j * s1 + FW, :] += dcols[:, i, j, :].reshape(shape[0], FH, FW, C)
        return dX

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
        X = np.asarray(X, dtype=np.float64)
        cols = self._im2col(X)  # (N, OH, OW, FH*FW*C)
        out = cols @ self.filters.reshape(self.n_filters, -1).astype(np.float64).T
        if self.with_bias:
            out += self.biases.astype(np.float64)
        return out

    def _backward(self, error):
        X = np.asarray(self.current_input, dtype=np.float64)
        error = np.asarray(error, dtype=np.float64)
        F = self.n_filters
        cols = self._im2col(X)
        grad_filters = np.tensordot(error, cols, axes=([0, 1, 2], [0, 1, 2])).reshape(self.filters.shape)
        grads = (grad_filters, error.sum(axis=(0, 1, 2))) if self.with_bias else (grad_filters,)
        if not self.propagate:
            return None, grads
        dcols = error @ self.filters.reshape(F, -1).astype(np.float64)  # (N, OH, OW, FH*FW*C)
        return self._col2im(dcols, X.shape), grads


def _positions(shape, window, strides):
    H, W = shape
    FH, FW = window
    s0, s1 = strides
    return range(1 + (H - FH) // s0), range(1 + (W - FW) // s1)
