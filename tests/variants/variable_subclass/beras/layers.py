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
        return Tensor(np.matmul(x, self.w) + self.b)

    def get_input_gradients(self) -> list:
        return [Tensor(self.w)]

    def get_weight_gradients(self) -> list:
        x = np.asarray(self.inputs[0])
        # w: (B, in, 1) columns; b: shared (1, out)
        return [x.reshape(x.shape[0], x.shape[1], 1), np.ones(self.b.shape)]

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
        rng = np.random
        shape = (input_size, output_size)
        w = {
            "zero": lambda: np.zeros(shape),
            "normal": lambda: rng.normal(size=shape),
            "xavier": lambda: rng.normal(size=shape) * np.sqrt(2.0 / (input_size + output_size)),
            "kaiming": lambda: rng.normal(size=shape) * np.sqrt(2.0 / input_size),
        }[initializer]()
        return Variable(w), Variable(np.zeros((1, output_size)))
