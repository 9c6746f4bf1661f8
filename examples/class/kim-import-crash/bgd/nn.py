"""`NeuralStack`: a sequential network of layers trained by backpropagation."""

import numpy as np

from .cost import Cost
from .layers import Dropout, Layer
from .optimizers import Optimizer


class NeuralStack:
    """A stack of layers, `layers[0]` first, with a cost and an optimizer.

    Attributes:
        layers (list): the layers in the order they were added.
        cost (Cost or None): the cost minimised by `train`.
        optimizer (Optimizer or None): the optimizer used by `train`.
    """

    def __init__(self):
        self.layers = []
        self.cost = None
        self.optimizer = None

    def add(self, component):
        """Append a layer, or set the optimizer or the cost (the last one
        added wins). Layers are used in the order they are added.

        Raises:
            TypeError: if `component` is none of those.
        """
        if isinstance(component, Layer):
            self.layers.append(component)
        elif isinstance(component, Optimizer):
            self.optimizer = component
        elif isinstance(component, Cost):
            self.cost = component
        else:
            raise TypeError(
                f"NeuralStack.add expects a Layer, an Optimizer or a Cost, got {type(component).__name__}"
            )

    def eval(self, X):
        """The output of the network for the batch `X`: `X` forwarded through
        every layer in order.

        This is inference: Dropout layers are switched off for the call and
        left afterwards in the state (active or not) they were in.
        """
        dropouts = [layer for layer in self.layers if isinstance(layer, Dropout)]
        states = [d.active for d in dropouts]
        for d in dropouts:
            d.deactivate()
        try:
            for layer in self.layers:
                X = layer.forward(X)
            return X
        finally:
            for d, active in zip(dropouts, states):
                d.active = active

    def train(self, X, y, epochs, batch_size):
        """Train on the samples `X` and targets `y` (`y[i]` is the expected
        output for `X[i]`, e.g. one-hot rows for `CrossEntropy`).

        Each epoch visits the samples in a new order (`np.random.permutation`)
        in batches of `batch_size` (the last one may be smaller). For each
        batch: forward through every layer (Dropout layers as they are, so an
        active Dropout drops units; this is not `eval`), the cost and its
        gradient, backward through the layers in reverse order, each layer's
        signal feeding the layer before it and each learnable layer's
        gradients queued on the optimizer, then one `optimizer.update()`.
        The first layer's propagation is off during training (no layer before
        it needs its signal) and restored afterwards.

        Returns:
            np.ndarray: 1-D float array, the cost of every batch in order.

        Raises:
            RuntimeError, ValueError: see `_check_training_setup`.
        """
        X, y = self._check_training_setup(X, y, epochs, batch_size)
        head = self.layers[0]
        saved = head.propagate
        head.deactivate_propagation()
        history = []
        try:
            for _ in range(epochs):
                order = np.random.permutation(len(X))
                for begin in range(0, len(X), batch_size):
                    idx = order[begin:begin + batch_size]
                    h = X[idx]
                    for layer in self.layers:
                        h = layer.forward(h)
                    history.append(float(self.cost.eval(y[idx], h)))
                    e = self.cost.grad(y[idx], h)
                    for layer in self.layers[::-1]:
                        e, grads = layer.backward(e)
                        if layer.learnable():
                            self.optimizer.add_gradient_fragments(layer, grads)
                    self.optimizer.update()
        finally:
            head.propagate = saved
        return np.asarray(history, dtype=float)

    def _check_training_setup(self, X, y, epochs, batch_size):
        """Return `X` and `y` as arrays, and raise unless `train` can run.

        Raises:
            RuntimeError: if the network has no layer, no cost or no optimizer.
            ValueError: if `X` and `y` have different lengths, or `epochs` is
                not a non-negative integer, or `batch_size` not a positive one.
        """
        if not self.layers:
            raise RuntimeError("NeuralStack.train: add at least one layer first")
        if self.cost is None:
            raise RuntimeError("NeuralStack.train: add a cost first, e.g. add(CrossEntropy()) or add(MSE())")
        if self.optimizer is None:
            raise RuntimeError("NeuralStack.train: add an optimizer first, e.g. add(AdamOptimizer())")
        X, y = np.asarray(X), np.asarray(y)
        if len(X) != len(y):
            raise ValueError(f"NeuralStack.train: X has {len(X)} samples but y has {len(y)}")
        if not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"NeuralStack.train: epochs must be a non-negative integer, got {epochs!r}")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"NeuralStack.train: batch_size must be a positive integer, got {batch_size!r}")
        return X, y
