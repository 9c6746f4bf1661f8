"""Elementwise and row-wise activation functions."""

import numpy as np

from .. import kernels
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
        return {"sigmoid": kernels.sigmoid, "tanh": np.tanh, "relu": lambda x: np.where(x > 0, x, 0.0),
                "softmax": kernels.softmax}[self.function](X)

    def _backward(self, error):
        y = self.current_output
        if self.function == "softmax":
            return kernels.softmax_vjp(y, error)
        if self.function == "relu":
            return np.where(self.current_input > 0, error, 0.0)
        local = y * (1 - y) if self.function == "sigmoid" else 1 - y * y
        return error * local
