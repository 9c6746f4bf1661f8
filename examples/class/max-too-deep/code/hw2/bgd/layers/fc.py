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
        X = np.asarray(X)
        out = np.empty((X.shape[0], self.n_out), dtype=np.result_type(X, self.weights))
        for n in range(X.shape[0]):
            out[n] = X[n] @ self.weights
            if self.with_bias:
                out[n] += self.biases[0]
        return out

    def _backward(self, error):
        X = self.current_input
        grad_w = np.zeros_like(self.weights, dtype=np.result_type(X, error))
        for n in range(X.shape[0]):
            grad_w += np.outer(X[n], error[n])
        signal = None
        if self.propagate:
            signal = np.empty(X.shape, dtype=np.result_type(error, self.weights))
            for n in range(X.shape[0]):
                signal[n] = self.weights @ error[n]
        if self.with_bias:
            grad_b = np.zeros((1, self.n_out), dtype=grad_w.dtype)
            for n in range(error.shape[0]):
                grad_b[0] += error[n]
            return signal, (grad_w, grad_b)
        return signal, (grad_w,)
