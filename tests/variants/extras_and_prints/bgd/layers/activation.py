"""Elementwise and row-wise activation functions."""

import numpy as np

from ..utils import debug
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
        debug("Activation", self.function, X.shape)
        if self.function == Activation.SIGMOID:
            return np.where(X >= 0, 1 / (1 + np.exp(-np.abs(X))), np.exp(-np.abs(X)) / (1 + np.exp(-np.abs(X))))
        if self.function == Activation.TANH:
            return np.tanh(X)
        if self.function == Activation.RELU:
            return np.clip(X, 0, None)
        z = X - X.max(axis=-1, keepdims=True)
        return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)

    def _backward(self, error):
        y = self.current_output
        if self.function == Activation.SIGMOID:
            return error * y * (1 - y)
        if self.function == Activation.TANH:
            return error * (1 - np.square(y))
        if self.function == Activation.RELU:
            return np.where(self.current_input > 0, error, 0.0)
        return y * error - y * np.sum(y * error, axis=-1, keepdims=True)
