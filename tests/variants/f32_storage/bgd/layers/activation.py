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
        X = np.asarray(X, dtype=np.float64)
        if self.function == "sigmoid":
            return np.exp(-np.logaddexp(0.0, -X))
        if self.function == "tanh":
            return np.tanh(X)
        if self.function == "relu":
            return np.maximum(X, 0.0)
        return np.exp(X - np.logaddexp.reduce(X, axis=-1, keepdims=True))

    def _backward(self, error):
        error = np.asarray(error, dtype=np.float64)
        out = self.current_output
        if self.function == "sigmoid":
            return error * out * (1.0 - out)
        if self.function == "tanh":
            return error * (1.0 - out * out)
        if self.function == "relu":
            return np.where(self.current_input > 0, error, 0.0)
        return out * (error - np.sum(error * out, axis=-1, keepdims=True))
