"""Elementwise and row-wise activation functions."""

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
        raise NotImplementedError("Activation._forward: TODO the chosen function of X: sigmoid, tanh, relu elementwise; softmax on each row, stable for logits of any magnitude")

    def _backward(self, error):
        raise NotImplementedError("Activation._backward: TODO the signal dLoss/dX for error = dLoss/d(output); for softmax the full Jacobian-vector product of each row; never modify the saved input or output")
