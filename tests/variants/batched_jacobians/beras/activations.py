"""Activations that return full per-sample Jacobians (B, n, n) and rely on
Diffable's default composition (no override of compose_input_gradients)."""

import numpy as np

from .core import Diffable, Tensor


class Activation(Diffable):
    @property
    def weights(self):
        return []

    def get_weight_gradients(self):
        return []


class DiagonalJacobian(Activation):
    """Elementwise: the Jacobian of each sample is diag(f'(x[b]))."""

    def derivative(self):
        raise NotImplementedError

    def get_input_gradients(self):
        d = self.derivative()  # (B, n)
        jac = np.zeros(d.shape + (d.shape[-1],))
        idx = np.arange(d.shape[-1])
        jac[:, idx, idx] = d
        return [jac]


class LeakyReLU(DiagonalJacobian):
    def __init__(self, alpha=0.3):
        self.alpha = alpha

    def call(self, x):
        return Tensor(np.where(x > 0, x, np.multiply(self.alpha, x)))

    def derivative(self):
        x = np.asarray(self.inputs[0])
        return np.where(x > 0, 1.0, float(self.alpha))


class ReLU(LeakyReLU):
    def __init__(self):
        super().__init__(alpha=0)


class Sigmoid(DiagonalJacobian):
    def call(self, x):
        x = np.asarray(x, dtype=float)
        pos = x >= 0
        out = np.empty_like(x)
        out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
        ex = np.exp(x[~pos])
        out[~pos] = ex / (1.0 + ex)
        return Tensor(out)

    def derivative(self):
        s = np.asarray(self.outputs[0])
        return s - s * s


class Tanh(DiagonalJacobian):
    def call(self, x):
        return Tensor(np.tanh(x))

    def derivative(self):
        t = np.asarray(self.outputs[0])
        return 1.0 - t**2


class Softmax(Activation):
    def call(self, x):
        shifted = np.asarray(x, dtype=float) - np.max(x, axis=1, keepdims=True)
        e = np.exp(shifted)
        return Tensor(e / np.sum(e, axis=1, keepdims=True))

    def get_input_gradients(self):
        s = np.asarray(self.outputs[0])
        outer = s[:, :, None] * s[:, None, :]
        diag = np.zeros_like(outer)
        idx = np.arange(s.shape[1])
        diag[:, idx, idx] = s
        return [diag - outer]
