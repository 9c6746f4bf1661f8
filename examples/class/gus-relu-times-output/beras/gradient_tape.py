"""Reverse-mode differentiation with Kahn's algorithm over consumer counts."""

from collections import defaultdict, deque

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

    def _producer(self, tensor):
        return self.previous_layers.get(id(tensor))

    def gradient(self, target, sources):
        first = self._producer(target)
        # every layer that leads to target, and how many of them consume each one
        layers, pending = {}, defaultdict(int)
        queue = deque([first] if first is not None else [])
        while queue:
            layer = queue.popleft()
            if id(layer) in layers:
                continue
            layers[id(layer)] = layer
            for inp in layer.inputs:
                producer = self._producer(inp)
                if producer is not None:
                    pending[id(producer)] += 1
                    queue.append(producer)
        grads = {}
        if np.ndim(target) != 0:
            grads[id(target)] = np.ones(np.shape(target))
        ready = deque([first] if first is not None else [])
        while ready:
            layer = ready.popleft()
            upstream = [grads.get(id(out)) for out in layer.outputs]
            if layer is first and np.ndim(target) == 0:
                J = None
            elif upstream[0] is None:
                J = False
            else:
                J = upstream
            if J is not False:
                for inp, g in zip(layer.inputs, layer.compose_input_gradients(J)):
                    self._accumulate(grads, inp, g)
                for w, g in zip(layer.weights, layer.compose_weight_gradients(J)):
                    self._accumulate(grads, w, g)
            for inp in layer.inputs:
                producer = self._producer(inp)
                if producer is not None:
                    pending[id(producer)] -= 1
                    if pending[id(producer)] == 0:
                        ready.append(producer)
        out = []
        for source in sources:
            g = grads.get(id(source))
            out.append(None if g is None else np.reshape(g, np.shape(source)))
        return out

    @staticmethod
    def _accumulate(grads, tensor, g):
        if g is None:
            return
        key = id(tensor)
        grads[key] = np.asarray(g) if key not in grads else np.einsum("...,...->...", grads[key], 1.0) + g
