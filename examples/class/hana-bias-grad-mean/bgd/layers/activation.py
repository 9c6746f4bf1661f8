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
        if self.function == "sigmoid":
            return 0.5 * (np.tanh(0.5 * X) + 1.0)
        if self.function == "tanh":
            return np.tanh(X)
        if self.function == "relu":
            return X * (X > 0)
        shifted = X - np.max(X, axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
        return np.exp(log_probs)

    def _backward(self, error):
        out = self.current_output
        if self.function == "sigmoid":
            return error * (out - out * out)
        if self.function == "tanh":
            return error - error * out * out
        if self.function == "relu":
            return error * (self.current_input > 0)
        # softmax, row by row: (diag(s) - s s^T) e
        jac = np.einsum("...i,ij->...ij", out, np.eye(out.shape[-1])) - out[..., :, None] * out[..., None, :]
        return np.einsum("...ij,...j->...i", jac, error)
