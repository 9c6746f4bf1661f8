"""The core of beras: tensors, and the bookkeeping that makes layers differentiable.

This file is given to students complete. A layer extends `Diffable`,
implements `call`, `weights`, `get_input_gradients` and
`get_weight_gradients`, and this file turns those local derivatives into
vector-Jacobian products for the `GradientTape`.
"""

from abc import ABC, abstractmethod

import numpy as np


class Tensor(np.ndarray):
    """A NumPy array that can be marked as trainable (default True)."""

    def __new__(cls, input_array):
        obj = np.asarray(input_array).view(cls)
        obj.trainable = True
        return obj

    def __array_finalize__(self, obj):
        if obj is None:
            return
        self.trainable = getattr(obj, "trainable", True)


Variable = Tensor


class Callable(ABC):
    """Calling an instance calls its `call` method and returns a Tensor."""

    def __call__(self, *args, **kwargs) -> Tensor:
        return Tensor(self.call(*args, **kwargs))

    @abstractmethod
    def call(self, *args, **kwargs):
        pass


class Weighted(ABC):
    """Anything with weights that may be trained."""

    @property
    @abstractmethod
    def weights(self) -> list:
        pass

    @property
    def trainable_variables(self) -> list:
        return [w for w in self.weights if w.trainable]

    @property
    def non_trainable_variables(self) -> list:
        return [w for w in self.weights if not w.trainable]

    @property
    def trainable(self) -> bool:
        return len(self.trainable_variables) > 0

    @trainable.setter
    def trainable(self, value: bool):
        for w in self.weights:
            w.trainable = value


class Diffable(Callable, Weighted):
    """A differentiable operation that a GradientTape can record.

    While a tape is active (`Diffable.gradient_tape` is not None), calling the
    layer records `previous_layers[id(output)] = self` for each output. The
    layer keeps the inputs and outputs of its last call only.
    """

    gradient_tape = None

    def __call__(self, *args, **kwargs):
        # Names of `call`'s arguments (co_varnames also lists its local
        # variables; they simply never appear in `input_dict`).
        self.argnames = self.call.__code__.co_varnames[1:]
        self.input_dict = dict(zip(self.argnames, args))
        self.input_dict.update(kwargs)
        self.inputs = [self.input_dict[name] for name in self.argnames if name in self.input_dict]

        self.outputs = self.call(*args, **kwargs)
        several = isinstance(self.outputs, (list, tuple))
        if not several:
            self.outputs = [self.outputs]

        if Diffable.gradient_tape is not None:
            for output in self.outputs:
                Diffable.gradient_tape.previous_layers[id(output)] = self

        return self.outputs if several else self.outputs[0]

    @abstractmethod
    def get_input_gradients(self) -> list:
        """Local derivatives of the output with respect to each input."""

    @abstractmethod
    def get_weight_gradients(self) -> list:
        """Local derivatives of the output with respect to each weight."""

    def compose_input_gradients(self, J=None):
        """Vector-Jacobian products for the inputs, given `J = [dL/d(output)]`.

        A local gradient `g` is either shared by the batch, shaped
        (in, out), or per sample, shaped (B, in, out); for each sample b the
        result is `g[b] @ J[0][b]`, shaped like the input.
        """
        if J is None or J[0] is None:
            return self.get_input_gradients()
        upstream = J[0]
        grads = []
        for inp, g in zip(self.inputs, self.get_input_gradients()):
            g = np.asarray(g)
            per_sample = (g @ upstream[..., np.newaxis])[..., 0] if g.ndim == 3 else upstream @ g.T
            grads.append(per_sample.reshape(np.shape(inp)))
        return grads

    def compose_weight_gradients(self, J=None):
        """Vector-Jacobian products for the weights, summed over the batch.

        For each sample b the contribution is `g[b] * J[0][b]` (broadcast) for a
        per-sample gradient (B, ...), or `g * J[0][b]` for a shared one; the
        1/B of a mean loss comes from the loss gradient, not from here.
        """
        if J is None or J[0] is None:
            return self.get_weight_gradients()
        upstream = J[0]
        grads = []
        for w, g in zip(self.weights, self.get_weight_gradients()):
            g = np.asarray(g)
            per_sample = g.ndim == 3
            # Align the trailing axes of each sample's g and J[0][b], as
            # NumPy broadcasting of g[b] * J[0][b] would.
            g_dims, u_dims = g.ndim - per_sample, upstream.ndim - 1
            u = upstream.reshape(upstream.shape[:1] + (1,) * max(0, g_dims - u_dims) + upstream.shape[1:])
            lead = g.shape[:1] if per_sample else ()
            g = g.reshape(lead + (1,) * max(0, u_dims - g_dims) + g.shape[len(lead):])
            if per_sample:  # sum over b of g[b] * u[b], without storing the products
                summed = np.einsum("b...,b...->...", g, u, optimize=True)
            else:  # the same g for every sample: sum over b of g * u[b]
                summed = g * u.sum(axis=0)
            grads.append(np.broadcast_to(summed, np.shape(w)).copy())
        return grads
