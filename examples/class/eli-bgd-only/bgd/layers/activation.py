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
        name = str(function).lower()
        # keep only what backward needs: the input for relu, the output otherwise
        Layer.__init__(self, copy=copy, save_input=(name == "relu"), save_output=(name != "relu"))
        if name not in Activation.FUNCTIONS:
            raise ValueError(
                f"Unknown activation function {function!r}; expected one of {', '.join(Activation.FUNCTIONS)}"
            )
        self.function = name

    def _forward(self, X):
        return _FORWARD[self.function](X)

    def _backward(self, error):
        if self.function == Activation.RELU:
            return error * (self.current_input > 0)
        y = self.current_output
        if self.function == Activation.SIGMOID:
            return error * y * (1 - y)
        if self.function == Activation.TANH:
            return error * (1 - y**2)
        return y * (error - (error * y).sum(axis=-1, keepdims=True))


def _sigmoid(X):
    out = np.empty(np.shape(X))
    pos = X >= 0
    out[pos] = 1 / (1 + np.exp(-X[pos]))
    e = np.exp(X[~pos])
    out[~pos] = e / (1 + e)
    return out


def _softmax(X):
    e = np.exp(X - X.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_FORWARD = {
    Activation.SIGMOID: _sigmoid,
    Activation.TANH: np.tanh,
    Activation.RELU: lambda X: np.maximum(X, 0),
    Activation.SOFTMAX: _softmax,
}
