"""Activation functions: layers without weights."""

import numpy as np

from .core import Diffable


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
        raise NotImplementedError("LeakyReLU.call: TODO x where x > 0, alpha * x elsewhere")

    def get_input_gradients(self):
        raise NotImplementedError("LeakyReLU.get_input_gradients: TODO [the elementwise derivative of the output with respect to the input], shaped like the input")


class ReLU(LeakyReLU):
    def __init__(self):
        super().__init__(alpha=0)


class Sigmoid(ElementwiseActivation):
    def call(self, x):
        raise NotImplementedError("Sigmoid.call: TODO 1 / (1 + exp(-x)), without overflow for large |x|")

    def get_input_gradients(self):
        raise NotImplementedError("Sigmoid.get_input_gradients: TODO [the elementwise derivative of the output with respect to the input], shaped like the input")


class Tanh(ElementwiseActivation):
    def call(self, x):
        raise NotImplementedError("Tanh.call: TODO the hyperbolic tangent of x")

    def get_input_gradients(self):
        raise NotImplementedError("Tanh.get_input_gradients: TODO [the elementwise derivative of the output with respect to the input], shaped like the input")


class Softmax(Activation):
    """Row-wise softmax; its per-row Jacobians are not diagonal."""

    def call(self, x):
        raise NotImplementedError("Softmax.call: TODO the softmax of each row of x, numerically stable for large logits")

    def get_input_gradients(self):
        raise NotImplementedError("Softmax.get_input_gradients: TODO [the Jacobian of each row's softmax with respect to that row], shaped (batch, n, n)")
