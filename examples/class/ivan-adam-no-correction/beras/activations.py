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
        mask = np.asarray(x) > 0
        return Tensor(x * mask + self.alpha * x * ~mask)

    def get_input_gradients(self):
        mask = np.asarray(self.inputs[0]) > 0
        return [mask + self.alpha * ~mask]


class ReLU(LeakyReLU):
    def __init__(self):
        super().__init__(alpha=0)


class Sigmoid(ElementwiseActivation):
    def call(self, x):
        x = np.asarray(x, dtype=float)
        return Tensor(np.exp(np.minimum(x, 0)) / (1 + np.exp(-np.abs(x))))

    def get_input_gradients(self):
        s = np.asarray(self.outputs[0])
        return [s * (1 - s)]


class Tanh(ElementwiseActivation):
    def call(self, x):
        return Tensor(np.tanh(x))

    def get_input_gradients(self):
        return [1 - np.asarray(self.outputs[0]) ** 2]


class Softmax(Activation):
    """Row-wise softmax; its per-row Jacobians are not diagonal."""

    def call(self, x):
        z = np.asarray(x, dtype=float)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return Tensor(e / e.sum(axis=1, keepdims=True))

    def get_input_gradients(self):
        s = np.asarray(self.outputs[0])
        batch, n = s.shape
        jac = -s[:, :, None] * s[:, None, :]
        jac[:, np.arange(n), np.arange(n)] += s
        return [jac]
