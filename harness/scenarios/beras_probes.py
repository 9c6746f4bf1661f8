"""Probe classes for beras: the harness's own layers, loss, metric, optimizer and tape.

A check of one beras class builds its scenario around that class with these
probes instead of the student's other classes, so that a bug elsewhere never
costs it points (a check of the tape never runs the student's Dense; a check
of the model never runs their losses, optimizers or tape). The probes:

- are built on the student's GIVEN base classes (`beras.core.Diffable`,
  `Callable`, `Variable`), so a student's code accepts them, but lean on
  nothing else of `beras.core`: they record themselves on the active tape,
  keep their inputs and outputs, and compose their own vector-Jacobian
  products (a change to the given `Diffable` costs the checks of `Diffable`);
- compute functions no student writes (`sin(x) * w`, `x * w + x**2 / 10`,
  `0.5 + 0.4 sin(w x)`, a Cauchy loss, ...), so no solution code enters the
  sandbox;
- give their local derivatives in the given code's format too (per-sample
  Jacobians `(B, in, out)`), so a tape that composes `get_*_gradients` itself
  is served as well as one that calls `compose_*`.

Everything is float64 and elementwise: a probe keeps the shape of its input
(batch, width) and has one weight shaped (1, width).
"""

from collections import defaultdict
from types import SimpleNamespace

import numpy as np

_KIT = {}


class GivenCompositionError(ValueError):
    """The given `compose_*_gradients` cannot combine what a layer's `get_*_gradients`
    returned with J: the fault of that method, which the message names first
    ("Dense.get_weight_gradients: ..."), so the judge blames it (`harness.play`)
    although no frame of it is left when the composition raises."""


def kit():
    """The probe classes, built on the student's `beras.core` (once per import of it)."""
    import beras.core as core

    built = _KIT.get("kit")
    if built is None or built.core is not core:
        built = _KIT["kit"] = _build(core)
    return built


def _f64(value):
    return np.asarray(value, dtype=np.float64)


def _build(core):
    Diffable = core.Diffable

    def variable(value):
        """A trainable beras Variable holding a float64 copy of `value`."""
        v = core.Variable(np.array(value, dtype=np.float64))
        v.trainable = True
        return v

    def record(layer, names, args, out):
        """What the given `Diffable.__call__` does, done here (the probes do not depend on it)."""
        layer.argnames = tuple(names)
        layer.input_dict = dict(zip(names, args))
        layer.inputs = list(args)
        layer.outputs = [out]
        tape = Diffable.gradient_tape
        if tape is not None:
            tape.previous_layers[id(out)] = layer
        return out

    class Probe(Diffable):
        """An elementwise probe layer y = f(x, w), w shaped (1, width)."""

        def __init__(self, w):
            self.w = variable(np.reshape(w, (1, -1)))

        @property
        def weights(self):
            return [self.w]

        @property
        def trainable_variables(self):
            return [w for w in self.weights if w.trainable]

        @property
        def non_trainable_variables(self):
            return [w for w in self.weights if not w.trainable]

        def __call__(self, x):
            return record(self, ("x",), (x,), core.Tensor(self.call(x)))

        def call(self, x):
            return self.f(_f64(x), _f64(self.w))

        def _local(self):
            x, w = _f64(self.inputs[0]), _f64(self.w)
            return self.dfdx(x, w), self.dfdw(x, w)

        def get_input_gradients(self):
            d = self._local()[0]  # (B, n): the diagonal of each sample's Jacobian
            return [d[:, :, np.newaxis] * np.eye(d.shape[-1])]

        def get_weight_gradients(self):
            return [self._local()[1][:, np.newaxis, :]]  # (B, 1, n)

        def compose_input_gradients(self, J=None):
            if J is None or J[0] is None:
                return self.get_input_gradients()
            return [self._local()[0] * _f64(J[0])]

        def compose_weight_gradients(self, J=None):
            if J is None or J[0] is None:
                return self.get_weight_gradients()
            return [np.sum(self._local()[1] * _f64(J[0]), axis=0, keepdims=True)]

    class Wave(Probe):
        """y = sin(x) * w."""

        @staticmethod
        def f(x, w):
            return np.sin(x) * w

        @staticmethod
        def dfdx(x, w):
            return np.cos(x) * w

        @staticmethod
        def dfdw(x, w):
            return np.sin(x)

    class Bend(Probe):
        """y = x * w + x**2 / 10."""

        @staticmethod
        def f(x, w):
            return x * w + 0.1 * x * x

        @staticmethod
        def dfdx(x, w):
            return w + 0.2 * x

        @staticmethod
        def dfdw(x, w):
            return x.copy()

    class Squash(Probe):
        """y = 0.5 + 0.4 sin(w x): always inside [0.1, 0.9], a valid input for a log."""

        @staticmethod
        def f(x, w):
            return 0.5 + 0.4 * np.sin(w * x)

        @staticmethod
        def dfdx(x, w):
            return 0.4 * np.cos(w * x) * w

        @staticmethod
        def dfdw(x, w):
            return 0.4 * np.cos(w * x) * x

    class Cauchy(Diffable):
        """A probe loss: the mean over all entries of (1 + y_true**2) log(1 + (y_pred - y_true)**2).

        Not symmetric in its two arguments, so a caller that swaps them shows. With a
        `log` (a list), each call appends ("loss", value, a copy of y_true)."""

        def __init__(self, log=None):
            self.log = log

        @property
        def weights(self):
            return []

        @property
        def trainable_variables(self):
            return []

        @property
        def non_trainable_variables(self):
            return []

        def __call__(self, y_pred, y_true):
            return record(self, ("y_pred", "y_true"), (y_pred, y_true), core.Tensor(self.call(y_pred, y_true)))

        @staticmethod
        def value(y_pred, y_true):
            t = _f64(y_true)
            r = _f64(y_pred) - t
            return np.float64(np.mean((1 + t * t) * np.log1p(r * r)))

        def call(self, y_pred, y_true):
            value = self.value(y_pred, y_true)
            if self.log is not None:
                self.log.append(("loss", float(value), np.array(y_true, dtype=np.float64)))
            return value

        def get_input_gradients(self):
            t = _f64(self.inputs[1])
            r = _f64(self.inputs[0]) - t
            g = 2 * r / (1 + r * r) * (1 + t * t) / r.size
            return [g, -g + 2 * t * np.log1p(r * r) / r.size]

        def compose_input_gradients(self, J=None):
            grads = self.get_input_gradients()
            if J is None or J[0] is None:
                return grads
            return [g * _f64(J[0]) for g in grads]

        def get_weight_gradients(self):
            return []

        def compose_weight_gradients(self, J=None):
            return []

    class Closeness(core.Callable):
        """A probe metric: the mean over all entries of y_true exp(-|y_pred - y_true|) (not
        symmetric in its two arguments, so a caller that swaps them shows).

        With a `log` (a list), each call appends ("metric", value)."""

        def __init__(self, log=None):
            self.log = log

        def __call__(self, y_pred, y_true):
            return core.Tensor(self.call(y_pred, y_true))

        def call(self, y_pred, y_true):
            t = _f64(y_true)
            value = np.float64(np.mean(t * np.exp(-np.abs(_f64(y_pred) - t))))
            if self.log is not None:
                self.log.append(("metric", float(value)))
            return value

    class PlainSGD:
        """A probe optimizer: p -= learning_rate * g, in place, for every (p, g) given.

        It keeps every step's parameters and gradients; with a `log` (a list),
        each step appends ("step", its number)."""

        def __init__(self, learning_rate, log=None):
            self.learning_rate = learning_rate
            self.steps = []  # one entry per apply_gradients: the params given, their gradients
            self.log = log

        def apply_gradients(self, trainable_params, grads):
            params, grads = list(trainable_params), list(grads)
            self.steps.append((params, grads))
            if self.log is not None:
                self.log.append(("step", len(self.steps)))
            for p, g in zip(params, grads):
                if g is not None:
                    p -= self.learning_rate * np.reshape(_f64(g), np.shape(p))

    def given_call(layer, *args, **kwargs):
        """`layer(*args, **kwargs)` as the given `Diffable.__call__` does it (BACKGROUND.md): for
        a layer that inherits `__call__`, so that a change to the given code costs Diffable's
        checks, not the layer's. A layer with a `__call__` of its own is called as it is."""
        if type(layer).__call__ is not Diffable.__call__:
            return layer(*args, **kwargs)
        argnames = layer.call.__code__.co_varnames[1:]
        layer.argnames = argnames
        layer.input_dict = dict(zip(argnames, args))
        layer.input_dict.update(kwargs)
        layer.inputs = [layer.input_dict[name] for name in argnames if name in layer.input_dict]
        outputs = layer.call(*args, **kwargs)
        several = isinstance(outputs, (list, tuple))
        layer.outputs = outputs if several else [outputs]
        if Diffable.gradient_tape is not None:
            for out in layer.outputs:
                Diffable.gradient_tape.previous_layers[id(out)] = layer
        return outputs

    def given_compose_input(layer, J):
        """The given `Diffable.compose_input_gradients`: g[b] @ J[0][b] per sample (g (B, in, out)),
        or J[0] @ g.T (a shared g (in, out)), shaped like each input."""
        if J is None or J[0] is None:
            return layer.get_input_gradients()
        u = _f64(J[0])
        grads = []
        for x, g in zip(layer.inputs, layer.get_input_gradients()):
            g = _f64(g)
            local = (np.shape(x)[-1], u.shape[-1])
            if g.shape not in (local, (len(u),) + local):
                raise GivenCompositionError(
                    f"{type(layer).__name__}.get_input_gradients: it returned a gradient of shape {g.shape}: the given "
                    f"compose_input_gradients takes (in, out) = {local}, shared by the batch, or (batch, in, out) = "
                    f"{(len(u),) + local}")
            composed = np.stack([g[b] @ u[b] for b in range(len(u))]) if g.ndim == 3 else u @ g.T
            grads.append(composed.reshape(np.shape(x)))
        return grads

    def given_compose_weight(layer, J):
        """The given `Diffable.compose_weight_gradients`: the sum over the batch of g[b] * J[0][b]
        (g per sample, (B, ...)) or g * J[0][b] (a shared g), shaped like each weight."""
        if J is None or J[0] is None:
            return layer.get_weight_gradients()
        u = _f64(J[0])
        grads = []
        for index, (w, g) in enumerate(zip(layer.weights, layer.get_weight_gradients())):
            g = _f64(g)
            try:
                total = np.asarray(sum((g[b] if g.ndim == 3 else g) * u[b] for b in range(len(u))))
            except ValueError as error:  # g[b] * J[0][b] does not broadcast: the layout of g is wrong
                raise GivenCompositionError(
                    f"{type(layer).__name__}.get_weight_gradients: the gradient of weight {index} (shape "
                    f"{np.shape(w)}) has shape {g.shape}, which the given compose_weight_gradients cannot combine "
                    f"with J[0] of shape {u.shape}: it multiplies g[b] (a per-sample (batch, ...) gradient) or g (a "
                    f"shared one) by each sample's J[0][b], so g[b] must be laid out like the weight, e.g. "
                    f"(batch, in, 1) or (in, out) for a weight (in, out) ({error})") from None
            grads.append(in_shape_of(total, w))
        return grads

    def in_shape_of(total, w):
        """`total` shaped like the weight `w` where numpy can (the given code broadcasts it);
        as it is otherwise: a weight of another shape (a bias stored (n,)) is the shape checks' business."""
        try:
            return np.broadcast_to(total, np.shape(w)).copy()
        except ValueError:
            return total.reshape(np.shape(w)) if total.size == np.size(w) else total

    def compose(layer, kind, J):
        """`layer.compose_<kind>_gradients(J)`, or the given code's when the layer inherits it."""
        name = f"compose_{kind}_gradients"
        if getattr(type(layer), name, None) is getattr(Diffable, name):
            return (given_compose_input if kind == "input" else given_compose_weight)(layer, J)
        return getattr(layer, name)(J)

    def shaped_like(g, x, layer):
        """The gradient `g` for the input `x` of `layer`, in x's shape (or a clear error)."""
        g = _f64(g)
        if g.shape != np.shape(x):
            if g.size != np.size(x):
                raise ValueError(f"the gradient that {type(layer).__name__} passes back to its input (its "
                                 "get_input_gradients, composed by compose_input_gradients) has shape "
                                 f"{g.shape}, the input has shape {np.shape(x)}")
            g = g.reshape(np.shape(x))
        return g

    def chain_tape_class():
        """A probe GradientTape, new for each scenario (its `used` list starts empty).

        It follows the recorded producers back from the target and composes each
        layer's `compose_*` (the given code's, when the layer inherits them: see
        `compose`), handing every tensor the gradient of the one layer that used
        it: a tape for trees of layers only (no tensor used twice), as the probe
        scenarios are. Unlike a general tape, it neither sorts nor sums."""

        class ChainTape:
            used = []

            def __init__(self, *args, **kwargs):
                self.previous_layers = defaultdict(lambda: None)

            def __enter__(self):
                if Diffable.gradient_tape is not None:
                    raise RuntimeError("Cannot nest gradient tapes.")
                Diffable.gradient_tape = self
                ChainTape.used.append(self)
                return self

            def __exit__(self, exc_type, exc_val, exc_tb):
                Diffable.gradient_tape = None

            def gradient(self, target, sources):
                grads = {}
                todo = [(self.previous_layers[id(target)], None)]
                while todo:
                    layer, upstream = todo.pop()
                    if layer is None:
                        continue
                    J = None if upstream is None else [upstream]
                    for w, g in zip(layer.weights, compose(layer, "weight", J)):
                        grads[id(w)] = g
                    for x, g in zip(layer.inputs, compose(layer, "input", J)):
                        grads[id(x)] = g
                        if g is not None:
                            todo.append((self.previous_layers[id(x)], shaped_like(g, x, layer)))
                return [grads.get(id(s)) for s in sources]

        return ChainTape

    class Bare(Diffable):
        """A Diffable that relies on the given code for everything but its local
        derivatives, which are arrays handed to it: for the checks of Diffable itself."""

        def __init__(self, weights=(), input_gradients=(), weight_gradients=()):
            self._weights = [variable(w) for w in weights]
            self.input_gradients = list(input_gradients)
            self.weight_gradients = list(weight_gradients)

        @property
        def weights(self):
            return self._weights

        def call(self, x):
            return np.sin(_f64(x))

        def get_input_gradients(self):
            return list(self.input_gradients)

        def get_weight_gradients(self):
            return list(self.weight_gradients)

    class BarePair(Bare):
        """Bare, called with two arguments (a, b)."""

        def call(self, a, b):
            return _f64(a) * np.cos(_f64(b))

    class BareWeighted(core.Weighted):
        """A Weighted holding the Variables it is given: for the checks of Weighted."""

        def __init__(self, weights):
            self._weights = [variable(w) for w in weights]

        @property
        def weights(self):
            return self._weights

    class BareCallable(core.Callable):
        """A Callable whose call returns a plain ndarray: for the checks of Callable."""

        def call(self, x, scale=1.0):
            return np.cos(_f64(x)) * scale

    return SimpleNamespace(
        core=core, variable=variable, given_call=given_call, compose=compose, Wave=Wave, Bend=Bend, Squash=Squash, Cauchy=Cauchy,
        Closeness=Closeness, PlainSGD=PlainSGD, chain_tape_class=chain_tape_class, Bare=Bare,
        BarePair=BarePair, BareWeighted=BareWeighted, BareCallable=BareCallable,
    )


PROBE_LAYERS = {"wave": "Wave", "bend": "Bend", "squash": "Squash"}


def layer(kind, w):
    """A probe layer by name ("wave", "bend", "squash") with weight `w`."""
    return getattr(kit(), PROBE_LAYERS[kind])(w)


def call_as_given(layer, *args, **kwargs):
    """`layer(*args)` for the generic checks of a layer: as the given `Diffable.__call__`
    does it unless the class has a `__call__` of its own (a broken core costs Diffable only)."""
    return kit().given_call(layer, *args, **kwargs)


def compose_as_given(layer, kind, J):
    """`layer.compose_<kind>_gradients(J)` ("input" or "weight"), by the given code's rule
    unless the class has its own compose method."""
    return kit().compose(layer, kind, J)
