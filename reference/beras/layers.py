"""Layers with weights."""

import nnmath  # SOLUTION LINE
import numpy as np

from .core import Diffable, Variable


class Dense(Diffable):
    """A fully connected layer: `call(x) = x @ w + b`.

    `w` has shape (input_size, output_size) and `b` shape (1, output_size).
    """

    def __init__(self, input_size, output_size, initializer="normal"):
        self.w, self.b = self._initialize_weight(initializer, input_size, output_size)

    @property
    def weights(self) -> list:
        return [self.w, self.b]

    def call(self, x):
        # SOLUTION: the affine map x @ w + b for the whole batch
        return nnmath.affine(x, self.w, self.b)
        # END SOLUTION

    def get_input_gradients(self) -> list:
        # SOLUTION: the local derivative of the output with respect to x, shaped (input_size, output_size) as `Diffable.compose_input_gradients` expects
        return [self.w]
        # END SOLUTION

    def get_weight_gradients(self) -> list:
        # SOLUTION: the local derivatives of the output with respect to w and to b, per sample (B, ...) or shared, so that `Diffable.compose_weight_gradients` gives dL/dw and dL/db
        x = np.asarray(self.inputs[0])
        return [x[:, :, np.newaxis], np.ones((1, self.b.shape[-1]), dtype=x.dtype)]
        # END SOLUTION

    @staticmethod
    def _initialize_weight(initializer, input_size, output_size):
        """Return `[w, b]` as Variables: w drawn by `initializer`, b zero.

        "zero": all zeros; "normal": standard normal; "xavier": normal with
        std sqrt(2 / (input_size + output_size)); "kaiming": normal with std
        sqrt(2 / input_size).
        """
        initializer = initializer.lower()
        if initializer not in ("zero", "normal", "xavier", "kaiming"):
            raise ValueError(f"Unknown dense weight initialization strategy '{initializer}' requested")
        # SOLUTION: w of shape (input_size, output_size) drawn as `initializer` says, b of shape (1, output_size) zero; both Variables
        shape = (input_size, output_size)
        if initializer == "zero":
            w = np.zeros(shape)
        else:
            std = {
                "normal": 1.0,
                "xavier": np.sqrt(2.0 / (input_size + output_size)),
                "kaiming": np.sqrt(2.0 / input_size),
            }[initializer]
            w = np.random.normal(0.0, std, size=shape)
        return Variable(w), Variable(np.zeros((1, output_size)))
        # END SOLUTION
