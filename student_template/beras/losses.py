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
        raise NotImplementedError("MeanSquaredError.call: TODO the mean over all elements of (y_pred - y_true) ** 2, as a scalar Tensor")

    def get_input_gradients(self) -> list:
        raise NotImplementedError("MeanSquaredError.get_input_gradients: TODO [dL/dy_pred, dL/dy_true] for the last call, each shaped like its input")


class CategoricalCrossentropy(Loss):
    """Mean over the batch of -sum(y_true * log(clip(y_pred, 1e-8, 1 - 1e-8)))."""

    def call(self, y_pred, y_true):
        raise NotImplementedError("CategoricalCrossentropy.call: TODO the mean over the batch of -sum(y_true * log(y_pred)), with y_pred clipped to [1e-8, 1 - 1e-8], as a scalar Tensor")

    def get_input_gradients(self) -> list:
        raise NotImplementedError("CategoricalCrossentropy.get_input_gradients: TODO [dL/dy_pred, dL/dy_true] for the last call, each shaped like its input")
