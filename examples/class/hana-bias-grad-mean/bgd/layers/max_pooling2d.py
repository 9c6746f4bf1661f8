"""2-D max pooling on NHWC images."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .layer import Layer


class MaxPooling2D(Layer):
    """The maximum of each `(PH, PW)` window, channel by channel.

    The output has shape `(N, 1 + (H - PH) // S0, 1 + (W - PW) // S1, C)`.
    Backward sends each output's error to the first maximum of its window
    (row-major order inside the window, as `argmax` of the flattened window
    gives) and adds up the errors a pixel receives from overlapping windows.

    Args:
        pool_shape (tuple): `(PH, PW)` (an int means a square window).
        strides (tuple or None): `(S0, S1)`; None means `pool_shape`
            (windows side by side).
    """

    def __init__(self, pool_shape, strides=None):
        Layer.__init__(self)
        if np.isscalar(pool_shape):
            pool_shape = (pool_shape, pool_shape)
        if strides is None:
            strides = pool_shape
        elif np.isscalar(strides):
            strides = (strides, strides)
        if len(pool_shape) != 2 or min(pool_shape) < 1:
            raise ValueError(f"pool_shape must be two positive integers, got {pool_shape!r}")
        if len(strides) != 2 or min(strides) < 1:
            raise ValueError(f"strides must be two positive integers, got {strides!r}")
        self.pool_shape = tuple(int(p) for p in pool_shape)
        self.strides = tuple(int(s) for s in strides)

    def _check_input(self, X):
        """Raise ValueError unless X is a batch of NHWC images at least as large as the pool."""
        if X.ndim != 4 or X.shape[1] < self.pool_shape[0] or X.shape[2] < self.pool_shape[1]:
            raise ValueError(
                f"MaxPooling2D{self.pool_shape} expects NHWC images at least as large as the pool, got shape {X.shape}"
            )

    def _forward(self, X):
        self._check_input(X)
        P0, P1 = self.pool_shape
        S0, S1 = self.strides
        windows = sliding_window_view(X, (P0, P1), axis=(1, 2))[:, ::S0, ::S1]  # (N, OH, OW, C, P0, P1)
        N, OH, OW, C = windows.shape[:4]
        flat = windows.reshape(N, OH, OW, C, P0 * P1)
        self.positions = flat.argmax(axis=-1)
        return flat.max(axis=-1)

    def _backward(self, error):
        P0, P1 = self.pool_shape
        S0, S1 = self.strides
        N, OH, OW, C = error.shape
        signal = np.zeros(self.input_shape)
        a, b = np.divmod(self.positions, P1)
        rows = np.arange(OH)[None, :, None, None] * S0 + a
        cols = np.arange(OW)[None, None, :, None] * S1 + b
        n = np.broadcast_to(np.arange(N)[:, None, None, None], error.shape)
        c = np.broadcast_to(np.arange(C)[None, None, None, :], error.shape)
        np.add.at(signal, (n, rows, cols, c), error)
        return signal
