"""Plain full finite differences, for testing the reference engine itself.

Deliberately simple and slow (two evaluations per input entry): these are
the ground truth that the reference is held to, independent of the harness's
own numerical core.
"""

import numpy as np


def numerical_gradient(f, x, h=1e-6):
    """Gradient of the scalar function `f` at `x` by central differences.

    `x` is changed entry by entry in place and restored, so `f` may close
    over the very array (a layer parameter, say) that it reads.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(*x.shape):
        saved = x[index]
        x[index] = saved + h
        f_plus = float(f())
        x[index] = saved - h
        f_minus = float(f())
        x[index] = saved
        grad[index] = (f_plus - f_minus) / (2 * h)
    return grad


def rel_error(a, b):
    """max |a - b| relative to the larger magnitude (CS231n style)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(1e-8, float(np.max(np.abs(a) + np.abs(b), initial=0.0)))
    return float(np.max(np.abs(a - b), initial=0.0)) / scale
