"""Optimizers; squares and products as einsum."""

from collections import defaultdict

import numpy as np


def _sq(g):
    return np.einsum("...,...->...", g, g)


class BasicOptimizer:
    def __init__(self, learning_rate):
        self.learning_rate = learning_rate

    def apply_gradients(self, trainable_params, grads):
        for p, g in zip(trainable_params, grads):
            if g is not None:
                np.subtract(p, self.learning_rate * np.asarray(g), out=p, casting="unsafe")


class RMSProp:
    def __init__(self, learning_rate, beta=0.9, epsilon=1e-6):
        self.learning_rate = learning_rate
        self.beta = beta
        self.epsilon = epsilon
        self.v = defaultdict(lambda: 0)

    def apply_gradients(self, trainable_params, grads):
        for i, (p, g) in enumerate(zip(trainable_params, grads)):
            if g is None:
                continue
            g = np.asarray(g, dtype=np.float64)
            self.v[i] = self.beta * self.v[i] + (1 - self.beta) * _sq(g)
            np.subtract(p, self.learning_rate * g / (np.sqrt(self.v[i]) + self.epsilon), out=p, casting="unsafe")


class Adam:
    def __init__(self, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
        self.amsgrad = amsgrad
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.m = defaultdict(lambda: 0)
        self.v = defaultdict(lambda: 0)
        self.v_hat = defaultdict(lambda: 0)  # with amsgrad: the largest raw v so far
        self.t = 0

    def apply_gradients(self, trainable_params, grads):
        self.t += 1
        c1 = 1 - self.beta_1 ** self.t
        c2 = 1 - self.beta_2 ** self.t
        for i, (p, g) in enumerate(zip(trainable_params, grads)):
            if g is None:
                continue
            g = np.asarray(g, dtype=np.float64)
            self.m[i] = self.beta_1 * self.m[i] + (1 - self.beta_1) * g
            self.v[i] = self.beta_2 * self.v[i] + (1 - self.beta_2) * _sq(g)
            second = self.v[i]
            if self.amsgrad:
                self.v_hat[i] = np.maximum(self.v_hat[i], self.v[i])
                second = self.v_hat[i]
            step = self.learning_rate * (self.m[i] / c1) / (np.sqrt(second / c2) + self.epsilon)
            np.subtract(p, step, out=p, casting="unsafe")
