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
        # SOLUTION: the maximum of every pool window at the strides, channel by channel, shaped (N, out_height, out_width, C); remember where each maximum is for the backward pass
        self._check_input(X)
        pool_height, pool_width = self.pool_shape
        windows = np.lib.stride_tricks.sliding_window_view(X, self.pool_shape, axis=(1, 2))
        windows = windows[:, :: self.strides[0], :: self.strides[1]]
        flat = windows.reshape(*windows.shape[:4], pool_height * pool_width)
        self.argmax = flat.argmax(axis=-1)  # first maximum of each window
        return np.take_along_axis(flat, self.argmax[..., np.newaxis], axis=-1)[..., 0]
        # END SOLUTION

    def _backward(self, error):
        # SOLUTION: the signal dLoss/dX shaped like the input: the error of each output goes to the first maximum of its window, and a pixel that is the maximum of several windows gets the sum of their errors
        n_images, height, width, channels = self.input_shape
        pool_width = self.pool_shape[1]
        n, i, j, c = np.indices(error.shape, sparse=True)
        rows = i * self.strides[0] + self.argmax // pool_width
        cols = j * self.strides[1] + self.argmax % pool_width
        flat_index = ((n * height + rows) * width + cols) * channels + c
        signal = np.bincount(flat_index.ravel(), weights=error.ravel(), minlength=n_images * height * width * channels)
        return signal.reshape(self.input_shape).astype(error.dtype, copy=False)
        # END SOLUTION
