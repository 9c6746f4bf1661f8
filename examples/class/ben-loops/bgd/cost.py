"""Cost (loss) functions: `eval(y, y_hat)` and its gradient `grad(y, y_hat)`
with respect to the predictions `y_hat`."""

import math
from abc import ABCMeta, abstractmethod

import numpy as np  # noqa: F401 (for the student solution)


class Cost(metaclass=ABCMeta):
    """Base class of the cost functions (given code).

    `y` holds the expected outputs and `y_hat` the predictions, both of
    shape (n_samples, n_outputs).
    """

    @abstractmethod
    def eval(self, y, y_hat):
        """The cost of the predictions `y_hat` (a float)."""

    @abstractmethod
    def grad(self, y, y_hat):
        """dCost/dy_hat, shaped like `y_hat`."""


class MSE(Cost):
    """Half the mean squared error over every element:
    `eval = 0.5 * mean((y_hat - y) ** 2)`, `grad = (y_hat - y) / y_hat.size`."""

    def eval(self, y, y_hat):
        y = np.asarray(y, dtype=np.float64)
        y_hat = np.asarray(y_hat, dtype=np.float64)
        total = 0.0
        for index in np.ndindex(y_hat.shape):
            total += (y_hat[index] - y[index]) ** 2
        return 0.5 * total / y_hat.size

    def grad(self, y, y_hat):
        y = np.asarray(y, dtype=np.float64)
        y_hat = np.asarray(y_hat, dtype=np.float64)
        out = np.empty_like(y_hat)
        for index in np.ndindex(y_hat.shape):
            out[index] = (y_hat[index] - y[index]) / y_hat.size
        return out


class CrossEntropy(Cost):
    """Categorical cross-entropy of probabilities `y_hat` (e.g. a softmax
    output) against one-hot or soft labels `y`:
    `eval = -mean over rows of sum(y * log(max(y_hat, epsilon)))`,
    `grad = -y / max(y_hat, epsilon) / N` (N rows).

    Args:
        epsilon (float): lower bound of the probabilities inside the log,
            against log(0).
    """

    def __init__(self, epsilon=1e-15):
        self.epsilon = epsilon

    def eval(self, y, y_hat):
        y = np.asarray(y, dtype=np.float64)
        y_hat = np.asarray(y_hat, dtype=np.float64)
        total = 0.0
        for row in range(y_hat.shape[0]):
            for j in range(y_hat.shape[1]):
                total -= y[row, j] * math.log(max(y_hat[row, j], self.epsilon))
        return total / y_hat.shape[0]

    def grad(self, y, y_hat):
        y = np.asarray(y, dtype=np.float64)
        y_hat = np.asarray(y_hat, dtype=np.float64)
        out = np.empty_like(y_hat)
        n = y_hat.shape[0]
        for row in range(n):
            for j in range(y_hat.shape[1]):
                out[row, j] = -y[row, j] / max(y_hat[row, j], self.epsilon) / n
        return out
