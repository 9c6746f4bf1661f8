"""Optimizers: `apply_gradients(params, grads)` updates the params in place.

State (running averages) is kept per parameter position in the list, so
call `apply_gradients` with the same parameters in the same order each step.
"""

from collections import defaultdict

import numpy as np


class BasicOptimizer:
    """Plain gradient descent: `p -= learning_rate * g`."""

    def __init__(self, learning_rate):
        self.learning_rate = learning_rate

    def apply_gradients(self, trainable_params, grads):
        for p, g in zip(trainable_params, grads):
            if g is not None:
                np.subtract(p, self.learning_rate * g, out=p)


class RMSProp:
    """`v = beta v + (1 - beta) g²; p -= learning_rate g / (sqrt(v) + epsilon)`."""

    def __init__(self, learning_rate, beta=0.9, epsilon=1e-6):
        self.learning_rate = learning_rate
        self.beta = beta
        self.epsilon = epsilon
        self.v = defaultdict(lambda: 0)

    def apply_gradients(self, trainable_params, grads):
        for i, (p, g) in enumerate(zip(trainable_params, grads)):
            if g is None:
                continue
            self.v[i] = self.beta * self.v[i] + (1 - self.beta) * g * g
            np.subtract(p, self.learning_rate * g / (np.sqrt(self.v[i]) + self.epsilon), out=p)


class Adam:
    """Bias-corrected Adam: `p -= learning_rate m̂ / (sqrt(v̂) + epsilon)`.

    With `amsgrad`, the denominator uses the largest v̂ seen so far.
    """

    def __init__(self, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
        self.amsgrad = amsgrad
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.m = defaultdict(lambda: 0)  # first moment
        self.v = defaultdict(lambda: 0)  # second moment
        self.v_hat = defaultdict(lambda: 0)  # largest bias-corrected v seen (amsgrad)
        self.t = 0  # steps taken

    def apply_gradients(self, trainable_params, grads):
        self.t += 1
        for i, (p, g) in enumerate(zip(trainable_params, grads)):
            if g is None:
                continue
            self.m[i] = self.beta_1 * self.m[i] + (1 - self.beta_1) * g
            self.v[i] = self.beta_2 * self.v[i] + (1 - self.beta_2) * g * g
            if self.amsgrad:
                # the running max of the raw second moment, bias-corrected at this step
                self.v_hat[i] = np.maximum(self.v_hat[i], self.v[i])
                second = self.v_hat[i]
            else:
                second = self.v[i]
            m_hat = self.m[i] / (1 - self.beta_1 ** self.t)
            v_hat = second / (1 - self.beta_2 ** self.t)
            np.subtract(p, self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon), out=p)
