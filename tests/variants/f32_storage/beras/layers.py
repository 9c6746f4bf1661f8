"""Layers with weights."""

import numpy as np

from .core import Diffable, Tensor, Variable


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
        # parameters are stored in float32; the arithmetic is done in float64
        return Tensor(np.asarray(x, dtype=np.float64) @ self.w.astype(np.float64) + self.b.astype(np.float64))

    def get_input_gradients(self) -> list:
        return [self.w.astype(np.float64)]

    def get_weight_gradients(self) -> list:
        x = np.asarray(self.inputs[0], dtype=np.float64)
        return [x[:, :, np.newaxis], np.ones((1, self.b.shape[1]))]

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
        std = {"zero": 0.0, "normal": 1.0, "xavier": np.sqrt(2.0 / (input_size + output_size)),
               "kaiming": np.sqrt(2.0 / input_size)}[initializer]
        w = (std * np.random.standard_normal((input_size, output_size))).astype(np.float32)
        return Variable(w), Variable(np.zeros((1, output_size), dtype=np.float32))
