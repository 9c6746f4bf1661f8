"""Layers with weights."""

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
        raise NotImplementedError("Dense.call: TODO the affine map x @ w + b for the whole batch")

    def get_input_gradients(self) -> list:
        raise NotImplementedError("Dense.get_input_gradients: TODO the local derivative of the output with respect to x, shaped (input_size, output_size) as `Diffable.compose_input_gradients` expects")

    def get_weight_gradients(self) -> list:
        raise NotImplementedError("Dense.get_weight_gradients: TODO the local derivatives of the output with respect to w and to b, per sample (B, ...) or shared, so that `Diffable.compose_weight_gradients` gives dL/dw and dL/db")

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
        raise NotImplementedError("Dense._initialize_weight: TODO w of shape (input_size, output_size) drawn as `initializer` says, b of shape (1, output_size) zero; both Variables")
