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
        for param, grad in zip(trainable_params, grads):
            if grad is not None:
                param -= self.learning_rate * grad


class RMSProp:
    """`v = beta v + (1 - beta) g²; p -= learning_rate g / (sqrt(v) + epsilon)`."""

    def __init__(self, learning_rate, beta=0.9, epsilon=1e-6):
        self.learning_rate = learning_rate
        self.beta = beta
        self.epsilon = epsilon
        self.v = defaultdict(lambda: 0)

    def apply_gradients(self, trainable_params, grads):
        # state keyed by the parameter array itself (its id), as Keras keys slots by variable
        for param, grad in zip(trainable_params, grads):
            if grad is None:
                continue
            key = id(param)
            self.v[key] = self.beta * self.v[key] + (1 - self.beta) * grad**2
            param -= self.learning_rate * grad / (np.sqrt(self.v[key]) + self.epsilon)


class Adam:
    """Bias-corrected Adam: `p -= learning_rate m̂ / (sqrt(v̂) + epsilon)`.

    With `amsgrad`, v̂ = v_max / (1 - beta_2^t), v_max the running max of the raw v.
    """

    def __init__(self, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
        self.amsgrad = amsgrad
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.m = defaultdict(lambda: 0)  # first moment
        self.v = defaultdict(lambda: 0)  # second moment
        self.v_max = defaultdict(lambda: 0)  # amsgrad: running max of the raw second moment
        self.t = 0  # steps taken

    def apply_gradients(self, trainable_params, grads):
        self.t += 1
        bias_correction1 = 1 - self.beta_1**self.t
        bias_correction2 = 1 - self.beta_2**self.t
        for param, grad in zip(trainable_params, grads):
            if grad is None:
                continue
            key = id(param)  # state per parameter array
            self.m[key] = self.beta_1 * self.m[key] + (1 - self.beta_1) * grad
            self.v[key] = self.beta_2 * self.v[key] + (1 - self.beta_2) * grad * grad
            if self.amsgrad:
                self.v_max[key] = np.maximum(self.v_max[key], self.v[key])
                second = self.v_max[key]
            else:
                second = self.v[key]
            # PyTorch's arrangement of lr * m_hat / (sqrt(v_hat) + eps)
            param -= self.learning_rate * self.m[key] / (np.sqrt(second) + self.epsilon)
