"""2-D max pooling on NHWC images."""

import numpy as np

from .. import kernels
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
        out, self.first_max = kernels.max_pool(X, self.pool_shape, self.strides)
        return out

    def _backward(self, error):
        return kernels.max_pool_backward(error, self.first_max, self.input_shape, self.pool_shape, self.strides)
