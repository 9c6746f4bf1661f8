"""Metrics: not differentiated, only reported."""

import numpy as np

from .core import Callable


class CategoricalAccuracy(Callable):
    def call(self, probs, labels):
        """The fraction of rows where the argmax of `probs` and of `labels` agree."""
        raise NotImplementedError("CategoricalAccuracy.call: TODO the fraction of rows whose most probable class (argmax of probs) is the labelled class (argmax of labels)")
