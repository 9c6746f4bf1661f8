"""Cost (loss) functions: `eval(y, y_hat)` and its gradient `grad(y, y_hat)`
with respect to the predictions `y_hat`."""

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
        d = np.asarray(y_hat, dtype=np.float64) - np.asarray(y, dtype=np.float64)
        return 0.5 * np.einsum("i,i->", d.ravel(), d.ravel()) / d.size

    def grad(self, y, y_hat):
        d = np.asarray(y_hat, dtype=np.float64) - np.asarray(y, dtype=np.float64)
        return d / d.size


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
        p = np.maximum(np.asarray(y_hat, dtype=np.float64), self.epsilon)
        return -np.einsum("ij,ij->", y, np.log(p)) / len(p)

    def grad(self, y, y_hat):
        y = np.asarray(y, dtype=np.float64)
        p = np.maximum(np.asarray(y_hat, dtype=np.float64), self.epsilon)
        return -np.einsum("ij,ij->ij", y, 1.0 / p) / len(p)
