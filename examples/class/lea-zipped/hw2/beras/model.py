"""A sequential model that trains with a GradientTape."""

import numpy as np

from .core import Diffable
from .gradient_tape import GradientTape


class SequentialModel(Diffable):
    """Layers applied one after the other."""

    def __init__(self, layers):
        self.layers = layers

    @property
    def weights(self) -> list:
        return [w for layer in self.layers for w in layer.weights]

    def compile(self, optimizer, loss_fn, acc_fn):
        self.optimizer = optimizer
        self.compiled_loss = loss_fn
        self.compiled_acc = acc_fn

    def call(self, inputs):
        out = inputs
        for layer in self.layers:
            out = layer(out)
        return out

    def get_input_gradients(self) -> list:
        raise NotImplementedError("a model is differentiated through its layers, by the tape")

    def get_weight_gradients(self) -> list:
        raise NotImplementedError("a model is differentiated through its layers, by the tape")

    def batch_step(self, x, y, training=True):
        """One batch: loss and accuracy; with `training`, also one optimizer step."""
        if not training:
            probs = self.call(x)
            return {"loss": float(self.compiled_loss(probs, y)), "acc": float(self.compiled_acc(probs, y))}
        with GradientTape() as tape:
            probs = self.call(x)
            loss = self.compiled_loss(probs, y)
        weights = self.trainable_variables
        self.optimizer.apply_gradients(weights, tape.gradient(loss, weights))
        return {"loss": float(loss), "acc": float(self.compiled_acc(probs, y))}

    def fit(self, x, y, epochs, batch_size):
        """Train; return {"loss": [mean per epoch], "acc": [mean per epoch]}."""
        history = {"loss": [], "acc": []}
        for _ in range(epochs):
            order = np.random.permutation(len(x))  # a new order every epoch
            stats = self._run(x[order], y[order], batch_size, training=True)
            history["loss"].append(stats["loss"])
            history["acc"].append(stats["acc"])
        return history

    def _run(self, x, y, batch_size, training):
        """Loss and accuracy over (x, y): batch values weighted by batch size."""
        total_loss = total_acc = 0.0
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            stats = self.batch_step(xb, yb, training=training)
            total_loss += stats["loss"] * len(xb)
            total_acc += stats["acc"] * len(xb)
        return {"loss": total_loss / len(x), "acc": total_acc / len(x)}

    def evaluate(self, x, y, batch_size):
        """Loss and accuracy on (x, y), changing no weight."""
        return self._run(x, y, batch_size, training=False)

