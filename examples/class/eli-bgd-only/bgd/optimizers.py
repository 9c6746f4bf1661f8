"""First-order optimizers.

A network queues each learnable layer's gradients with
`add_gradient_fragments(layer, fragments)` during the backward pass, then
calls `update()` once: the optimizer computes one delta per parameter array,
applies them with `layer.update_parameters(deltas)` (`param -= delta`, in
place) and empties the queue. State (previous deltas, moments) is kept per
layer and per parameter array, so each layer must give its gradients in the
order of its `get_parameters()`.
"""

import numpy as np


class Optimizer:
    """Base class of the optimizers.

    Attributes:
        gradient_fragments (list): the queue of `(layer, fragments)` pairs
            added since the last `update()`, in the order they were added;
            `fragments` is a tuple of arrays shaped like the layer's
            parameters.
    """

    def __init__(self):
        self.gradient_fragments = []

    def add_gradient_fragments(self, layer, fragments):
        """Queue the gradients `fragments` (a tuple of arrays, one per
        parameter array of `layer`, or a single array) for the next `update()`."""
        if not isinstance(fragments, (tuple, list)):
            fragments = (fragments,)
        self.gradient_fragments.append((layer, tuple(fragments)))

    def flush(self):
        """Empty the queue."""
        self.gradient_fragments = []

    def update(self):
        """Apply one step to every queued layer, then empty the queue
        (each subclass implements its own step)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement update()")


class MomentumOptimizer(Optimizer):
    """Gradient descent with momentum: for each parameter array,
    `delta = learning_rate * gradient + momentum * previous_delta`
    (previous_delta is 0 at the first step) and `param -= delta`.

    Attributes:
        previous_deltas (dict): the last delta of each parameter array, keyed
            by `(id(layer), index of the array in get_parameters())`.
    """

    def __init__(self, learning_rate=0.005, momentum=0.9):
        Optimizer.__init__(self)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.previous_deltas = {}

    def update(self):
        for layer, fragments in self.gradient_fragments:
            deltas = tuple(
                self.learning_rate * g + self.momentum * self.previous_deltas.get((id(layer), i), 0.0)
                for i, g in enumerate(fragments)
            )
            for i, d in enumerate(deltas):
                self.previous_deltas[(id(layer), i)] = d
            layer.update_parameters(deltas)
        self.flush()


class AdamOptimizer(Optimizer):
    """Adam (Kingma and Ba, 2015) with bias correction. For each parameter
    array, at step t (1 at the first `update()`):
    `m = beta_1 m + (1 - beta_1) g`, `v = beta_2 v + (1 - beta_2) g²`,
    `m_hat = m / (1 - beta_1^t)`, `v_hat = v / (1 - beta_2^t)`,
    `delta = learning_rate * m_hat / (sqrt(v_hat) + epsilon)`, `param -= delta`.

    Attributes:
        step (int): the number of `update()` calls so far (t).
        moments (dict): `(m, v)` of each parameter array, keyed by
            `(id(layer), index of the array in get_parameters())`.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        Optimizer.__init__(self)
        if not (0.0 <= beta_1 < 1.0 and 0.0 <= beta_2 < 1.0):
            raise ValueError(f"beta_1 and beta_2 must be in [0, 1), got {beta_1!r} and {beta_2!r}")
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.step = 0
        self.moments = {}

    def update(self):
        self.step += 1
        t = self.step
        for layer, fragments in self.gradient_fragments:
            deltas = []
            for i, g in enumerate(fragments):
                m, v = self.moments.get((id(layer), i), (0.0, 0.0))
                m = self.beta_1 * m + (1 - self.beta_1) * g
                v = self.beta_2 * v + (1 - self.beta_2) * g * g
                self.moments[(id(layer), i)] = (m, v)
                deltas.append(self.learning_rate * (m / (1 - self.beta_1**t)) / (np.sqrt(v / (1 - self.beta_2**t)) + self.epsilon))
            layer.update_parameters(tuple(deltas))
        self.flush()
