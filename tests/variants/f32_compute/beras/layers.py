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
        # parameters stay float64; the arithmetic is float32
        return Tensor(_f32(x) @ _f32(self.w) + _f32(self.b))

    def get_input_gradients(self) -> list:
        return [_f32(self.w)]

    def get_weight_gradients(self) -> list:
        x = _f32(self.inputs[0])
        return [x[:, :, None], np.ones((1, self.w.shape[1]), dtype=np.float32)]

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
        else:
            fan = {"normal": None, "xavier": (input_size + output_size) / 2, "kaiming": input_size / 2}[initializer]
            w = np.random.randn(input_size, output_size) * (1.0 if fan is None else np.sqrt(1.0 / fan))
        return Variable(w), Variable(np.zeros((1, output_size)))


def _f32(a):
    return np.asarray(a, dtype=np.float32)
