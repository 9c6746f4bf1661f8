"""The beras catalog is fair: a bug costs points only in its own class, and every
open choice of SPEC 4 keeps full marks.

Each variant is a copy of `reference/` with a few textual patches (as in
`tests/mutants.py`), graded by a real `python -m harness grade --assignment
beras` run:

- bug variants: a bug of one class (a bias stored (out,), a Tanh never
  written) fails checks of that class only (every failed test's name starts
  with the class's FQN and ": "), and at least one;
- correct variants (a Dense composing its own input gradient, losses and
  accuracies returned as 0-d arrays, Tensors and NumPy scalars, Variable a
  subclass of Tensor, batched and shared Jacobians, weights stored in
  float32) get full marks on three run seeds.
"""


import autograde
import pytest
from mutants import apply_patch, copy_reference

# ---------------------------------------------------------------- variants: (path, find, replace) patches

TANH_MISSING = [
    ("beras/activations.py", "        return np.tanh(x)\n",
     '        raise NotImplementedError("Tanh.call: TODO")\n'),
    ("beras/activations.py", "        return [nnmath.tanh_derivative_from_output(np.asarray(self.outputs[0]))]\n",
     '        raise NotImplementedError("Tanh.get_input_gradients: TODO")\n'),
]

BIAS_FLAT = [  # b stored (out,), its local gradient (out,): right values, the wrong shape
    ("beras/layers.py", "Variable(np.zeros((1, output_size)))", "Variable(np.zeros(output_size))"),
    ("beras/layers.py", "np.ones((1, self.b.shape[-1]), dtype=x.dtype)]", "np.ones(self.b.shape[-1], dtype=x.dtype)]"),
]

TAPE_CRASH = [  # gradient raises: the model, whose steps need a tape, must not pay for it
    ("beras/gradient_tape.py", "        grads = {id(target): None if np.ndim(target) == 0 else np.ones(np.shape(target))}\n",
     '        raise RuntimeError("tape broken")\n'),
]

BUGS = {  # variant -> (its patches, the class that must lose points, and only it)
    "bias_flat": (BIAS_FLAT, "beras.layers.Dense"),
    "tanh_missing": (TANH_MISSING, "beras.activations.Tanh"),
    "tape_crash": (TAPE_CRASH, "beras.gradient_tape.GradientTape"),
}

CORRECT = {
    # A Dense composing its own input gradient (a correct override of the given method).
    "dense_own_compose": [
        ("beras/layers.py", "    def get_input_gradients(self) -> list:\n",
         "    def compose_input_gradients(self, J=None):\n"
         "        if J is None or J[0] is None:\n"
         "            return self.get_input_gradients()\n"
         "        return [np.asarray(J[0]) @ np.asarray(self.w).T]\n\n"
         "    def get_input_gradients(self) -> list:\n"),
    ],
    # loss and acc as 0-d arrays, Tensors and NumPy scalars (SPEC 4: any real scalar).
    "scalar_types": [
        ("beras/model.py", 'return {"loss": float(loss), "acc": float(acc)}',
         'return {"loss": np.asarray(loss).reshape(()), "acc": Tensor(np.float64(acc))}'),
        ("beras/model.py", "from .core import Diffable\n", "from .core import Diffable, Tensor\n"),
        ("beras/model.py", "return {key: float(np.mean([r[key] for r in results])) for key in (\"loss\", \"acc\")}",
         "return {key: np.mean([np.asarray(r[key]) for r in results]) for key in (\"loss\", \"acc\")}"),
        ("beras/metrics.py", "return np.mean(np.argmax(probs, axis=-1) == np.argmax(labels, axis=-1))",
         "return np.asarray(np.mean(np.argmax(probs, axis=-1) == np.argmax(labels, axis=-1)))"),
    ],
    # Variable a subclass of Tensor, not an alias.
    "variable_subclass": [
        ("beras/core.py", "Variable = Tensor\n", "class Variable(Tensor):\n    \"\"\"A trainable Tensor.\"\"\"\n"),
    ],
    # Jacobians the other way round: Dense's input gradient batched (B, in, out); Sigmoid's
    # full per-sample Jacobians through the given composition (no elementwise override).
    "jacobians_batched": [
        ("beras/layers.py", "        return [self.w]\n",
         "        x = np.asarray(self.inputs[0])\n"
         "        return [np.broadcast_to(np.asarray(self.w), (len(x),) + np.shape(self.w)).copy()]\n"),
        ("beras/activations.py", "class Sigmoid(ElementwiseActivation):", "class Sigmoid(Activation):"),
        ("beras/activations.py", "        return [nnmath.sigmoid_derivative_from_output(np.asarray(self.outputs[0]))]\n",
         "        d = nnmath.sigmoid_derivative_from_output(np.asarray(self.outputs[0]))\n"
         "        return [d[:, :, np.newaxis] * np.eye(d.shape[-1])]\n"),
    ],
    # Dense stores its weights in float32 and computes in float64.
    "float32_storage": [
        ("beras/layers.py", "return Variable(w), Variable(np.zeros((1, output_size)))",
         "return Variable(np.float32(w)), Variable(np.zeros((1, output_size), dtype=np.float32))"),
        ("beras/layers.py", "return nnmath.affine(x, self.w, self.b)",
         "return nnmath.affine(np.asarray(x, dtype=np.float64), np.float64(self.w), np.float64(self.b))"),
    ],
}

# Bugs that SPEC's rule for them alone may charge: a bias stored (out,) breaks the rule
# "b shape (1, output_size)", which the check of Dense's weights tests; the harness sets it with
# `b[...] = value` (SPEC 4), which broadcasts, so every other check judges Dense's values.
ONLY_CHECK = {"bias_flat": "beras.layers.Dense: Dense(in, out, initializer) has weights [w (in, out), b (1, out)]"}

SEEDS = (1, 2, 3)


def materialise(patches, destination):
    copy_reference(destination)
    for path, find, replace in patches:
        apply_patch(destination, path, find, replace)
    return destination


def grade(folder, results, seed=None):
    return autograde.grade(folder, results, "--assignment", "beras", "-n", "0", *autograde.seed_option(seed))[1]


def failures(document):
    return {t["name"]: " ".join(t["output"].split())[:400] for t in document["tests"] if t["status"] == "failed"}


@pytest.mark.parametrize("variant", sorted(BUGS))
def test_a_bug_costs_points_in_its_own_class_only(variant, tmp_path):
    patches, target = BUGS[variant]
    document = grade(materialise(patches, tmp_path / "submission"), tmp_path / "results.json")
    failed = failures(document)
    elsewhere = {name: text for name, text in failed.items() if not name.startswith(target + ": ")}
    assert failed, f"{variant}: no check failed"
    if variant in ONLY_CHECK:
        assert all(name.startswith(ONLY_CHECK[variant]) for name in failed), f"{variant}: {failed}"
    assert not elsewhere, f"{variant}, a bug of {target}, cost points elsewhere:\n" + "\n".join(
        f"  {name}\n      {text}" for name, text in elsewhere.items())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("variant", sorted(CORRECT))
def test_a_correct_variant_keeps_full_marks(variant, seed, tmp_path):
    document = grade(materialise(CORRECT[variant], tmp_path / "submission"), tmp_path / "results.json", seed)
    failed = failures(document)
    assert not failed, f"{variant} (correct) lost points on seed {seed}:\n" + "\n".join(
        f"  {name}\n      {text}" for name, text in failed.items())
