"""Loss functions, with explicit loops."""

import math

import numpy as np

from .core import Diffable, Tensor

LOW, HIGH = 1e-8, 1 - 1e-8


class Loss(Diffable):
    @property
    def weights(self) -> list:
        return []

    def get_weight_gradients(self) -> list:
        return []


class MeanSquaredError(Loss):
    def call(self, y_pred, y_true):
        p = np.asarray(y_pred, dtype=np.float64)
        t = np.asarray(y_true, dtype=np.float64)
        total = 0.0
        for index in np.ndindex(p.shape):
            total += (p[index] - t[index]) ** 2
        return Tensor(np.float64(total / p.size))

    def get_input_gradients(self) -> list:
        p = np.asarray(self.inputs[0], dtype=np.float64)
        t = np.asarray(self.inputs[1], dtype=np.float64)
        gp = np.empty_like(p)
        for index in np.ndindex(p.shape):
            gp[index] = 2.0 * (p[index] - t[index]) / p.size
        return [gp, -gp]


class CategoricalCrossentropy(Loss):
    def call(self, y_pred, y_true):
        p = np.asarray(y_pred, dtype=np.float64)
        t = np.asarray(y_true, dtype=np.float64)
        total = 0.0
        for row in range(p.shape[0]):
            for j in range(p.shape[1]):
                total -= t[row, j] * math.log(min(max(p[row, j], LOW), HIGH))
        return Tensor(np.float64(total / p.shape[0]))

    def get_input_gradients(self) -> list:
        p = np.asarray(self.inputs[0], dtype=np.float64)
        t = np.asarray(self.inputs[1], dtype=np.float64)
        batch = p.shape[0]
        gp = np.empty_like(p)
        gt = np.empty_like(t)
        for row in range(batch):
            for j in range(p.shape[1]):
                clipped = min(max(p[row, j], LOW), HIGH)
                gp[row, j] = -t[row, j] / clipped / batch
                gt[row, j] = -math.log(clipped) / batch
        return [gp, gt]
