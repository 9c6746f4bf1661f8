"""Activation functions: layers without weights."""

import numpy as np

from .core import Diffable, Tensor


class Activation(Diffable):
    """Base class of the activations; they have no weights."""

    @property
    def weights(self):
        return []

    def get_weight_gradients(self):
        return []


class ElementwiseActivation(Activation):
    """An activation applied to each entry on its own.

    Its Jacobian is diagonal, so `get_input_gradients` returns that diagonal
    shaped like the input and composing is an elementwise product.
    """

    def compose_input_gradients(self, J=None):
        if J is None or J[0] is None:
            return self.get_input_gradients()
        return [g * J[0] for g in self.get_input_gradients()]


class LeakyReLU(ElementwiseActivation):
    def __init__(self, alpha=0.3):
        self.alpha = alpha

    def call(self, x):
        return Tensor(np.where(x > 0, x, self.alpha * x))

    def get_input_gradients(self):
        return [np.where(self.inputs[0] > 0, 1.0, self.alpha)]


class ReLU(LeakyReLU):
    def __init__(self):
        super().__init__(alpha=0)


class Sigmoid(ElementwiseActivation):
    def call(self, x):
        z = np.exp(-np.abs(x))
        return Tensor(np.where(x >= 0, 1 / (1 + z), z / (1 + z)))

    def get_input_gradients(self):
        s = self.outputs[0]
        return [s * (1 - s)]


class Tanh(ElementwiseActivation):
    def call(self, x):
        return Tensor(np.tanh(x))

    def get_input_gradients(self):
        return [1 - np.tanh(self.inputs[0]) ** 2]


class Softmax(Activation):
    """Row-wise softmax; its per-row Jacobians are not diagonal."""

    def call(self, x):
        e = np.exp(x - np.max(x, axis=-1, keepdims=True))
        return Tensor(e / np.sum(e, axis=-1, keepdims=True))

    def get_input_gradients(self):
        s = np.asarray(self.outputs[0])
        return [np.apply_along_axis(np.diag, 1, s) - np.einsum("bi,bj->bij", s, s)]

    def compose_input_gradients(self, J=None):
        """The vector-Jacobian product directly: s * (u - <u, s>) per row."""
        if J is None or J[0] is None:
            return self.get_input_gradients()
        s = np.asarray(self.outputs[0])
        u = np.asarray(J[0])
        return [s * (u - np.sum(u * s, axis=-1, keepdims=True))]
