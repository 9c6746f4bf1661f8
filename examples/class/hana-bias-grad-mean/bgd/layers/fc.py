"""Fully connected (dense) layer."""

import numpy as np

from .layer import Layer


class FullyConnected(Layer):
    """`output = X @ weights + biases` for a batch `X` of shape (N, n_in).

    Args:
        n_in (int): number of input units.
        n_out (int): number of output units.
        with_bias (bool): whether to add a bias to each output unit.
        copy (bool): see `Layer`.
        dtype: floating type of the weights and biases.

    Attributes:
        weights (np.ndarray): shape (n_in, n_out), normal with standard
            deviation sqrt(2 / n_in).
        biases (np.ndarray or None): shape (1, n_out), zeros; None when
            `with_bias` is False.
    """

    def __init__(self, n_in, n_out, with_bias=True, copy=False, dtype=np.float64):
        Layer.__init__(self, copy=copy)
        self.n_in = n_in
        self.n_out = n_out
        self.with_bias = with_bias
        self.dtype = dtype
        scale = np.sqrt(2.0 / n_in)
        self.weights = (np.random.randn(n_in, n_out) * scale).astype(dtype)
        self.biases = np.zeros((1, n_out), dtype=dtype) if with_bias else None

    def get_parameters(self):
        if self.with_bias:
            return (self.weights, self.biases)
        return (self.weights,)

    def _forward(self, X):
        return X.dot(self.weights) + self.biases if self.with_bias else X.dot(self.weights)

    def _backward(self, error):
        dW = self.current_input.T.dot(error)
        signal = error.dot(self.weights.T) if self.propagate else None
        if self.with_bias:
            return signal, (dW, error.mean(axis=0).reshape(1, -1))
        return signal, (dW,)
