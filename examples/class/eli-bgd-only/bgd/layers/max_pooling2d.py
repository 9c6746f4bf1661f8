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
        Layer.__init__(self, save_input=False, save_output=False)
        self._argmax_flat = None
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
        N, H, W, C = X.shape
        P0, P1 = self.pool_shape
        S0, S1 = self.strides
        OH, OW = 1 + (H - P0) // S0, 1 + (W - P1) // S1
        rows = (np.arange(OH) * S0)[:, None, None, None] + np.arange(P0)[None, None, :, None]
        cols = (np.arange(OW) * S1)[None, :, None, None] + np.arange(P1)[None, None, None, :]
        rows, cols = np.broadcast_arrays(rows, cols)  # (OH, OW, P0, P1)
        windows = X[:, rows, cols, :].reshape(N, OH, OW, P0 * P1, C)
        k = windows.argmax(axis=3)  # (N, OH, OW, C), the first maximum
        # flat index of each maximum in the (H, W) plane, for backward
        r = rows.reshape(OH, OW, P0 * P1)
        c = cols.reshape(OH, OW, P0 * P1)
        oi, oj = np.meshgrid(np.arange(OH), np.arange(OW), indexing="ij")
        self._argmax_flat = r[oi[None, :, :, None], oj[None, :, :, None], k] * W + c[oi[None, :, :, None], oj[None, :, :, None], k]
        return np.take_along_axis(windows, k[:, :, :, None, :], axis=3)[:, :, :, 0, :]

    def _backward(self, error):
        N, H, W, C = self.input_shape
        signal = np.zeros((N, H * W, C), dtype=np.result_type(error, np.float64))
        n_idx = np.arange(N)[:, None, None, None]
        c_idx = np.arange(C)[None, None, None, :]
        np.add.at(signal, (n_idx, self._argmax_flat, c_idx), error)
        return signal.reshape(N, H, W, C)
