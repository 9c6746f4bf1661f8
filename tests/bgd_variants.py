"""Submissions of bgd built for the fairness tests (tests/test_bgd_fairness.py).

- `materialise_zero_stub(destination)`: the student template with every method
  a student writes returning zeros of the right shape, or doing nothing. A fair
  judge pays it (almost) nothing.
- `CORRECT_VARIANTS`: correct submissions that make each choice SPEC leaves
  open differently from the reference (patches of `reference/`, as in
  tests/mutants.py). A fair judge gives each full marks on every seed.
"""

import pathlib
import re
import shutil

from mutants import Patch, apply_patch, copy_reference

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEMPLATE_DIR = ROOT / "student_template"

# ------------------------------------------------------------------ the zero stub

_ZERO_BODIES = {
    "FullyConnected._forward": "return np.zeros((X.shape[0], self.n_out))",
    "FullyConnected._backward": "return np.zeros(self.input_shape), tuple(np.zeros_like(p) for p in self.get_parameters())",
    "Activation._forward": "return np.zeros_like(X)",
    "Activation._backward": "return np.zeros_like(error)",
    "Convolutional2D._forward": (
        "height, width, _ = self.filter_shape\n"
        "        return np.zeros((X.shape[0], 1 + (X.shape[1] - height) // self.strides[0], "
        "1 + (X.shape[2] - width) // self.strides[1], self.n_filters))"
    ),
    "Convolutional2D._backward": "return np.zeros(self.input_shape), tuple(np.zeros_like(p) for p in self.get_parameters())",
    "MaxPooling2D._forward": (
        "return np.zeros((X.shape[0], 1 + (X.shape[1] - self.pool_shape[0]) // self.strides[0], "
        "1 + (X.shape[2] - self.pool_shape[1]) // self.strides[1], X.shape[3]))"
    ),
    "MaxPooling2D._backward": "return np.zeros(self.input_shape)",
    "Dropout._forward": "return np.zeros_like(X)",
    "Dropout._backward": "return np.zeros_like(error)",
    "Flatten._forward": "return np.zeros((X.shape[0], int(np.prod(X.shape[1:]))))",
    "Flatten._backward": "return np.zeros(self.input_shape)",
    "MSE.eval": "return 0.0",
    "MSE.grad": "return np.zeros_like(y_hat)",
    "CrossEntropy.eval": "return 0.0",
    "CrossEntropy.grad": "return np.zeros_like(y_hat)",
    "Optimizer.add_gradient_fragments": "pass",
    "MomentumOptimizer.update": "self.flush()",
    "AdamOptimizer.update": "self.flush()",
    "NeuralStack.eval": (
        "out = np.asarray(X)\n"
        "        for layer in self.layers:\n"
        "            out = layer.forward(out)\n"
        "        return np.zeros_like(out)"
    ),
    "NeuralStack.train": "return np.zeros(epochs)",
}

_RAISE = re.compile(r'raise NotImplementedError\("(?P<name>\w+\.\w+): TODO[^\n]*\)')


def materialise_zero_stub(destination):
    """The template's bgd/ with every method to write returning zeros (or doing nothing)."""
    destination = pathlib.Path(destination)
    shutil.copytree(TEMPLATE_DIR / "bgd", destination / "bgd", ignore=shutil.ignore_patterns("__pycache__"))
    seen = set()
    for path in (destination / "bgd").rglob("*.py"):
        source = path.read_text(encoding="utf-8")

        def body(match):
            seen.add(match["name"])
            return _ZERO_BODIES[match["name"]]

        source = _RAISE.sub(body, source)
        if "np." in source and "import numpy as np" not in source:
            source = "import numpy as np\n" + source
        path.write_text(source, encoding="utf-8")
    missing = set(_ZERO_BODIES) - seen
    if missing:
        raise ValueError(f"the template no longer has these methods to write: {sorted(missing)}")
    return destination


# ------------------------------------------------------------------ correct variants

CORRECT_VARIANTS = {}
