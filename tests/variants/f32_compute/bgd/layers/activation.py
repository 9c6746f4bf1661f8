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
        X = _f32(X)
        if self.function == Activation.SOFTMAX:
            e = np.exp(X - np.max(X, axis=-1, keepdims=True))
            return e / np.sum(e, axis=-1, keepdims=True)
        if self.function == Activation.SIGMOID:
            with np.errstate(over="ignore"):
                return np.float32(1) / (np.float32(1) + np.exp(-X))
        if self.function == Activation.TANH:
            return np.tanh(X)
        return np.where(X > 0, X, np.float32(0))

    def _backward(self, error):
        e = _f32(error)
        y = _f32(self.current_output)
        if self.function == Activation.SOFTMAX:
            return y * (e - np.sum(e * y, axis=-1, keepdims=True))
        if self.function == Activation.SIGMOID:
            return e * y * (np.float32(1) - y)
        if self.function == Activation.TANH:
            return e * (np.float32(1) - y * y)
        return np.where(_f32(self.current_input) > 0, e, np.float32(0))


def _f32(a):
    """Every computation of this library is done in float32."""
    return np.asarray(a, dtype=np.float32)
