"""Activation functions; their outputs are plain ndarrays (not Tensors)."""

import numpy as np

from .core import Diffable


class Activation(Diffable):
    @property
    def weights(self):
        return []

    def get_weight_gradients(self):
        return []


class ElementwiseActivation(Activation):
    def compose_input_gradients(self, J=None):
        if J is None or J[0] is None:
            return self.get_input_gradients()
        return [np.einsum("...,...->...", g, J[0]) for g in self.get_input_gradients()]


class LeakyReLU(ElementwiseActivation):
    def __init__(self, alpha=0.3):
        self.alpha = alpha

    def call(self, x):
        x = np.asarray(x)
        return np.einsum("...,...->...", x, self._slope(x))

    def _slope(self, x):
        return np.where(x > 0, 1.0, self.alpha)

    def get_input_gradients(self):
        return [self._slope(np.asarray(self.inputs[0]))]


class ReLU(LeakyReLU):
    def __init__(self):
        super().__init__(alpha=0)


class Sigmoid(ElementwiseActivation):
    def call(self, x):
        x = np.asarray(x, dtype=np.float64)
        e = np.exp(-np.abs(x))  # never overflows
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

    def get_input_gradients(self):
        s = np.asarray(self.outputs[0])
        return [np.einsum("...,...->...", s, 1.0 - s)]


class Tanh(ElementwiseActivation):
    def call(self, x):
        return np.tanh(np.asarray(x, dtype=np.float64))

    def get_input_gradients(self):
        t = np.asarray(self.outputs[0])
        return [1.0 - np.einsum("...,...->...", t, t)]


class Softmax(Activation):
    def call(self, x):
        x = np.asarray(x, dtype=np.float64)
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / np.einsum("bi->b", e)[:, None]

    def get_input_gradients(self):
        s = np.asarray(self.outputs[0])
        n = s.shape[1]
        return [np.einsum("bi,ij->bij", s, np.eye(n)) - np.einsum("bi,bj->bij", s, s)]
