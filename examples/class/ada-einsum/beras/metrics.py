import numpy as np

from .core import Callable


class CategoricalAccuracy(Callable):
    def call(self, probs, labels):
        same = np.argmax(probs, axis=-1) == np.argmax(labels, axis=-1)
        return np.einsum("i->", same.astype(np.float64)) / len(same)
