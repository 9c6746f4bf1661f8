"""Helpers of this submission (an extra module inside the package)."""

import numpy as np

DEBUG = True


def debug(*parts):
    if DEBUG:
        print("[bgd]", *parts)


def output_size(size, window, stride):
    return 1 + (size - window) // stride


def im2col(X, window, strides):
    """(N, OH, OW, WH*WW*C): the flattened window under each output position."""
    N, H, W, C = X.shape
    WH, WW = window
    s0, s1 = strides
    OH, OW = output_size(H, WH, s0), output_size(W, WW, s1)
    cols = np.empty((N, OH, OW, WH, WW, C), dtype=np.result_type(X, np.float64))
    for a in range(WH):
        for b in range(WW):
            cols[:, :, :, a, b, :] = X[:, a:a + s0 * (OH - 1) + 1:s0, b:b + s1 * (OW - 1) + 1:s1, :]
    return cols.reshape(N, OH, OW, WH * WW * C)


def col2im(cols, shape, window, strides):
    """Adjoint of im2col: sum every window's entries back into an image of `shape`."""
    N, H, W, C = shape
    WH, WW = window
    s0, s1 = strides
    OH, OW = output_size(H, WH, s0), output_size(W, WW, s1)
    cols = cols.reshape(N, OH, OW, WH, WW, C)
    X = np.zeros(shape, dtype=cols.dtype)
    for a in range(WH):
        for b in range(WW):
            X[:, a:a + s0 * (OH - 1) + 1:s0, b:b + s1 * (OW - 1) + 1:s1, :] += cols[:, :, :, a, b, :]
    return X
