"""Activation functions: layers without weights."""

import nnmath  # SOLUTION LINE
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
        # SOLUTION: x where x > 0, alpha * x elsewhere
        return nnmath.leaky_relu(x, self.alpha)
        # END SOLUTION

    def get_input_gradients(self):
        # SOLUTION: [the elementwise derivative of the output with respect to the input], shaped like the input
        return [nnmath.leaky_relu_derivative(np.asarray(self.inputs[0]), self.alpha)]
        # END SOLUTION


class ReLU(LeakyReLU):
    def __init__(self):
        super().__init__(alpha=0)


class Sigmoid(ElementwiseActivation):
    def call(self, x):
        # SOLUTION: 1 / (1 + exp(-x)), without overflow for large |x|
        return nnmath.sigmoid(np.asarray(x))
        # END SOLUTION

    def get_input_gradients(self):
        # SOLUTION: [the elementwise derivative of the output with respect to the input], shaped like the input
        return [nnmath.sigmoid_derivative_from_output(np.asarray(self.outputs[0]))]
        # END SOLUTION


class Tanh(ElementwiseActivation):
    def call(self, x):
        # SOLUTION: the hyperbolic tangent of x
        return np.tanh(x)
        # END SOLUTION

    def get_input_gradients(self):
        # SOLUTION: [the elementwise derivative of the output with respect to the input], shaped like the input
        return [nnmath.tanh_derivative_from_output(np.asarray(self.outputs[0]))]
        # END SOLUTION


class Softmax(Activation):
    """Row-wise softmax; its per-row Jacobians are not diagonal."""

    def call(self, x):
        # SOLUTION: the softmax of each row of x, numerically stable for large logits
        return nnmath.softmax(np.asarray(x))
        # END SOLUTION

    def get_input_gradients(self):
        # SOLUTION: [the Jacobian of each row's softmax with respect to that row], shaped (batch, n, n)
        return [nnmath.softmax_jacobians(np.asarray(self.outputs[0]))]
        # END SOLUTION
