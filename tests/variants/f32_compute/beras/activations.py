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
        x = _f32(x)
        return Tensor(np.where(x > 0, x, np.float32(self.alpha) * x))

    def get_input_gradients(self):
        return [np.where(_f32(self.inputs[0]) > 0, np.float32(1), np.float32(self.alpha))]


class ReLU(LeakyReLU):
    def __init__(self):
        super().__init__(alpha=0)


class Sigmoid(ElementwiseActivation):
    def call(self, x):
        x = _f32(x)
        with np.errstate(over="ignore"):
            return Tensor(np.float32(1) / (np.float32(1) + np.exp(-x)))  # exp overflow gives inf, 1/inf = 0

    def get_input_gradients(self):
        s = _f32(self.outputs[0])
        return [s * (np.float32(1) - s)]


class Tanh(ElementwiseActivation):
    def call(self, x):
        return Tensor(np.tanh(_f32(x)))

    def get_input_gradients(self):
        return [np.float32(1) - np.square(_f32(self.outputs[0]))]


class Softmax(Activation):
    """Row-wise softmax; its per-row Jacobians are not diagonal."""

    def call(self, x):
        x = _f32(x)
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return Tensor(e / e.sum(axis=1, keepdims=True))

    def get_input_gradients(self):
        s = _f32(self.outputs[0])
        return [np.einsum("bi,ij->bij", s, np.eye(s.shape[1], dtype=np.float32)) - s[:, :, None] * s[:, None, :]]


def _f32(a):
    return np.asarray(a, dtype=np.float32)
