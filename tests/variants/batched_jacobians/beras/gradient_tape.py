"""Reverse-mode differentiation in reverse recording order.

`previous_layers` is filled as the layers run, so its insertion order is an
order in which every layer comes after the layers that produced its inputs:
walking it backwards visits every consumer before its producers.
"""

from collections import defaultdict

import numpy as np

from .core import Diffable


class GradientTape:
    def __init__(self):
        self.previous_layers = defaultdict(lambda: None)

    def __enter__(self):
        if Diffable.gradient_tape is not None:
            raise RuntimeError("Cannot nest gradient tapes.")
        Diffable.gradient_tape = self
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        Diffable.gradient_tape = None

    def gradient(self, target, sources):
        recorded = []
        for layer in reversed(list(self.previous_layers.values())):
            if layer is not None and all(layer is not seen for seen in recorded):
                recorded.append(layer)
        grads = {id(target): None}
        for layer in recorded:
            keys = [id(o) for o in layer.outputs]
            if keys[0] not in grads:
                continue
            J = None if (keys[0] == id(target) and np.ndim(target) == 0) else [
                grads[keys[0]] if grads[keys[0]] is not None else np.ones(np.shape(target))]
            for tensor, g in zip(layer.inputs, layer.compose_input_gradients(J)):
                self._add(grads, tensor, g)
            for tensor, g in zip(layer.weights, layer.compose_weight_gradients(J)):
                self._add(grads, tensor, g)
        out = []
        for s in sources:
            g = grads.get(id(s))
            out.append(None if g is None or id(s) == id(target) else np.reshape(g, np.shape(s)))
        return out

    @staticmethod
    def _add(grads, tensor, g):
        key = id(tensor)
        if grads.get(key) is None:
            grads[key] = np.array(g, dtype=float)
        else:
            grads[key] = grads[key] + g
