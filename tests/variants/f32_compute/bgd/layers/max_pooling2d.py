"""2-D max pooling on NHWC images."""

import numpy as np

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
        X = _f32(X)
        N, H, W, C = X.shape
        P0, P1 = self.pool_shape
        S0, S1 = self.strides
        OH, OW = 1 + (H - P0) // S0, 1 + (W - P1) // S1
        best = np.full((N, OH, OW, C), -np.inf, dtype=np.float32)
        where = np.zeros((N, OH, OW, C), dtype=np.int64)
        for a in range(P0):  # row-major offsets: strict > keeps the first maximum
            for b in range(P1):
                v = X[:, a:a + S0 * (OH - 1) + 1:S0, b:b + S1 * (OW - 1) + 1:S1, :]
                better = v > best
                best = np.where(better, v, best)
                where = np.where(better, a * P1 + b, where)
        self.where = where
        return best

    def _backward(self, error):
        e = _f32(error)
        P0, P1 = self.pool_shape
        S0, S1 = self.strides
        _, OH, OW, _ = e.shape
        signal = np.zeros(self.input_shape, dtype=np.float32)
        for a in range(P0):
            for b in range(P1):
                signal[:, a:a + S0 * (OH - 1) + 1:S0, b:b + S1 * (OW - 1) + 1:S1, :] += np.where(self.where == a * P1 + b, e, 0)
        return signal


def _f32(a):
    """Every computation of this library is done in float32."""
    return np.asarray(a, dtype=np.float32)
