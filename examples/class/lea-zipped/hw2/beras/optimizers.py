"""Optimizers: state kept per position in the parameter list."""

from collections import defaultdict

import numpy as np


class BasicOptimizer:
    def __init__(self, learning_rate):
        self.learning_rate = learning_rate

    def apply_gradients(self, trainable_params, grads):
        for param, grad in zip(trainable_params, grads):
            if grad is None:
                continue
            param -= self.learning_rate * np.asarray(grad)


class RMSProp:
    def __init__(self, learning_rate, beta=0.9, epsilon=1e-6):
        self.learning_rate = learning_rate
        self.beta = beta
        self.epsilon = epsilon
        self.v = defaultdict(lambda: 0)

    def apply_gradients(self, trainable_params, grads):
        for i, (param, grad) in enumerate(zip(trainable_params, grads)):
            if grad is None:
                continue
            grad = np.asarray(grad)
            self.v[i] = self.beta * self.v[i] + (1 - self.beta) * grad**2
            param -= self.learning_rate * grad / (np.sqrt(self.v[i]) + self.epsilon)


class Adam:
    def __init__(self, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
        self.amsgrad = amsgrad
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.m = defaultdict(lambda: 0)
        self.v = defaultdict(lambda: 0)
        self.v_max = defaultdict(lambda: 0)  # running max of the raw second moment (amsgrad)
        self.t = 0

    def apply_gradients(self, trainable_params, grads):
        self.t += 1
        for i, (param, grad) in enumerate(zip(trainable_params, grads)):
            if grad is None:
                continue
            grad = np.asarray(grad)
            self.m[i] = self.beta_1 * self.m[i] + (1 - self.beta_1) * grad
            self.v[i] = self.beta_2 * self.v[i] + (1 - self.beta_2) * grad**2
            m_hat = self.m[i] / (1 - self.beta_1**self.t)
            if self.amsgrad:
                self.v_max[i] = np.maximum(self.v_max[i], self.v[i])
                v_hat = self.v_max[i] / (1 - self.beta_2**self.t)
            else:
                v_hat = self.v[i] / (1 - self.beta_2**self.t)
            param -= self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)
