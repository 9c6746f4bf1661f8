"""A sequential model that trains with a GradientTape."""

import numpy as np

from .core import Diffable
from .gradient_tape import GradientTape


class SequentialModel(Diffable):
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
        x = inputs
        for layer in self.layers:
            x = layer(x)
        return x

    def get_input_gradients(self) -> list:
        raise NotImplementedError("a model is differentiated through its layers, by the tape")

    def get_weight_gradients(self) -> list:
        raise NotImplementedError("a model is differentiated through its layers, by the tape")

    def batch_step(self, x, y, training=True):
        if training:
            with GradientTape() as tape:
                predictions = self.call(x)
                loss = self.compiled_loss(predictions, y)
            params = self.trainable_variables
            grads = tape.gradient(loss, params)
            self.optimizer.apply_gradients(params, grads)
        else:
            predictions = self.call(x)
            loss = self.compiled_loss(predictions, y)
        acc = self.compiled_acc(predictions, y)
        return {"loss": float(loss), "acc": float(acc)}

    def _loop(self, x, y, batch_size, training):
        losses, accs = [], []
        for start in range(0, len(x), batch_size):
            stats = self.batch_step(x[start:start + batch_size], y[start:start + batch_size], training=training)
            losses.append(stats["loss"])
            accs.append(stats["acc"])
        n = len(losses)
        return float(np.einsum("i->", np.array(losses)) / n), float(np.einsum("i->", np.array(accs)) / n)

    def fit(self, x, y, epochs, batch_size):
        history = {"loss": [], "acc": []}
        for _ in range(epochs):
            loss, acc = self._loop(x, y, batch_size, training=True)
            history["loss"].append(loss)
            history["acc"].append(acc)
        return history

    def evaluate(self, x, y, batch_size):
        loss, acc = self._loop(x, y, batch_size, training=False)
        return {"loss": loss, "acc": acc}
