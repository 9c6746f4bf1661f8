"""Reverse-mode differentiation: an explicit stack, no recursion."""

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

    def _layer_of(self, tensor):
        key = id(tensor)
        return self.previous_layers[key] if key in self.previous_layers else None

    def _ordered_layers(self, target):
        """Layers reachable from target, every consumer before its producers."""
        order, seen = [], set()
        start = self._layer_of(target)
        if start is None:
            return order
        stack = [(start, False)]
        while stack:
            layer, expanded = stack.pop()
            if expanded:
                order.append(layer)
                continue
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            stack.append((layer, True))
            for inp in layer.inputs:
                producer = self._layer_of(inp)
                if producer is not None and id(producer) not in seen:
                    stack.append((producer, False))
        order.reverse()  # post-order reversed: consumers first
        return order

    def gradient(self, target, sources):
        grads = {}
        scalar = np.ndim(target) == 0
        grads[id(target)] = None if scalar else np.ones(np.shape(target))
        reached = {id(target)}
        for layer in self._ordered_layers(target):
            out_ids = [id(o) for o in layer.outputs]
            if not any(k in reached for k in out_ids):
                continue
            upstream = grads.get(out_ids[0])
            if upstream is None and out_ids[0] != id(target):
                continue
            J = [upstream]
            for inp, g in zip(layer.inputs, layer.compose_input_gradients(J)):
                self._add(grads, reached, inp, g)
            for w, g in zip(layer.weights, layer.compose_weight_gradients(J)):
                self._add(grads, reached, w, g)
        result = []
        for source in sources:
            if id(source) in reached and grads.get(id(source)) is not None:
                result.append(np.reshape(grads[id(source)], np.shape(source)))
            else:
                result.append(None)
        return result

    @staticmethod
    def _add(grads, reached, tensor, g):
        if g is None:
            return
        key = id(tensor)
        g = np.asarray(g)
        if key in reached and grads.get(key) is not None:
            grads[key] = grads[key] + g
        else:
            grads[key] = g
        reached.add(key)
