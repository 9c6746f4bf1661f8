"""Optimizers; state in lists indexed by the parameter's position."""

import numpy as np


class BasicOptimizer:
    def __init__(self, learning_rate):
        self.learning_rate = learning_rate

    def apply_gradients(self, trainable_params, grads):
        for i in range(len(trainable_params)):
            if grads[i] is not None:
                trainable_params[i][...] = trainable_params[i] - self.learning_rate * grads[i]


class RMSProp:
    def __init__(self, learning_rate, beta=0.9, epsilon=1e-6):
        self.learning_rate = learning_rate
        self.beta = beta
        self.epsilon = epsilon
        self.v = []

    def apply_gradients(self, trainable_params, grads):
        while len(self.v) < len(trainable_params):
            self.v.append(0.0)
        for i, (p, g) in enumerate(zip(trainable_params, grads)):
            if g is None:
                continue
            self.v[i] = self.beta * self.v[i] + (1.0 - self.beta) * np.square(g)
            p[...] = p - self.learning_rate * g / (np.sqrt(self.v[i]) + self.epsilon)


class Adam:
    def __init__(self, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
        self.amsgrad = amsgrad
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.m, self.v, self.v_max = [], [], []
        self.t = 0

    def apply_gradients(self, trainable_params, grads):
        while len(self.m) < len(trainable_params):
            self.m.append(0.0)
            self.v.append(0.0)
            self.v_max.append(0.0)
        self.t += 1
        for i, (p, g) in enumerate(zip(trainable_params, grads)):
            if g is None:
                continue
            self.m[i] = self.beta_1 * self.m[i] + (1 - self.beta_1) * g
            self.v[i] = self.beta_2 * self.v[i] + (1 - self.beta_2) * np.square(g)
            m_hat = self.m[i] / (1 - self.beta_1**self.t)
            if self.amsgrad:
                self.v_max[i] = np.maximum(self.v_max[i], self.v[i])
                v_hat = self.v_max[i] / (1 - self.beta_2**self.t)
            else:
                v_hat = self.v[i] / (1 - self.beta_2**self.t)
            p[...] = p - self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)
