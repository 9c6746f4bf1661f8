"""Metrics: not differentiated, only reported."""

import numpy as np

from .core import Callable


class CategoricalAccuracy(Callable):
    def call(self, probs, labels):
        probs = np.asarray(probs)
        labels = np.asarray(labels)
        hits = 0
        for row in range(probs.shape[0]):
            if int(np.argmax(probs[row])) == int(np.argmax(labels[row])):
                hits += 1
        return hits / probs.shape[0]
