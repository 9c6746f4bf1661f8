"""Dense with per-sample (batched) local Jacobians: (B, in, out) everywhere."""

import numpy as np

from .core import Diffable, Variable


class Dense(Diffable):
    def __init__(self, input_size, output_size, initializer="normal"):
        self.w, self.b = self._initialize_weight(initializer, input_size, output_size)

    @property
    def weights(self) -> list:
        return [self.w, self.b]

    def call(self, x):
        return np.matmul(x, self.w) + self.b

    def get_input_gradients(self) -> list:
        batch = np.shape(self.inputs[0])[0]
        return [np.tile(np.asarray(self.w), (batch, 1, 1))]

    def get_weight_gradients(self) -> list:
        x = np.asarray(self.inputs[0])
        batch, n_out = x.shape[0], self.w.shape[1]
        # (B, in, out): sample b's w-gradient is x[b] broadcast over the outputs
        grad_w = np.repeat(x[:, :, np.newaxis], n_out, axis=2)
        grad_b = np.ones((batch, 1, n_out))
        return [grad_w, grad_b]

    @staticmethod
    def _initialize_weight(initializer, input_size, output_size):
        initializer = initializer.lower()
        if initializer not in ("zero", "normal", "xavier", "kaiming"):
            raise ValueError(f"Unknown dense weight initialization strategy '{initializer}' requested")
        if initializer == "zero":
            w = np.zeros((input_size, output_size))
        else:
            scale = {"normal": 1.0, "xavier": (2.0 / (input_size + output_size)) ** 0.5,
                     "kaiming": (2.0 / input_size) ** 0.5}[initializer]
            w = scale * np.random.randn(input_size, output_size)
        return Variable(w), Variable(np.zeros((1, output_size)))
