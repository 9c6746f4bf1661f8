"""Inverted dropout."""

import numpy as np

from .layer import Layer


class Dropout(Layer):
    """Inverted dropout: when active, each unit is kept with probability
    `keep_proba` and the kept units are divided by `keep_proba`, so the
    expected output equals the input; when inactive, the identity.

    The mask is drawn from the global `np.random` generator, so
    `np.random.seed(...)` before `forward` makes it reproducible. A new
    Dropout is active; `NeuralStack.eval` switches it off for inference.

    Args:
        keep_proba (float): probability of keeping a unit, in (0, 1].

    Attributes:
        active (bool): whether dropout is applied.
        mask (np.ndarray or None): the boolean mask of the last active
            forward pass (True where the unit was kept).
    """

    def __init__(self, keep_proba=0.5):
        Layer.__init__(self, save_input=False, save_output=False)
        if not 0.0 < keep_proba <= 1.0:
            raise ValueError(f"keep_proba must be in (0, 1], got {keep_proba!r}")
        self.keep_proba = keep_proba
        self.active = True
        self.mask = None

    def activate(self):
        """Apply dropout in `forward` and `backward` (training)."""
        self.active = True

    def deactivate(self):
        """Make the layer the identity (inference)."""
        self.active = False

    def _forward(self, X):
        if self.active:
            self.mask = np.random.rand(*X.shape) < self.keep_proba
            return np.multiply(X, self.mask) / self.keep_proba
        return X

    def _backward(self, error):
        if self.active:
            return np.multiply(error, self.mask) / self.keep_proba
        return error
