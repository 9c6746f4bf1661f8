"""Elementwise and row-wise activation functions."""

import nnmath  # SOLUTION LINE
import numpy as np

from .layer import Layer


class Activation(Layer):
    """An activation function applied to a batch.

    Args:
        function (str): `"sigmoid"`, `"tanh"`, `"relu"` or `"softmax"`
            (softmax acts on each row, i.e. along the last axis).
        copy (bool): see `Layer`.

    Raises:
        ValueError: for an unknown function name.
    """

    SIGMOID = "sigmoid"
    TANH = "tanh"
    RELU = "relu"
    SOFTMAX = "softmax"
    FUNCTIONS = (SIGMOID, TANH, RELU, SOFTMAX)

    def __init__(self, function, copy=False):
        Layer.__init__(self, copy=copy)
        name = str(function).lower()
        if name not in Activation.FUNCTIONS:
            raise ValueError(
                f"Unknown activation function {function!r}; expected one of {', '.join(Activation.FUNCTIONS)}"
            )
        self.function = name

    def _forward(self, X):
        # SOLUTION: the chosen function of X: sigmoid, tanh, relu elementwise; softmax on each row, stable for logits of any magnitude
        if self.function == Activation.SIGMOID:
            return nnmath.sigmoid(X)
        if self.function == Activation.TANH:
            return np.tanh(X)
        if self.function == Activation.RELU:
            return nnmath.leaky_relu(X, 0.0)
        return nnmath.softmax(X)
        # END SOLUTION

    def _backward(self, error):
        # SOLUTION: the signal dLoss/dX for error = dLoss/d(output); for softmax the full Jacobian-vector product of each row; never modify the saved input or output
        if self.function == Activation.SIGMOID:
            return error * nnmath.sigmoid_derivative_from_output(self.current_output)
        if self.function == Activation.TANH:
            return error * nnmath.tanh_derivative_from_output(self.current_output)
        if self.function == Activation.RELU:
            return error * nnmath.leaky_relu_derivative(self.current_input, 0.0)
        return nnmath.softmax_vjp(self.current_output, error)
        # END SOLUTION
