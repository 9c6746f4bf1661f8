"""Layers with weights."""

import numpy as np

from .core import Diffable, Tensor, Variable
from .debug import CALLS, describe, log


class Dense(Diffable):
    """A fully connected layer: `call(x) = x @ w + b`.

    `w` has shape (input_size, output_size) and `b` shape (1, output_size).
    """

    def __init__(self, input_size, output_size, initializer="normal"):
        self.w, self.b = self._initialize_weight(initializer, input_size, output_size)

    @property
    def weights(self) -> list:
        return [self.w, self.b]

    def __repr__(self):
        return f"Dense({self.w.shape[0]}, {self.w.shape[1]})"

    def parameter_count(self):
        """An extra method: how many numbers this layer learns."""
        return int(self.w.size + self.b.size)

    def call(self, x):
        CALLS["forward"] += 1
        self.last_batch_size = len(x)
        log("Dense.call", describe(x))
        return Tensor(np.dot(x, self.w) + self.b)

    def get_input_gradients(self) -> list:
        CALLS["backward"] += 1
        log("Dense.get_input_gradients")
        return [self.w]

    def get_weight_gradients(self) -> list:
        x = np.asarray(self.inputs[0])
        log("Dense.get_weight_gradients", describe(x))
        batch, n_out = x.shape[0], self.w.shape[1]
        # full per-sample Jacobian factors: (B, in, out) and (B, 1, out)
        return [np.einsum("bi,o->bio", x, np.ones(n_out)), np.ones((batch, 1, n_out))]

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
        stds = {"zero": 0.0, "normal": 1.0, "xavier": (2.0 / (input_size + output_size)) ** 0.5, "kaiming": (2.0 / input_size) ** 0.5}
        log("Dense init", initializer, input_size, output_size)
        return [Variable(np.random.normal(0.0, 1.0, (input_size, output_size)) * stds[initializer]),
                Variable(np.zeros((1, output_size)))]
