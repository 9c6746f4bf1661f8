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
        if self.function == Activation.SIGMOID:
            e = np.exp(-np.abs(X))
            return np.where(X >= 0, 1.0, e) / (1.0 + e)
        if self.function == Activation.TANH:
            return np.tanh(X)
        if self.function == Activation.RELU:
            return np.einsum("...,...->...", X, (X > 0).astype(X.dtype))
        e = np.exp(X - X.max(axis=-1, keepdims=True))
        return np.einsum("...i,...->...i", e, 1.0 / np.einsum("...i->...", e))

    def _backward(self, error):
        y = self.current_output
        if self.function == Activation.SIGMOID:
            return np.einsum("...,...,...->...", error, y, 1.0 - y)
        if self.function == Activation.TANH:
            return np.einsum("...,...->...", error, 1.0 - np.einsum("...,...->...", y, y))
        if self.function == Activation.RELU:
            return np.einsum("...,...->...", error, y)
        # softmax: J^T e = y * (e - <e, y>) row by row
        dot = np.einsum("...i,...i->...", error, y)
        return np.einsum("...i,...i->...i", y, error - dot[..., None])
