"""Metrics: not differentiated, only reported."""

import numpy as np

from .core import Callable


class CategoricalAccuracy(Callable):
    def call(self, probs, labels):
        """The fraction of rows where the argmax of `probs` and of `labels` agree."""
        return float(np.mean(np.argmax(probs, -1) == np.argmax(labels, -1)))
