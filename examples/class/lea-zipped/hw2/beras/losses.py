"""Loss functions, with einsum reductions."""

import numpy as np

from .core import Diffable, Tensor


class Loss(Diffable):
    @property
    def weights(self) -> list:
        return []

    def get_weight_gradients(self) -> list:
        return []


class MeanSquaredError(Loss):
    def call(self, predictions, targets):
        d = np.asarray(predictions, dtype=np.float64) - np.asarray(targets, dtype=np.float64)
        return Tensor(np.einsum("i,i->", d.ravel(), d.ravel()) / d.size)

    def get_input_gradients(self) -> list:
        d = np.asarray(self.inputs[0], dtype=np.float64) - np.asarray(self.inputs[1], dtype=np.float64)
        return [2.0 * d / d.size, -2.0 * d / d.size]


class CategoricalCrossentropy(Loss):
    def call(self, probabilities, labels):
        p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-8, 1 - 1e-8)
        t = np.asarray(labels, dtype=np.float64)
        return Tensor(-np.einsum("bi,bi->", t, np.log(p)) / len(p))

    def get_input_gradients(self) -> list:
        p = np.clip(np.asarray(self.inputs[0], dtype=np.float64), 1e-8, 1 - 1e-8)
        t = np.asarray(self.inputs[1], dtype=np.float64)
        batch = len(p)
        return [-t / p / batch, -np.log(p) / batch]
