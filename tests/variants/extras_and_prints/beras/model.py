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
        out = inputs
        for layer in self.layers:
            out = layer(out)
        return out

    def get_input_gradients(self) -> list:
        raise NotImplementedError("a model is differentiated through its layers, by the tape")

    def get_weight_gradients(self) -> list:
        raise NotImplementedError("a model is differentiated through its layers, by the tape")

    def batch_step(self, x, y, training=True):
        with GradientTape() as tape:
            probs = self.call(x)
            loss = self.compiled_loss(probs, y)
        if training:
            variables = self.trainable_variables
            self.optimizer.apply_gradients(variables, tape.gradient(loss, variables))
        return {"loss": float(loss), "acc": float(self.compiled_acc(probs, y))}

    def fit(self, x, y, epochs, batch_size):
        history = {"loss": [], "acc": []}
        n = len(x)
        for epoch in range(epochs):
            stats = [self.batch_step(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, n, batch_size)]
            history["loss"].append(float(np.mean([s["loss"] for s in stats])))
            history["acc"].append(float(np.mean([s["acc"] for s in stats])))
            print(f"epoch {epoch + 1}/{epochs}: loss {history['loss'][-1]:.4f} acc {history['acc'][-1]:.3f}")
        self.history = history  # an extra attribute
        return history

    def summary(self):
        """An extra method: print the layers and their parameter counts."""
        for layer in self.layers:
            print(type(layer).__name__, sum(int(np.size(w)) for w in layer.weights))

    def evaluate(self, x, y, batch_size):
        stats = [self.batch_step(x[i:i + batch_size], y[i:i + batch_size], training=False)
                 for i in range(0, len(x), batch_size)]
        return {"loss": float(np.mean([s["loss"] for s in stats])), "acc": float(np.mean([s["acc"] for s in stats]))}
