"""Elementwise and row-wise activation functions."""

import math

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
        out = np.empty_like(X)
        if self.function == Activation.SOFTMAX:
            for row in np.ndindex(X.shape[:-1]):
                top = max(X[row])
                exps = [math.exp(v - top) for v in X[row]]
                total = sum(exps)
                out[row] = [e / total for e in exps]
            return out
        for index in np.ndindex(X.shape):
            v = float(X[index])
            if self.function == Activation.SIGMOID:
                out[index] = 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))
            elif self.function == Activation.TANH:
                out[index] = math.tanh(v)
            else:
                out[index] = v if v > 0 else 0.0
        return out

    def _backward(self, error):
        error = np.asarray(error, dtype=np.float64)
        signal = np.empty_like(error)
        if self.function == Activation.SOFTMAX:
            s = self.current_output
            for row in np.ndindex(error.shape[:-1]):
                dot = 0.0
                for j in range(error.shape[-1]):
                    dot += error[row][j] * s[row][j]
                for j in range(error.shape[-1]):
                    signal[row + (j,)] = s[row][j] * (error[row][j] - dot)
            return signal
        for index in np.ndindex(error.shape):
            if self.function == Activation.SIGMOID:
                y = self.current_output[index]
                signal[index] = error[index] * y * (1.0 - y)
            elif self.function == Activation.TANH:
                y = self.current_output[index]
                signal[index] = error[index] * (1.0 - y * y)
            else:
                signal[index] = error[index] if self.current_input[index] > 0 else 0.0
        return signal
