"""Layers with weights (explicit Python loops over the batch)."""

import numpy as np

from .core import Diffable, Tensor, Variable


class Dense(Diffable):
    """A fully connected layer: `call(x) = x @ w + b`."""

    def __init__(self, input_size, output_size, initializer="normal"):
        self.w, self.b = self._initialize_weight(initializer, input_size, output_size)

    @property
    def weights(self) -> list:
        return [self.w, self.b]

    def call(self, x):
        x = np.asarray(x, dtype=np.float64)
        n_in, n_out = self.w.shape
        out = np.zeros((x.shape[0], n_out))
        for row in range(x.shape[0]):
            for j in range(n_out):
                out[row, j] = self.b[0, j] + np.dot(x[row], self.w[:, j])
        return Tensor(out)

    def get_input_gradients(self) -> list:
        # shared (in, out): d out[b, j] / d x[b, i] = w[i, j]
        return [np.array(self.w, dtype=np.float64)]

    def get_weight_gradients(self) -> list:
        x = np.asarray(self.inputs[0], dtype=np.float64)
        n_in, n_out = self.w.shape
        grad_w = np.zeros((x.shape[0], n_in, 1))
        for row in range(x.shape[0]):
            for i in range(n_in):
                grad_w[row, i, 0] = x[row, i]
        grad_b = np.ones((1, n_out))
        return [grad_w, grad_b]

    @staticmethod
    def _initialize_weight(initializer, input_size, output_size):
        initializer = initializer.lower()
        if initializer not in ("zero", "normal", "xavier", "kaiming"):
            raise ValueError(f"Unknown dense weight initialization strategy '{initializer}' requested")
        shape = (input_size, output_size)
        if initializer == "zero":
            w = np.zeros(shape)
        elif initializer == "normal":
            w = np.random.normal(0.0, 1.0, size=shape)
        elif initializer == "xavier":
            w = np.random.normal(0.0, np.sqrt(2.0 / (input_size + output_size)), size=shape)
        else:
            w = np.random.normal(0.0, np.sqrt(2.0 / input_size), size=shape)
        return Variable(w), Variable(np.zeros((1, output_size)))
