"""Activation functions, one entry at a time."""

import math

import numpy as np

from .core import Diffable, Tensor


class Activation(Diffable):
    """Base class of the activations; they have no weights."""

    @property
    def weights(self):
        return []

    def get_weight_gradients(self):
        return []


def _map(function, x):
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    for index in np.ndindex(x.shape):
        out[index] = function(float(x[index]))
    return out


class ElementwiseActivation(Activation):
    """An activation applied to each entry on its own."""

    def compose_input_gradients(self, J=None):
        if J is None or J[0] is None:
            return self.get_input_gradients()
        return [g * J[0] for g in self.get_input_gradients()]

    def scalar(self, v):
        raise NotImplementedError

    def derivative(self, v):
        raise NotImplementedError

    def call(self, x):
        return Tensor(_map(self.scalar, x))

    def get_input_gradients(self):
        return [_map(self.derivative, self.inputs[0])]


class LeakyReLU(ElementwiseActivation):
    def __init__(self, alpha=0.3):
        self.alpha = alpha

    def scalar(self, v):
        return v if v > 0 else self.alpha * v

    def derivative(self, v):
        return 1.0 if v > 0 else self.alpha


class ReLU(LeakyReLU):
    def __init__(self):
        super().__init__(alpha=0)


def _sigmoid(v):
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


class Sigmoid(ElementwiseActivation):
    def scalar(self, v):
        return _sigmoid(v)

    def derivative(self, v):
        s = _sigmoid(v)
        return s * (1.0 - s)


class Tanh(ElementwiseActivation):
    def scalar(self, v):
        return math.tanh(v)

    def derivative(self, v):
        t = math.tanh(v)
        return 1.0 - t * t


class Softmax(Activation):
    """Row-wise softmax; per-row Jacobians (B, n, n)."""

    def call(self, x):
        x = np.asarray(x, dtype=np.float64)
        out = np.empty_like(x)
        for row in range(x.shape[0]):
            top = max(x[row])
            exps = [math.exp(v - top) for v in x[row]]
            total = sum(exps)
            for j, e in enumerate(exps):
                out[row, j] = e / total
        return Tensor(out)

    def get_input_gradients(self):
        s = np.asarray(self.outputs[0], dtype=np.float64)
        batch, n = s.shape
        jac = np.zeros((batch, n, n))
        for row in range(batch):
            for i in range(n):
                for j in range(n):
                    jac[row, i, j] = s[row, i] * ((1.0 if i == j else 0.0) - s[row, j])
        return [jac]
