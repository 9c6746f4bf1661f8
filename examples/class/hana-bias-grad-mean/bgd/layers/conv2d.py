"""2-D convolution (valid cross-correlation) on NHWC images."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

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
        FH, FW, _ = self.filter_shape
        s0, s1 = self.strides
        # (N, H-FH+1, W-FW+1, C, FH, FW), then keep every s-th window
        windows = sliding_window_view(X, (FH, FW), axis=(1, 2))[:, ::s0, ::s1]
        out = np.tensordot(windows, self.filters, axes=([3, 4, 5], [3, 1, 2]))
        return out + self.biases if self.with_bias else out

    def _backward(self, error):
        X = self.current_input
        FH, FW, _ = self.filter_shape
        s0, s1 = self.strides
        windows = sliding_window_view(X, (FH, FW), axis=(1, 2))[:, ::s0, ::s1]  # (N, OH, OW, C, FH, FW)
        dF = np.tensordot(error, windows, axes=([0, 1, 2], [0, 1, 2]))  # (F, C, FH, FW)
        grads = (np.transpose(dF, (0, 2, 3, 1)),)
        if self.with_bias:
            grads += (error.sum(axis=(0, 1, 2)),)
        if not self.propagate:
            return None, grads
        # the signal is a full correlation of the dilated error with the flipped filters
        N, OH, OW, F = error.shape
        H, W = X.shape[1:3]
        dilated = np.zeros((N, (OH - 1) * s0 + 1, (OW - 1) * s1 + 1, F), dtype=error.dtype)
        dilated[:, ::s0, ::s1, :] = error
        padded = np.zeros((N, H + FH - 1, W + FW - 1, F), dtype=error.dtype)
        padded[:, FH - 1:FH - 1 + dilated.shape[1], FW - 1:FW - 1 + dilated.shape[2], :] = dilated
        flipped = self.filters[:, ::-1, ::-1, :]  # (F, FH, FW, C)
        pw = sliding_window_view(padded, (FH, FW), axis=(1, 2))[:, :H, :W]  # (N, H, W, F, FH, FW)
        signal = np.tensordot(pw, flipped, axes=([3, 4, 5], [0, 1, 2]))
        return signal, grads

