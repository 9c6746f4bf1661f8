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
        return x @ self.w + self.b

    def get_input_gradients(self) -> list:
        return [self.w]  # shared by the batch, (in, out)

    def get_weight_gradients(self) -> list:
        # w: per sample x[b] as a column (B, in, 1), broadcast against J[0][b] (1, out);
        # b: shared ones (1, out)
        x = np.asarray(self.inputs[0])
        return [x[:, :, None], np.ones_like(self.b)]

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
            w = np.random.normal(size=(input_size, output_size))
        elif initializer == "xavier":
            w = np.random.normal(scale=np.sqrt(2 / (input_size + output_size)), size=(input_size, output_size))
        else:
            w = np.random.normal(scale=np.sqrt(2 / input_size), size=(input_size, output_size))
        return [Variable(w), Variable(np.zeros((1, output_size)))]
