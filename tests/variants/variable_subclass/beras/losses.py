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
        diff = np.subtract(y_pred, y_true, dtype=np.float64)
        return Tensor(np.sum(diff * diff) / diff.size)

    def get_input_gradients(self) -> list:
        diff = np.subtract(self.inputs[0], self.inputs[1], dtype=np.float64)
        return [diff * (2.0 / diff.size), diff * (-2.0 / diff.size)]


class CategoricalCrossentropy(Loss):
    """Mean over the batch of -sum(y_true * log(clip(y_pred, 1e-8, 1 - 1e-8)))."""

    def call(self, y_pred, y_true):
        p = np.clip(np.asarray(y_pred, dtype=np.float64), LOW, HIGH)
        return Tensor(-np.sum(np.asarray(y_true) * np.log(p)) / p.shape[0])

    def get_input_gradients(self) -> list:
        raw = np.asarray(self.inputs[0], dtype=np.float64)
        t = np.asarray(self.inputs[1], dtype=np.float64)
        n = raw.shape[0]
        p = np.clip(raw, LOW, HIGH)
        inside = (raw >= LOW) & (raw <= HIGH)
        # where clipping holds, the loss does not depend on y_pred: its gradient is 0 there
        grad_pred = np.where(inside, -t / p, 0.0) / n
        return [grad_pred, -np.log(p) / n]


LOW, HIGH = 1e-8, 1.0 - 1e-8
