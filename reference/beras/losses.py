"""Loss functions: `loss(y_pred, y_true)` returns a scalar Tensor."""

import nnmath  # SOLUTION LINE
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
        # SOLUTION: the mean over all elements of (y_pred - y_true) ** 2, as a scalar Tensor
        loss, _ = nnmath.squared_error_mean(np.asarray(y_pred), np.asarray(y_true))
        return Tensor(loss)
        # END SOLUTION

    def get_input_gradients(self) -> list:
        # SOLUTION: [dL/dy_pred, dL/dy_true] for the last call, each shaped like its input
        y_pred, y_true = (np.asarray(t) for t in self.inputs)
        _, grad = nnmath.squared_error_mean(y_pred, y_true)
        return [grad, -grad]
        # END SOLUTION


class CategoricalCrossentropy(Loss):
    """Mean over the batch of -sum(y_true * log(clip(y_pred, 1e-8, 1 - 1e-8)))."""

    def call(self, y_pred, y_true):
        # SOLUTION: the mean over the batch of -sum(y_true * log(y_pred)), with y_pred clipped to [1e-8, 1 - 1e-8], as a scalar Tensor
        loss, _, _ = nnmath.crossentropy_rows_mean(np.asarray(y_pred), np.asarray(y_true), 1e-8, 1 - 1e-8)
        return Tensor(loss)
        # END SOLUTION

    def get_input_gradients(self) -> list:
        # SOLUTION: [dL/dy_pred, dL/dy_true] for the last call, each shaped like its input
        y_pred, y_true = (np.asarray(t) for t in self.inputs)
        _, grad_pred, grad_true = nnmath.crossentropy_rows_mean(y_pred, y_true, 1e-8, 1 - 1e-8)
        return [grad_pred, grad_true]
        # END SOLUTION
