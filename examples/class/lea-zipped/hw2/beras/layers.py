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

    def call(self, inputs):  # another argument name than the template's `x`
        return np.add(inputs @ self.w, self.b)

    def get_input_gradients(self) -> list:
        return [np.asarray(self.w)]

    def get_weight_gradients(self) -> list:
        x = np.asarray(self.inputs[0])
        batch = x.shape[0]
        # batched for both: w (B, in, out) with every column x[b], b (B, 1, out) ones
        return [np.broadcast_to(x[:, :, None], (batch,) + self.w.shape), np.broadcast_to(np.ones((1, 1, self.b.shape[1])), (batch, 1, self.b.shape[1]))]

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
        if initializer == "zero":
            w = np.zeros((input_size, output_size))
        elif initializer == "normal":
            w = np.random.randn(input_size, output_size)
        elif initializer == "xavier":
            w = np.random.randn(input_size, output_size) * np.sqrt(2 / (input_size + output_size))
        elif initializer == "kaiming":
            w = np.random.randn(input_size, output_size) * np.sqrt(2 / input_size)
        return Variable(w), Variable(np.zeros((1, output_size)))
