"""Layers with weights, written with np.einsum; batched local gradients."""

import numpy as np

from .core import Diffable, Tensor, Variable
from .helpers import batched_outer


class Dense(Diffable):
    """`call(x) = x @ w + b`, as einsum."""

    def __init__(self, input_size, output_size, initializer="normal"):
        self.w, self.b = self._initialize_weight(initializer, input_size, output_size)

    @property
    def weights(self) -> list:
        return [self.w, self.b]

    def call(self, x):
        return Tensor(np.einsum("bi,io->bo", x, self.w) + np.einsum("o,b->bo", self.b[0], np.ones(len(x))))

    def get_input_gradients(self) -> list:
        # batched (B, in, out): every sample has the same Jacobian w
        batch = len(self.inputs[0])
        return [np.einsum("b,io->bio", np.ones(batch), self.w)]

    def get_weight_gradients(self) -> list:
        x = np.asarray(self.inputs[0])
        n_out = self.w.shape[1]
        # per sample: d out[o] / d w[i, o'] = x[i] (o == o'), stored as the
        # broadcastable (B, in, out) factor x[b, i] * 1[o]
        grad_w = np.einsum("bi,o->bio", x, np.ones(n_out))
        grad_b = np.einsum("b,io->bio", np.ones(len(x)), np.ones((1, n_out)))
        return [grad_w, grad_b]

    @staticmethod
    def _initialize_weight(initializer, input_size, output_size):
        initializer = initializer.lower()
        if initializer not in ("zero", "normal", "xavier", "kaiming"):
            raise ValueError(f"Unknown dense weight initialization strategy '{initializer}' requested")
        std = {"zero": 0.0, "normal": 1.0,
               "xavier": np.sqrt(2.0 / (input_size + output_size)),
               "kaiming": np.sqrt(2.0 / input_size)}[initializer]
        w = np.random.standard_normal((input_size, output_size)) * std
        return Variable(w), Variable(np.zeros((1, output_size)))
