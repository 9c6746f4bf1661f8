"""Flatten every sample of a batch into a row."""

from .layer import Layer


class Flatten(Layer):
    """`(N, d1, d2, ...) -> (N, d1 * d2 * ...)` in C order; backward reshapes
    the error back to the input's shape."""

    def __init__(self):
        Layer.__init__(self, save_input=False, save_output=False)

    def _forward(self, X):
        return X.reshape(len(X), -1)

    def _backward(self, error):
        return error.reshape(self.input_shape)
