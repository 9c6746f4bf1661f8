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
        raise NotImplementedError("BasicOptimizer.apply_gradients: TODO move every parameter, in place, by -learning_rate * its gradient")


class RMSProp:
    """`v = beta v + (1 - beta) g²; p -= learning_rate g / (sqrt(v) + epsilon)`."""

    def __init__(self, learning_rate, beta=0.9, epsilon=1e-6):
        self.learning_rate = learning_rate
        self.beta = beta
        self.epsilon = epsilon
        self.v = defaultdict(lambda: 0)

    def apply_gradients(self, trainable_params, grads):
        raise NotImplementedError("RMSProp.apply_gradients: TODO update the running mean of squared gradients of every parameter, then move the parameter in place by -learning_rate * g / (sqrt(v) + epsilon)")


class Adam:
    """Bias-corrected Adam: `p -= learning_rate m̂ / (sqrt(v̂) + epsilon)`.

    With `amsgrad` (as Keras and PyTorch), v̂ is the largest RAW second moment
    seen so far, bias-corrected: `v_max = max(v_max, v)`, `v̂ = v_max / (1 - beta_2^t)`.
    """

    def __init__(self, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
        self.amsgrad = amsgrad
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.m = defaultdict(lambda: 0)  # first moment
        self.v = defaultdict(lambda: 0)  # second moment
        self.v_max = defaultdict(lambda: 0)  # largest raw second moment seen (amsgrad)
        self.t = 0  # steps taken

    def apply_gradients(self, trainable_params, grads):
        raise NotImplementedError("Adam.apply_gradients: TODO count the step; update both moments of every parameter, correct their bias, and move the parameter in place by -learning_rate * m_hat / (sqrt(v_hat) + epsilon)")
