"""Helpers of this submission (an extra module inside the package)."""

import numpy as np

VERBOSE = True
CALLS = {"forward": 0, "backward": 0}


def log(*parts):
    """Print a debug line (students leave these in)."""
    if VERBOSE:
        print("[beras]", *parts)


def describe(a):
    a = np.asarray(a)
    return f"shape={a.shape} dtype={a.dtype} mean={a.mean() if a.size else 0:.4f}"


def stable_sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def softmax_rows(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
