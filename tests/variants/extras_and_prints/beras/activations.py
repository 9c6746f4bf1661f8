"""Activation functions: layers without weights."""

import numpy as np

from .core import Diffable, Tensor
from .debug import describe, log, softmax_rows, stable_sigmoid


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
        log(type(self).__name__, "call", describe(x))
        return Tensor(np.maximum(x, 0) + self.alpha * np.minimum(x, 0))

    def get_input_gradients(self):
        x = np.asarray(self.inputs[0])
        return [np.where(x > 0, 1.0, self.alpha)]


class ReLU(LeakyReLU):
    def __init__(self):
        super().__init__(alpha=0)


class Sigmoid(ElementwiseActivation):
    def call(self, x):
        log("Sigmoid.call", describe(x))
        return Tensor(stable_sigmoid(x))

    def get_input_gradients(self):
        s = stable_sigmoid(self.inputs[0])
        return [s * (1 - s)]


class Tanh(ElementwiseActivation):
    def call(self, x):
        print("Tanh.call on a batch of", len(x))
        return Tensor(np.tanh(x))

    def get_input_gradients(self):
        return [1 / np.cosh(np.asarray(self.inputs[0], dtype=np.float64)) ** 2]


class Softmax(Activation):
    """Row-wise softmax; its per-row Jacobians are not diagonal."""

    def call(self, x):
        log("Softmax.call", describe(x))
        self.probabilities = softmax_rows(x)  # an extra attribute
        return Tensor(self.probabilities)

    def get_input_gradients(self):
        s = self.probabilities
        return [np.stack([np.diag(row) - np.outer(row, row) for row in s])]
