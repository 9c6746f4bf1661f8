"""The properties selfcheck.py checks, run inside one variant's interpreter.

    python tests/variants/_checks.py VARIANT_FOLDER beras|bgd

Expected values come from formulas written here from SPEC.md, and gradients
from central differences of the variant's own forward. Prints "FAIL ..." lines.
"""

import contextlib
import io
import sys
import traceback

import numpy as np

FOLDER, PACKAGE = sys.argv[1], sys.argv[2]
sys.path.insert(0, FOLDER)

failures = []


def fail(what):
    failures.append(what)
    print("FAIL " + what, file=sys.__stdout__, flush=True)


def loose(*arrays):
    return any(np.asarray(a).dtype == np.float32 for a in arrays if a is not None)


def close(got, want, what, f32=False):
    if got is None:
        fail(f"{what}: got None")
        return
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        if got.size == want.size and got.size == 1:
            got = got.reshape(want.shape)
        else:
            fail(f"{what}: shape {got.shape} != {want.shape}")
            return
    rtol, atol = (2e-3, 2e-4) if f32 else (1e-6, 1e-8)
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    if not np.all(np.isfinite(got)) or err > atol * scale + rtol * float(np.max(np.abs(want), initial=0)):
        fail(f"{what}: max error {err:.3g} (scale {scale:.3g})")


def numgrad(f, x, f32=False):
    """d f / d x by central differences with Richardson extrapolation; f returns a float."""
    x = np.array(x, dtype=np.float64)
    h = 1e-2 if f32 else 1e-4
    g = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        def diff(step, index=index):
            old = x[index]
            x[index] = old + step
            up = f(x)
            x[index] = old - step
            down = f(x)
            x[index] = old
            return (up - down) / (2 * step)
        g[index] = (4 * diff(h / 2) - diff(h)) / 3
    return g


def run(name, function):
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            function()
    except Exception:  # noqa: BLE001
        fail(f"{name} raised: " + traceback.format_exc().strip().splitlines()[-1])
        traceback.print_exc(file=sys.stderr)


rng = np.random.default_rng(12345)


# ---------------------------------------------------------------- beras
def beras_checks():
    import beras
    from beras import GradientTape

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    def softmax(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def away(shape):
        x = rng.normal(size=shape)
        return np.where(np.abs(x) < 0.1, x + np.sign(x + 1e-12) * 0.2, x)

    layers = [
        ("Dense", lambda: beras.Dense(3, 4), lambda lay, x: x @ np.asarray(lay.w) + np.asarray(lay.b), (5, 3)),
        ("Dense xavier", lambda: beras.Dense(6, 2, "xavier"), lambda lay, x: x @ np.asarray(lay.w) + np.asarray(lay.b), (1, 6)),
        ("LeakyReLU", lambda: beras.LeakyReLU(), lambda lay, x: np.where(x > 0, x, 0.3 * x), (4, 5)),
        ("LeakyReLU(0.1)", lambda: beras.LeakyReLU(0.1), lambda lay, x: np.where(x > 0, x, 0.1 * x), (1, 6)),
        ("ReLU", lambda: beras.ReLU(), lambda lay, x: np.maximum(x, 0), (3, 5)),
        ("Sigmoid", lambda: beras.Sigmoid(), lambda lay, x: sigmoid(x), (4, 5)),
        ("Tanh", lambda: beras.Tanh(), lambda lay, x: np.tanh(x), (4, 5)),
        ("Softmax", lambda: beras.Softmax(), lambda lay, x: softmax(x), (4, 5)),
        ("Softmax batch 1", lambda: beras.Softmax(), lambda lay, x: softmax(x), (1, 3)),
    ]
    for name, make, formula, shape in layers:
        def check_layer(name=name, make=make, formula=formula, shape=shape):
            layer = make()
            if layer.weights:
                for w in layer.weights:
                    w[...] = rng.normal(size=np.shape(w))
            x = away(shape)
            x_copy = x.copy()
            out = layer(x)
            f32 = loose(out)
            close(out, formula(layer, x), f"{name} forward", f32)
            upstream = rng.normal(size=np.shape(out))
            up_copy = upstream.copy()

            def scalar_of_x(xx):
                return float(np.sum(np.asarray(layer.call(xx), dtype=np.float64) * upstream))
            layer(x)
            (gx,) = layer.compose_input_gradients([upstream])
            close(gx, numgrad(scalar_of_x, x, f32), f"{name} compose_input_gradients vs FD", f32)
            layer(x)
            gws = layer.compose_weight_gradients([upstream])
            for i, w in enumerate(layer.weights):
                saved = np.array(w)

                def scalar_of_w(ww, w=w):
                    w[...] = ww
                    return float(np.sum(np.asarray(layer.call(x), dtype=np.float64) * upstream))
                f32w = f32 or loose(w)  # float32 storage: differences of float32 steps
                num = numgrad(scalar_of_w, saved, f32w)
                w[...] = saved
                close(gws[i], num, f"{name} compose_weight_gradients[{i}] vs FD", f32w)
            # tape through an MSE loss
            target = rng.normal(size=np.shape(out))
            with GradientTape() as tape:
                out = layer(x)
                loss = beras.MeanSquaredError()(out, target)
            grads = tape.gradient(loss, [x, *layer.weights])
            # dL/dout = 2(out - t)/n
            if not isinstance(x, np.ndarray):
                fail(f"{name}: x changed type")

            def loss_of_x(xx):
                return float(np.mean((np.asarray(layer.call(xx), dtype=np.float64) - target) ** 2))
            close(grads[0], numgrad(loss_of_x, x, f32), f"{name} tape input gradient vs FD", f32)
            if not np.array_equal(x, x_copy) or not np.array_equal(upstream, up_copy):
                fail(f"{name}: input or upstream mutated")
        run(name, check_layer)

    def extremes():
        x = rng.normal(size=(4, 5))
        x[0::2] += 1000
        x[1::2] -= 1000
        for name, layer, formula in (("Sigmoid", beras.Sigmoid(), None), ("Softmax", beras.Softmax(), softmax)):
            with np.errstate(over="ignore"):
                raw = layer(x)
            out = np.asarray(raw, dtype=np.float64)
            if not np.all(np.isfinite(out)):
                fail(f"{name} extreme forward not finite")
            if formula is not None:
                close(out, formula(x), f"{name} extreme forward", loose(raw))
            (g,) = layer.compose_input_gradients([np.ones_like(out)])
            if not np.all(np.isfinite(g)):
                fail(f"{name} extreme gradient not finite")
    run("extremes", extremes)

    def losses():
        for name, make, formula in (
            ("MSE", beras.MeanSquaredError, lambda p, t: np.mean((p - t) ** 2)),
            ("CCE", beras.CategoricalCrossentropy,
             lambda p, t: np.mean(-np.sum(t * np.log(np.clip(p, 1e-8, 1 - 1e-8)), axis=1))),
        ):
            for batch in (5, 1):
                loss = make()
                if name == "MSE":
                    p, t = rng.normal(size=(batch, 3)), rng.normal(size=(batch, 3))
                else:
                    p = softmax(rng.normal(size=(batch, 4))) * 0.9 + 0.025
                    t = np.eye(4)[rng.integers(0, 4, batch)]
                value = loss(p, t)
                if np.ndim(value) != 0:
                    fail(f"{name} value not a scalar: shape {np.shape(value)}")
                f32 = loose(value)
                close(value, formula(p, t), f"{name} value", f32)
                gp, gt = loss.compose_input_gradients(None)
                close(gp, numgrad(lambda pp, t=t, loss=loss: float(loss.call(pp, t)), p, f32), f"{name} dL/dy_pred", f32)
                loss(p, t)
                gp, gt = loss.compose_input_gradients(None)
                close(gt, numgrad(lambda tt, p=p, loss=loss: float(loss.call(p, tt)), t, f32), f"{name} dL/dy_true", f32)
        # the course's example
        cce = beras.CategoricalCrossentropy()
        v = cce(np.array([[.1, .2, .7], [.05, .95, 0]]), np.array([[0, 0, 1], [0, 1, 0]]))
        close(v, 0.20398411916314152, "CCE course example", loose(v))
        p = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
        t = np.array([[1.0, 0, 0], [1, 0, 0]])
        v = cce(p, t)
        g = cce.compose_input_gradients(None)
        if not (np.isfinite(float(v)) and all(np.all(np.isfinite(x)) for x in g)):
            fail("CCE not finite at probabilities 0")
    run("losses", losses)

    def metrics_onehot():
        acc = beras.CategoricalAccuracy()
        probs = rng.random((8, 4))
        labels = np.eye(4)[rng.integers(0, 4, 8)]
        close(acc(probs, labels), np.mean(probs.argmax(1) == labels.argmax(1)), "accuracy")
        enc = beras.OneHotEncoder()
        labels = np.array([3, 1, 7, 1, 3])
        enc.fit(labels)
        close(enc(labels), (labels[:, None] == np.unique(labels)[None]).astype(float), "one-hot")
        if not np.array_equal(enc.inverse(enc(labels)), labels):
            fail("one-hot inverse")
        enc = beras.OneHotEncoder()
        words = np.array(["b", "a", "c", "a"])
        enc.fit(words)
        if not np.array_equal(enc.inverse(enc(words)), words):
            fail("one-hot strings")
    run("metrics/onehot", metrics_onehot)

    def tape():
        d1, d2 = beras.Dense(3, 4), beras.Dense(3, 4)
        unused = beras.Dense(3, 4)
        x = beras.Tensor(rng.normal(size=(5, 3)))
        with GradientTape() as t:
            loss = beras.MeanSquaredError()(d1(x), d2(x))
        gx, gw1, gu = t.gradient(loss, [x, d1.w, unused.w])
        if gu is not None:
            fail("disconnected source gets a gradient")
        fx = numgrad(lambda xx: float(np.mean((xx @ d1.w + d1.b - xx @ d2.w - d2.b) ** 2)), x)
        close(gx, fx, "tape fan-out input gradient")
        fw = numgrad(lambda ww: float(np.mean((x @ ww + d1.b - x @ d2.w - d2.b) ** 2)), np.asarray(d1.w))
        close(gw1, fw, "tape fan-out weight gradient")
        # a weight that is another layer's input
        a = beras.Dense(3, 4)
        b = beras.Dense(4, 4)
        x = rng.normal(size=(3, 3))
        with GradientTape() as t:
            loss = beras.MeanSquaredError()(a(x), b(a.w))
        (gw,) = t.gradient(loss, [a.w])
        fw = numgrad(lambda ww: float(np.mean((x @ ww + a.b - (ww @ b.w + b.b)) ** 2)), np.asarray(a.w))
        close(gw, fw, "tape weight used as an input")
        # a chain Dense, LeakyReLU, Dense, Softmax, CCE
        layers = [beras.Dense(4, 6), beras.LeakyReLU(), beras.Dense(6, 3), beras.Softmax()]
        for lay in (layers[0], layers[2]):  # moderate logits: no probability near the clipping
            for w in lay.weights:
                w[...] = rng.normal(size=np.shape(w)) * 0.5
        x = rng.normal(size=(5, 4))
        y = np.eye(3)[rng.integers(0, 3, 5)]
        cce = beras.CategoricalCrossentropy()
        with GradientTape() as t:
            h = x
            for lay in layers:
                h = lay(h)
            loss = cce(h, y)
        grads = t.gradient(loss, [layers[0].w, layers[0].b, layers[2].w, layers[2].b])

        def total(params):
            w0, b0, w2, b2 = params
            z = np.asarray(x @ w0 + b0)
            z = np.where(z > 0, z, 0.3 * z) @ w2 + b2
            s = softmax(z)
            return float(np.mean(-np.sum(y * np.log(np.clip(s, 1e-8, 1 - 1e-8)), axis=1)))
        params = [np.array(p, dtype=np.float64) for p in (layers[0].w, layers[0].b, layers[2].w, layers[2].b)]
        f32 = loose(*grads)
        for i in range(4):
            def fi(v, i=i):
                ps = list(params)
                ps[i] = v
                return total(ps)
            # the formula is float64: small steps, whatever the variant computes in
            close(grads[i], numgrad(fi, params[i]), f"tape chain gradient {i}", f32)
        if Diffable_active():
            fail("tape left active")
        try:
            with GradientTape():
                with GradientTape():
                    pass
            fail("nested tapes did not raise")
        except RuntimeError:
            pass
        if Diffable_active():
            fail("tape left active after nesting error")

    def Diffable_active():
        return beras.Diffable.gradient_tape is not None
    run("tape", tape)

    def optimizers():
        shapes = [(3, 2), (1, 2)]
        grads_seq = [[rng.normal(size=s) for s in shapes] for _ in range(5)]
        start = [rng.normal(size=s) for s in shapes]

        def simulate(kind, **kw):
            ps = [p.copy() for p in start]
            state = {"m": [0, 0], "v": [0, 0], "vmax": [0, 0]}
            for t, gs in enumerate(grads_seq, start=1):
                for i, g in enumerate(gs):
                    if kind == "basic":
                        ps[i] = ps[i] - kw["lr"] * g
                    elif kind == "rms":
                        state["v"][i] = kw["beta"] * state["v"][i] + (1 - kw["beta"]) * g**2
                        ps[i] = ps[i] - kw["lr"] * g / (np.sqrt(state["v"][i]) + kw["eps"])
                    else:
                        b1, b2 = kw["b1"], kw["b2"]
                        state["m"][i] = b1 * state["m"][i] + (1 - b1) * g
                        state["v"][i] = b2 * state["v"][i] + (1 - b2) * g**2
                        m_hat = state["m"][i] / (1 - b1**t)
                        if kw["ams"]:
                            state["vmax"][i] = np.maximum(state["vmax"][i], state["v"][i])
                            v_hat = state["vmax"][i] / (1 - b2**t)
                        else:
                            v_hat = state["v"][i] / (1 - b2**t)
                        ps[i] = ps[i] - kw["lr"] * m_hat / (np.sqrt(v_hat) + kw["eps"])
            return ps

        cases = [
            ("BasicOptimizer", lambda: beras.BasicOptimizer(0.1), ("basic", dict(lr=0.1))),
            ("RMSProp", lambda: beras.RMSProp(0.01), ("rms", dict(lr=0.01, beta=0.9, eps=1e-6))),
            ("RMSProp 0.6", lambda: beras.RMSProp(0.01, beta=0.6, epsilon=0.01), ("rms", dict(lr=0.01, beta=0.6, eps=0.01))),
            ("Adam", lambda: beras.Adam(0.01), ("adam", dict(lr=0.01, b1=0.9, b2=0.999, eps=1e-7, ams=False))),
            ("Adam amsgrad", lambda: beras.Adam(0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-3, amsgrad=True),
             ("adam", dict(lr=0.01, b1=0.8, b2=0.95, eps=1e-3, ams=True))),
        ]
        for name, make, (kind, kw) in cases:
            opt = make()
            params = [beras.Variable(p.copy()) for p in start]
            ids = [id(p) for p in params]
            for gs in grads_seq:
                opt.apply_gradients(params, [g.copy() for g in gs])
            if [id(p) for p in params] != ids:
                fail(f"{name}: params rebound")
            for i, (got, want) in enumerate(zip(params, simulate(kind, **kw))):
                close(got, want, f"{name} param {i} after 5 steps", loose(got))
    run("optimizers", optimizers)

    def model():
        centers = np.array([[0, 3], [3, -2], [-3, -2]], dtype=float)
        labels = rng.integers(0, 3, 90)
        x = centers[labels] + rng.normal(size=(90, 2)) * 0.5
        y = np.eye(3)[labels]
        m = beras.SequentialModel([beras.Dense(2, 16, "xavier"), beras.LeakyReLU(), beras.Dense(16, 3, "xavier"), beras.Softmax()])
        m.compile(beras.Adam(0.02), beras.CategoricalCrossentropy(), beras.CategoricalAccuracy())
        before = [np.array(w) for w in m.weights]
        ev = m.evaluate(x, y, 32)
        if any(not np.array_equal(a, w) for a, w in zip(before, m.weights)):
            fail("evaluate changed weights")
        for key in ("loss", "acc"):
            if np.ndim(ev[key]) != 0 or not np.isreal(float(ev[key])):
                fail(f"evaluate {key} not a real scalar")
        st = m.batch_step(x[:10], y[:10], training=False)
        if any(not np.array_equal(a, w) for a, w in zip(before, m.weights)):
            fail("batch_step(training=False) changed weights")
        close(st["loss"], float(beras.CategoricalCrossentropy()(m.call(x[:10]), y[:10])), "batch_step loss")
        hist = m.fit(x, y, epochs=20, batch_size=16)
        if len(hist["loss"]) != 20 or len(hist["acc"]) != 20:
            fail("fit history length")
        if not float(hist["loss"][-1]) < 0.5 * float(hist["loss"][0]):
            fail(f"fit did not halve the loss: {float(hist['loss'][0]):.3f} -> {float(hist['loss'][-1]):.3f}")
        # trainable = False is respected
        m2 = beras.SequentialModel([beras.Dense(2, 3), beras.Softmax()])
        m2.compile(beras.BasicOptimizer(0.1), beras.CategoricalCrossentropy(), beras.CategoricalAccuracy())
        m2.layers[0].b.trainable = False
        b_before = np.array(m2.layers[0].b)
        w_before = np.array(m2.layers[0].w)
        m2.batch_step(x[:8], y[:8], training=True)
        if not np.array_equal(b_before, m2.layers[0].b):
            fail("non-trainable weight changed")
        if np.array_equal(w_before, m2.layers[0].w):
            fail("trainable weight unchanged")
    run("model", model)

    def dense_init():
        for init, std in (("zero", 0), ("normal", 1), ("xavier", np.sqrt(2 / 300)), ("kaiming", np.sqrt(2 / 100))):
            d = beras.Dense(100, 200, init)
            w, b = d.weights
            if np.shape(w) != (100, 200) or np.shape(b) != (1, 200):
                fail(f"Dense {init} shapes {np.shape(w)} {np.shape(b)}")
            if np.any(np.asarray(b) != 0):
                fail(f"Dense {init} b not zero")
            if abs(float(np.std(w)) - std) > 0.05 * max(std, 0.01):
                fail(f"Dense {init} std {float(np.std(w)):.4f} != {std:.4f}")
            if not (isinstance(w, beras.Tensor) and isinstance(b, beras.Tensor) and w.trainable and b.trainable):
                fail(f"Dense {init} weights not trainable Tensors")
    run("dense init", dense_init)


# ---------------------------------------------------------------- bgd
def bgd_checks():
    import bgd
    from bgd.layers import Activation, Convolutional2D, Dropout, Flatten, FullyConnected, MaxPooling2D

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    def softmax(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def conv(x, f, b, s):
        N, H, W, C = x.shape
        F, FH, FW, _ = f.shape
        OH, OW = 1 + (H - FH) // s[0], 1 + (W - FW) // s[1]
        out = np.zeros((N, OH, OW, F))
        for i in range(OH):
            for j in range(OW):
                win = x[:, i * s[0]:i * s[0] + FH, j * s[1]:j * s[1] + FW, :]
                out[:, i, j, :] = np.einsum("nabc,fabc->nf", win, f)
        return out + (0 if b is None else b)

    def pool(x, p, s):
        N, H, W, C = x.shape
        OH, OW = 1 + (H - p[0]) // s[0], 1 + (W - p[1]) // s[1]
        out = np.zeros((N, OH, OW, C))
        for i in range(OH):
            for j in range(OW):
                out[:, i, j, :] = x[:, i * s[0]:i * s[0] + p[0], j * s[1]:j * s[1] + p[1], :].max(axis=(1, 2))
        return out

    def distinct(shape):
        n = int(np.prod(shape))
        return (rng.permutation(n) * 0.1 + rng.uniform(0, 0.02, n)).reshape(shape) - n * 0.05

    def away(shape):
        x = rng.normal(size=shape)
        return np.where(np.abs(x) < 0.1, x + np.sign(x + 1e-12) * 0.2, x)

    cases = [
        ("FC", lambda: FullyConnected(3, 5), lambda lay, x: x @ lay.weights + lay.biases, (4, 3)),
        ("FC batch 1", lambda: FullyConnected(7, 2), lambda lay, x: x @ lay.weights + lay.biases, (1, 7)),
        ("FC no bias", lambda: FullyConnected(4, 3, with_bias=False), lambda lay, x: x @ lay.weights, (2, 4)),
        ("sigmoid", lambda: Activation("sigmoid"), lambda lay, x: sigmoid(x), (4, 5)),
        ("tanh", lambda: Activation("tanh"), lambda lay, x: np.tanh(x), (4, 5)),
        ("relu", lambda: Activation("relu"), lambda lay, x: np.maximum(x, 0), (4, 5)),
        ("relu 4d", lambda: Activation("relu"), lambda lay, x: np.maximum(x, 0), (2, 3, 3, 2)),
        ("softmax", lambda: Activation("softmax"), lambda lay, x: softmax(x), (4, 5)),
        ("softmax batch 1", lambda: Activation("softmax"), lambda lay, x: softmax(x), (1, 3)),
        ("conv", lambda: Convolutional2D((3, 3, 2), 3), lambda lay, x: conv(x, lay.filters, lay.biases, (1, 1)), (2, 5, 5, 2)),
        ("conv stride 2", lambda: Convolutional2D((3, 3, 1), 2, strides=(2, 2)),
         lambda lay, x: conv(x, lay.filters, lay.biases, (2, 2)), (2, 7, 6, 1)),
        ("conv stride (2,1)", lambda: Convolutional2D((2, 3, 2), 2, strides=(2, 1)),
         lambda lay, x: conv(x, lay.filters, lay.biases, (2, 1)), (1, 6, 5, 2)),
        ("conv no bias", lambda: Convolutional2D((2, 2, 3), 2, with_bias=False),
         lambda lay, x: conv(x, lay.filters, None, (1, 1)), (2, 4, 4, 3)),
        ("pool 2x2", lambda: MaxPooling2D((2, 2)), lambda lay, x: pool(x, (2, 2), (2, 2)), (2, 4, 6, 2)),
        ("pool 3x3 s2", lambda: MaxPooling2D((3, 3), strides=(2, 2)), lambda lay, x: pool(x, (3, 3), (2, 2)), (2, 7, 7, 1)),
        ("pool 2x3 s(1,2)", lambda: MaxPooling2D((2, 3), strides=(1, 2)), lambda lay, x: pool(x, (2, 3), (1, 2)), (1, 4, 7, 2)),
        ("pool 2x2 s1", lambda: MaxPooling2D((2, 2), strides=1), lambda lay, x: pool(x, (2, 2), (1, 1)), (2, 5, 5, 2)),
        ("flatten", lambda: Flatten(), lambda lay, x: x.reshape(len(x), -1), (3, 2, 4, 2)),
    ]
    for name, make, formula, shape in cases:
        def check_layer(name=name, make=make, formula=formula, shape=shape):
            layer = make()
            params = layer.get_parameters() or ()
            for p in params:
                p[...] = rng.normal(size=p.shape)
            x = distinct(shape) if name.startswith("pool") else away(shape)
            x_copy = x.copy()
            out = layer.forward(x)
            f32 = loose(out)
            close(out, formula(layer, x), f"{name} forward", f32)
            error = rng.normal(size=np.shape(out))
            e_copy = error.copy()
            signal, grads = layer.backward(error)
            if not np.array_equal(x, x_copy) or not np.array_equal(error, e_copy):
                fail(f"{name}: input or error mutated")
            f32 = f32 or loose(signal)
            fresh = make()
            for p, q in zip(fresh.get_parameters() or (), params):
                p[...] = q

            def scalar_of_x(xx):
                return float(np.sum(np.asarray(fresh.forward(xx), dtype=np.float64) * error))
            close(signal, numgrad(scalar_of_x, x, f32), f"{name} signal vs FD", f32)
            if params:
                if grads is None or len(grads) != len(params):
                    fail(f"{name}: {0 if grads is None else len(grads)} gradients for {len(params)} parameters")
                    return
                for i, p in enumerate(fresh.get_parameters()):
                    saved = np.array(p)

                    def scalar_of_p(pp, p=p):
                        p[...] = pp
                        return float(np.sum(np.asarray(fresh.forward(x), dtype=np.float64) * error))
                    f32p = f32 or loose(p)  # float32 storage: differences of float32 steps
                    num = numgrad(scalar_of_p, saved, f32p)
                    p[...] = saved
                    close(grads[i], num, f"{name} parameter gradient {i} vs FD", f32p)
                    if np.shape(grads[i]) != p.shape:
                        fail(f"{name} gradient {i} shape {np.shape(grads[i])} != {p.shape}")
                # propagation off
                layer.forward(x)
                layer.deactivate_propagation()
                signal2, grads2 = layer.backward(error)
                layer.activate_propagation()
                if signal2 is not None:
                    fail(f"{name}: signal with propagation off")
                for g, h in zip(grads2, grads):
                    close(g, h, f"{name} gradients with propagation off", f32)
            else:
                if grads is not None:
                    fail(f"{name}: gradients for a layer without parameters")
                layer.forward(x)
                layer.deactivate_propagation()
                if layer.backward(error) != (None, None):
                    fail(f"{name}: backward with propagation off is not (None, None)")
            # writing into the parameters changes the output
            for p in layer.get_parameters() or ():
                before = np.array(layer.forward(x))
                p[...] = p + 1.0
                if np.allclose(before, layer.forward(x)):
                    fail(f"{name}: writing into a parameter changed nothing")
        run(name, check_layer)

    def extremes():
        x = rng.normal(size=(4, 5))
        x[0::2] += 1000
        x[1::2] -= 1000
        for fn in ("sigmoid", "softmax"):
            lay = Activation(fn)
            with np.errstate(over="ignore"):
                raw = lay.forward(x)
            out = np.asarray(raw, dtype=np.float64)
            if not np.all(np.isfinite(out)):
                fail(f"{fn} extreme forward not finite")
            signal, _ = lay.backward(np.ones_like(out))
            if not np.all(np.isfinite(signal)):
                fail(f"{fn} extreme backward not finite")
            close(out, sigmoid(np.clip(x, -500, 500)) if fn == "sigmoid" else softmax(x), f"{fn} extreme forward", loose(raw))
    run("extremes", extremes)

    def costs():
        mse = bgd.MSE()
        ce = bgd.CrossEntropy()
        for batch in (5, 1):
            y = np.eye(4)[rng.integers(0, 4, batch)]
            y_hat = softmax(rng.normal(size=(batch, 4))) * 0.9 + 0.025
            t = rng.normal(size=(batch, 4))
            p = rng.normal(size=(batch, 4))
            v = mse.eval(t, p)
            f32 = loose(v, mse.grad(t, p))
            close(v, 0.5 * np.mean((p - t) ** 2), "MSE eval", f32)
            close(mse.grad(t, p), numgrad(lambda pp, t=t: float(mse.eval(t, pp)), p, f32), "MSE grad vs FD", f32)
            close(mse.grad(t, p), (p - t) / p.size, "MSE grad", f32)
            v = ce.eval(y, y_hat)
            f32 = loose(v, ce.grad(y, y_hat))
            close(v, -np.mean(np.sum(y * np.log(y_hat), axis=1)), "CE eval", f32)
            close(ce.grad(y, y_hat), numgrad(lambda pp, y=y: float(ce.eval(y, pp)), y_hat, f32), "CE grad vs FD", f32)
        y_hat = np.array([[0.0, 0.5, 0.5]])
        y = np.array([[1.0, 0, 0]])
        if not (np.isfinite(float(ce.eval(y, y_hat))) and np.all(np.isfinite(ce.grad(y, y_hat)))):
            fail("CE not finite at 0")
    run("costs", costs)

    def dropout():
        d = Dropout(0.75)
        x = rng.normal(size=(200, 50)) + 3
        np.random.seed(0)
        out = d.forward(x)
        kept = out != 0
        if abs(kept.mean() - 0.75) > 0.02:
            fail(f"dropout keeps {kept.mean():.3f}")
        close(out[kept], x[kept] / 0.75, "dropout scaling")
        e = rng.normal(size=x.shape)
        sig, _ = d.backward(e)
        close(sig, np.where(kept, e / 0.75, 0), "dropout backward")
        d.deactivate()
        close(d.forward(x), x, "inactive dropout forward")
        close(d.backward(e)[0], e, "inactive dropout backward")
        d.activate()
        if np.array_equal(d.forward(x), x):
            fail("re-activated dropout is the identity")
    run("dropout", dropout)

    def optimizers():
        for make, kind in ((lambda: bgd.MomentumOptimizer(0.05, 0.5), "mom"),
                           (lambda: bgd.AdamOptimizer(0.01, 0.8, 0.99, 1e-6), "adam"),
                           (lambda: bgd.MomentumOptimizer(), "mom0"), (lambda: bgd.AdamOptimizer(), "adam0")):
            layers = [FullyConnected(3, 4), Convolutional2D((2, 2, 2), 3), FullyConnected(4, 2, with_bias=False)]
            opt = make()
            start = [[np.array(p) for p in lay.get_parameters()] for lay in layers]
            refs = [[p for p in lay.get_parameters()] for lay in layers]
            sims = [[np.array(p, dtype=np.float64) for p in ps] for ps in start]
            state = {}
            for t in range(1, 6):
                for li, lay in enumerate(layers):
                    gs = tuple(rng.normal(size=p.shape) for p in lay.get_parameters())
                    opt.add_gradient_fragments(lay, gs)
                    for pi, g in enumerate(gs):
                        key = (li, pi)
                        if kind.startswith("mom"):
                            lr, mom = (0.05, 0.5) if kind == "mom" else (0.005, 0.9)
                            d = lr * g + mom * state.get(key, 0)
                            state[key] = d
                        else:
                            lr, b1, b2, eps = (0.01, 0.8, 0.99, 1e-6) if kind == "adam" else (0.001, 0.9, 0.999, 1e-8)
                            m, v = state.get(key, (0, 0))
                            m = b1 * m + (1 - b1) * g
                            v = b2 * v + (1 - b2) * g**2
                            state[key] = (m, v)
                            d = lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
                        sims[li][pi] = sims[li][pi] - d
                opt.update()
                if opt.gradient_fragments:
                    fail(f"{kind}: queue not emptied")
            for li, lay in enumerate(layers):
                for pi, p in enumerate(lay.get_parameters()):
                    if p is not refs[li][pi]:
                        fail(f"{kind}: parameter array replaced")
                    close(p, sims[li][pi], f"{kind} layer {li} param {pi}", loose(p))
    run("optimizers", optimizers)

    def stack():
        centers = np.array([[0, 3], [3, -2], [-3, -2]], dtype=float)
        labels = rng.integers(0, 3, 90)
        x = centers[labels] + rng.normal(size=(90, 2)) * 0.5
        y = np.eye(3)[labels]
        net = bgd.NeuralStack()
        for c in (FullyConnected(2, 16), Activation("relu"), FullyConnected(16, 3), Activation("softmax"),
                  bgd.CrossEntropy(), bgd.AdamOptimizer(0.02)):
            net.add(c)
        losses = np.asarray(net.train(x, y, 30, 16))
        if losses.ndim != 1 or len(losses) not in (30, 30 * 6) or not np.all(np.isfinite(losses)):
            fail(f"train returned {losses.shape}")
        k = len(losses) // 30
        first, last = losses[:k].mean(), losses[-k:].mean()
        if not last < 0.5 * first:
            fail(f"train did not halve the loss: {first:.3f} -> {last:.3f}")
        if not net.layers[0].propagate:
            fail("first layer's propagation not restored")
        probs = net.eval(x)
        if np.mean(probs.argmax(1) == labels) < 0.9:
            fail("stack did not learn the clusters")
        # conv net
        xi = rng.normal(size=(24, 6, 6, 1))
        yi = np.eye(2)[(xi[:, :3].sum(axis=(1, 2, 3)) > xi[:, 3:].sum(axis=(1, 2, 3))).astype(int)]
        net = bgd.NeuralStack()
        for c in (Convolutional2D((3, 3, 1), 4), Activation("relu"), MaxPooling2D((2, 2)), Flatten(),
                  FullyConnected(16, 2), Activation("softmax"), bgd.CrossEntropy(), bgd.AdamOptimizer(0.01)):
            net.add(c)
        losses = np.asarray(net.train(xi, yi, 40, 8))
        k = len(losses) // 40
        if not losses[-k:].mean() < 0.7 * losses[:k].mean():
            fail(f"conv net did not learn: {losses[:k].mean():.3f} -> {losses[-k:].mean():.3f}")
        # eval with dropout: either choice, but the state is restored
        net = bgd.NeuralStack()
        d = Dropout(0.5)
        net.add(FullyConnected(2, 3))
        net.add(d)
        net.eval(x)
        if not d.active:
            fail("eval left Dropout inactive")
    run("stack", stack)

    def base_layer():
        fc = FullyConnected(3, 4)
        x = rng.normal(size=(2, 3))
        out = fc.forward(x)
        if fc.input_shape != x.shape:
            fail("input_shape")
        if fc.save_input and fc.current_input is not x:
            fail("current_input")
        if fc.save_output and fc.current_output is not out:
            fail("current_output")
        w, b = fc.get_parameters()
        dw, db = rng.normal(size=w.shape), rng.normal(size=b.shape)
        w0, b0 = w.copy(), b.copy()
        fc.update_parameters((dw, db))
        close(w, w0 - dw, "update_parameters w")
        close(b, b0 - db, "update_parameters b")
    run("base layer", base_layer)


(beras_checks if PACKAGE == "beras" else bgd_checks)()
sys.exit(1 if failures else 0)
