import numpy as np

from .core import Diffable, Tensor


class Loss(Diffable):
    @property
    def weights(self) -> list:
        return []

    def get_weight_gradients(self) -> list:
        return []


class MeanSquaredError(Loss):
    def call(self, y_pred, y_true):
        return Tensor(np.mean(np.square(np.subtract(y_pred, y_true))))

    def get_input_gradients(self) -> list:
        y_pred, y_true = self.inputs
        diff = np.subtract(y_pred, y_true)
        g = 2 * diff / diff.size
        return [g, -g]


class CategoricalCrossentropy(Loss):
    EPS = 1e-8

    def call(self, y_pred, y_true):
        p = np.clip(y_pred, self.EPS, 1 - self.EPS)
        return Tensor(np.mean(-np.sum(y_true * np.log(p), axis=-1)))

    def get_input_gradients(self) -> list:
        y_pred, y_true = (np.asarray(a, dtype=float) for a in self.inputs)
        p = np.clip(y_pred, self.EPS, 1 - self.EPS)
        n = y_pred.shape[0]
        return [-y_true / (p * n), -np.log(p) / n]
