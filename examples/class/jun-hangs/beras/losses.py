"""Loss functions: `loss(y_pred, y_true)` returns a scalar Tensor."""

import numpy as np

from .core import Diffable, Tensor


class Loss(Diffable):
    """Base class of the losses; they have no weights."""

    @property
    def weights(self) -> list:
        return []

    def get_weight_gradients(self) -> list:
        return []


class MeanSquaredError(Loss):
    """The mean of (y_pred - y_true)**2 over every element."""

    def call(self, y_pred, y_true):
        return Tensor(np.mean((y_pred - y_true) ** 2))

    def get_input_gradients(self) -> list:
        y_pred, y_true = self.inputs
        g = 2 * (y_pred - y_true) / np.size(y_pred)
        return [np.asarray(g), -np.asarray(g)]


class CategoricalCrossentropy(Loss):
    """Mean over the batch of -sum(y_true * log(clip(y_pred, 1e-8, 1 - 1e-8)))."""

    def call(self, y_pred, y_true):
        return Tensor(-np.sum(y_true * np.log(np.clip(y_pred, 1e-8, 1 - 1e-8))) / len(y_pred))

    def get_input_gradients(self) -> list:
        y_pred, y_true = self.inputs
        p = np.clip(y_pred, 1e-8, 1 - 1e-8)
        return [np.asarray(-y_true / p / len(p)), np.asarray(-np.log(p) / len(p))]
