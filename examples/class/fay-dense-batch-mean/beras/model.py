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
        for layer in self.layers:
            inputs = layer(inputs)
        return inputs

    def get_input_gradients(self) -> list:
        raise NotImplementedError("a model is differentiated through its layers, by the tape")

    def get_weight_gradients(self) -> list:
        raise NotImplementedError("a model is differentiated through its layers, by the tape")

    def batch_step(self, x, y, training=True):
        """One batch: loss and accuracy; with `training`, also one optimizer step."""
        with GradientTape() as tape:
            y_pred = self.call(x)
            loss = self.compiled_loss(y_pred, y)
        if training:
            params = self.trainable_variables
            self.optimizer.apply_gradients(params, tape.gradient(loss, params))
        return {"loss": float(loss), "acc": float(self.compiled_acc(y_pred, y))}

    def fit(self, x, y, epochs, batch_size):
        """Train; return {"loss": [mean per epoch], "acc": [mean per epoch]}."""
        history = {"loss": [], "acc": []}
        for _ in range(epochs):
            results = [self.batch_step(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]
            for key in history:
                history[key].append(float(np.mean([r[key] for r in results])))
        return history

    def evaluate(self, x, y, batch_size):
        """Loss and accuracy on (x, y), changing no weight."""
        results = [self.batch_step(x[i:i + batch_size], y[i:i + batch_size], training=False) for i in range(0, len(x), batch_size)]
        return {key: float(np.mean([r[key] for r in results])) for key in ("loss", "acc")}

