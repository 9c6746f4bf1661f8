"""Probe classes for the bgd checks: small layers, a cost and an optimizer of
the harness's own, built on the student's GIVEN base classes.

They are unlike anything a student writes (`sin(X) * scale`, `X * a + b`
elementwise, a fold of the columns, a log-cosh cost, plain SGD), so that a
check of one class runs the student's code of that class only:

- `Wave`, `Mirror`: probes that lean on the given `Layer` base (its
  `forward`, `backward`, `update_parameters`, propagation flags) and
  implement only `_forward` / `_backward`; the checks of the base use them.
- `Shift`, `Scale`, `Fold`, `Bank`: self-contained probes for the checks of
  the optimizers and of `NeuralStack`. They subclass the student's `Layer`
  (so `NeuralStack.add` takes them) but implement every method themselves,
  so a bug in the student's base never shows up in those checks. Their
  parameter arrays are read-only except inside their own
  `update_parameters`, which records each call: an optimizer must apply its
  deltas through `layer.update_parameters` (SPEC 3).
- `LogCosh` (a cost) and `SGD` (an optimizer) for the checks of
  `NeuralStack`; both record what they were asked in a shared `journal`.

Only numpy and the student's bgd base classes are imported: no solution code.
"""

import numpy as np
from bgd.cost import Cost
from bgd.layers.layer import Layer
from bgd.optimizers import Optimizer


def _copy(value):
    return np.array(value, dtype=np.float64, copy=True)


# ===================================================================== probes of the Layer base


class Wave(Layer):
    """`sin(X * freq) * scale + shift`, learnable; on the given base.

    Parameters: freq (1, 1), scale (1, n), shift (n,): three shapes. It keeps
    its own copy of the input, so what it computes never depends on the
    base's save_input / save_output."""

    def __init__(self, freq, scale, shift, **flags):
        Layer.__init__(self, **flags)
        self.freq, self.scale, self.shift = _copy(freq), _copy(scale), _copy(shift)
        self._seen = None

    def get_parameters(self):
        return (self.freq, self.scale, self.shift)

    def _forward(self, X):
        self._seen = _copy(X)
        return np.sin(self._seen * self.freq) * self.scale + self.shift

    def _backward(self, error):
        X, error = self._seen, _copy(error)
        u = X * self.freq
        d_u = error * np.cos(u) * self.scale
        gradients = (
            np.sum(d_u * X, keepdims=True).reshape(1, 1),
            np.sum(error * np.sin(u), axis=0, keepdims=True),
            error.sum(axis=0),
        )
        return (d_u * self.freq if self.propagate else None), gradients


class Mirror(Layer):
    """The columns in reverse order, `X[..., ::-1]`: a view of the input
    (so `copy=True` matters), no parameters; on the given base."""

    def _forward(self, X):
        return X[..., ::-1]

    def _backward(self, error):
        return _copy(error)[..., ::-1]


# ===================================================================== self-contained probes


class _Probe(Layer):
    """A layer that implements every method itself (the student's base class
    is only its type). Parameters are read-only outside update_parameters."""

    def __init__(self, journal=None, *parameters):
        # Layer.__init__ is not called: the student may have changed it.
        self.input_shape = None
        self.copy = False
        self.save_input = True
        self.save_output = True
        self.current_input = None
        self.current_output = None
        self.propagate = True
        self.journal = journal if journal is not None else []
        self._parameters = tuple(_copy(p) for p in parameters)
        for p in self._parameters:
            p.flags.writeable = False
        self._seen = None
        self.updates = 0
        self.delta_dtypes = set()  # the precision the deltas came in

    def get_parameters(self):
        return self._parameters or None

    def learnable(self):
        return bool(self._parameters)

    def activate_propagation(self):
        self.propagate = True

    def deactivate_propagation(self):
        self.propagate = False

    def update_parameters(self, delta_fragments):
        name = type(self).__name__
        if not self._parameters:
            raise TypeError(f"{name} (a probe layer of the harness) has no parameters to update")
        deltas = list(delta_fragments)
        if len(deltas) != len(self._parameters):
            raise ValueError(f"{name}.update_parameters got {len(deltas)} deltas for {len(self._parameters)} parameter arrays")
        checked = []
        for index, (p, d) in enumerate(zip(self._parameters, deltas)):
            d = np.asarray(d)
            if d.dtype.kind not in "biuf":
                raise TypeError(f"{name}.update_parameters: delta {index} is not numeric ({d.dtype})")
            if np.broadcast_shapes(p.shape, d.shape) != p.shape:
                raise ValueError(f"{name}.update_parameters: delta {index} has shape {d.shape}, parameter {index} {p.shape}")
            checked.append(d)
            self.delta_dtypes.add(d.dtype.str)
        for p, d in zip(self._parameters, checked):
            p.flags.writeable = True
            try:
                p -= d
            finally:
                p.flags.writeable = False
        self.updates += 1
        self.journal.append(("update_parameters", id(self)))

    def forward(self, X):
        X = np.asarray(X)
        self.input_shape = X.shape
        self._seen = _copy(X)
        out = self.compute(self._seen)
        self.current_input, self.current_output = X, out
        self.journal.append(("forward", id(self), X.shape[0] if X.ndim else 0))
        return out

    def backward(self, error):
        if self._seen is None:
            raise RuntimeError(f"{type(self).__name__}.backward (a probe layer of the harness) called before forward")
        signal, gradients = self.vjp(self._seen, _copy(error))
        self.journal.append(("backward", id(self)))
        if gradients is None:
            return (signal, None) if self.propagate else (None, None)
        return (signal if self.propagate else None), gradients

    def _forward(self, X):  # never called: forward is the probe's own
        return self.compute(_copy(X))

    def _backward(self, error):
        return self.vjp(self._seen, _copy(error))

    def values(self):
        return [np.array(p) for p in self._parameters]


class Shift(_Probe):
    """`X * a + b` elementwise: a (1, n), b (n,)."""

    def __init__(self, a, b, journal=None):
        _Probe.__init__(self, journal, a, b)

    def compute(self, X):
        a, b = self._parameters
        return X * a + b

    def vjp(self, X, error):
        a, _ = self._parameters
        return error * a, (np.sum(error * X, axis=0, keepdims=True), error.sum(axis=0))


class Scale(_Probe):
    """`sin(X) * scale`: scale (1, n)."""

    def __init__(self, scale, journal=None):
        _Probe.__init__(self, journal, scale)

    def compute(self, X):
        return np.sin(X) * self._parameters[0]

    def vjp(self, X, error):
        scale = self._parameters[0]
        return error * np.cos(X) * scale, (np.sum(error * np.sin(X), axis=0, keepdims=True),)


class Fold(_Probe):
    """(N, 2k) -> (N, k): the first half of the columns plus the second half. No parameters."""

    def __init__(self, journal=None):
        _Probe.__init__(self, journal)

    def compute(self, X):
        k = X.shape[1] // 2
        return X[:, :k] + X[:, k:]

    def vjp(self, X, error):
        return np.concatenate([error, error], axis=1), None


class Bank(_Probe):
    """A bank of parameter arrays of any shapes, for the optimizer checks:
    `X * (1 + sum of the parameters' means)`."""

    def __init__(self, *parameters, journal=None):
        _Probe.__init__(self, journal, *parameters)

    def compute(self, X):
        return X * (1.0 + sum(float(p.mean()) for p in self._parameters))

    def vjp(self, X, error):
        factor = 1.0 + sum(float(p.mean()) for p in self._parameters)
        total = float(np.sum(error * X))
        return error * factor, tuple(np.full(p.shape, total / p.size) for p in self._parameters)


# ===================================================================== cost and optimizer


class LogCosh(Cost):
    """`mean(log(cosh(y_hat - y)))`, gradient `tanh(y_hat - y) / y_hat.size`.
    Records every call in the journal (the value of each eval)."""

    def __init__(self, journal=None):
        self.journal = journal if journal is not None else []

    @staticmethod
    def value(y, y_hat):
        d = np.asarray(y_hat, dtype=np.float64) - np.asarray(y, dtype=np.float64)
        return float(np.mean(np.abs(d) + np.log1p(np.exp(-2.0 * np.abs(d))) - np.log(2.0)))

    def eval(self, y, y_hat):
        value = self.value(y, y_hat)
        self.journal.append(("cost", value))
        return value

    def grad(self, y, y_hat):
        y_hat = np.asarray(y_hat, dtype=np.float64)
        self.journal.append(("grad", y_hat.shape[0] if y_hat.ndim else 0))
        return np.tanh(y_hat - np.asarray(y, dtype=np.float64)) / y_hat.size


class SGD(Optimizer):
    """Plain gradient descent, `delta = learning_rate * gradient`, applied
    with the layer's update_parameters. Records every update in the journal,
    with the gradients it applied."""

    def __init__(self, learning_rate, journal=None):
        # Optimizer.__init__ is not called: the student writes part of that class.
        self.learning_rate = learning_rate
        self.gradient_fragments = []
        self.journal = journal if journal is not None else []

    def add_gradient_fragments(self, layer, fragments):
        if fragments is None or (isinstance(fragments, (tuple, list)) and not fragments):
            return  # a layer without parameters: nothing to apply
        if isinstance(fragments, np.ndarray):
            fragments = (fragments,)
        self.gradient_fragments.append((layer, tuple(_copy(f) for f in fragments)))

    def flush(self):
        self.gradient_fragments = []

    def update(self):
        applied = []
        for layer, fragments in self.gradient_fragments:
            layer.update_parameters(tuple(self.learning_rate * g for g in fragments))
            applied.append((id(layer), [np.array(g) for g in fragments]))
        self.journal.append(("update", applied))
        self.flush()
