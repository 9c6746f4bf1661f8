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
        x = np.asarray(x, dtype=np.float64)
        return Tensor(np.maximum(x, 0) + self.alpha * np.minimum(x, 0))

    def get_input_gradients(self):
        x = np.asarray(self.inputs[0], dtype=np.float64)
        return [(x > 0) + self.alpha * (x <= 0)]


class ReLU(LeakyReLU):
    def __init__(self):
        super().__init__(alpha=0)


class Sigmoid(ElementwiseActivation):
    def call(self, x):
        x = np.asarray(x, dtype=np.float64)
        return Tensor(0.5 * (1.0 + np.tanh(0.5 * x)))  # the logistic function, overflow-free

    def get_input_gradients(self):
        s = np.asarray(self.outputs[0], dtype=np.float64)
        return [s * (1.0 - s)]


class Tanh(ElementwiseActivation):
    def call(self, x):
        return Tensor(np.tanh(np.asarray(x, dtype=np.float64)))

    def get_input_gradients(self):
        return [1.0 - np.asarray(self.outputs[0], dtype=np.float64) ** 2]


class Softmax(Activation):
    """Row-wise softmax; its per-row Jacobians are not diagonal."""

    def call(self, x):
        x = np.asarray(x, dtype=np.float64)
        log_z = np.logaddexp.reduce(x, axis=1, keepdims=True)  # log-sum-exp
        return Tensor(np.exp(x - log_z))

    def get_input_gradients(self):
        s = np.asarray(self.outputs[0], dtype=np.float64)
        eye = np.eye(s.shape[1])[None, :, :]
        return [s[:, :, None] * (eye - s[:, None, :])]
