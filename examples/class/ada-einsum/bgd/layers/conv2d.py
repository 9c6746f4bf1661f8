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

    def _windows(self, X):
        return _strided_windows(np.ascontiguousarray(X), self.filter_shape[:2], self.strides)

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
        windows = self._windows(X)  # (N, OH, OW, FH, FW, C), a view
        out = np.einsum("nijabc,fabc->nijf", windows, self.filters)
        if self.with_bias:
            out = out + self.biases
        return out

    def _backward(self, error):
        X = self.current_input
        grad_filters = np.einsum("nijabc,nijf->fabc", self._windows(X), error)
        signal = None
        if self.propagate:
            FH, FW, _ = self.filter_shape
            s0, s1 = self.strides
            OH, OW = error.shape[1:3]
            signal = np.zeros(X.shape, dtype=np.result_type(error, self.filters))
            for a in range(FH):
                for b in range(FW):
                    signal[:, a:a + s0 * (OH - 1) + 1:s0, b:b + s1 * (OW - 1) + 1:s1, :] += np.einsum(
                        "nijf,fc->nijc", error, self.filters[:, a, b, :])
        if self.with_bias:
            return signal, (grad_filters, np.einsum("nijf->f", error))
        return signal, (grad_filters,)


def _strided_windows(X, shape, strides):
    """View of X as (N, OH, OW, WH, WW, C) windows, without copying."""
    N, H, W, C = X.shape
    WH, WW = shape
    s0, s1 = strides
    OH, OW = 1 + (H - WH) // s0, 1 + (W - WW) // s1
    sn, sh, sw, sc = X.strides
    return np.lib.stride_tricks.as_strided(
        X, shape=(N, OH, OW, WH, WW, C), strides=(sn, sh * s0, sw * s1, sh, sw, sc), writeable=False)
