"""Write examples/class/: a small class of submissions to try `batch` on.

    python examples/make_class.py          # rewrite examples/class/ from the sources below

Every submission is built from the independent correct submissions of
`tests/variants/` (written from SPEC, never from reference/; the given files
come from student_template/), some with one mistake of the kinds
tests/mutants.py catalogues, written here as a patch of the variant's own
code. tests/test_batch.py fails when examples/class/ differs from what this
script writes. `EXPECTED` says how each should fare.
"""

import dataclasses
import pathlib
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLASS_DIR = ROOT / "examples" / "class"
sys.path.insert(0, str(ROOT / "tests"))

import variant_corpus  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Example:
    id: str
    variants: tuple  # (variant, package) pairs: the package of that variant, or None for all it has
    what: str  # one line for README.md
    inside: str = ""  # a folder inside the submission that holds the packages (a zip's top folder)
    patches: tuple = ()  # (path, exact text found once, replacement)
    extra_files: tuple = ()  # (path, text)


EXAMPLES = (
    Example("ada-einsum", (("einsum", None),), "correct, both packages, np.einsum everywhere"),
    Example("ben-loops", (("loops", None),), "correct, both packages, explicit Python loops (slowest)"),
    Example("dev-beras-only", (("shared_jacobians", None),), "correct, beras only (shared Jacobians)"),
    Example("eli-bgd-only", (("lean_layers", None),), "correct, bgd only (layers that save little)"),
    Example(
        "lea-zipped", (("recursive_tape", "beras"), ("fft_kernels", "bgd")),
        "correct, zipped with its folder: the packages sit in lea-zipped/hw2/ (graded from there, with a note)",
        inside="hw2",
    ),
    Example(
        "fay-dense-batch-mean", (("shared_jacobians", None),),
        "bug: beras Dense weight gradients averaged over the batch instead of summed (scale)",
        patches=(("beras/layers.py", "return [x[:, :, None], np.ones_like(self.b)]",
                  "return [x[:, :, None] / len(x), np.ones_like(self.b) / len(x)]"),),
    ),
    Example(
        "gus-relu-times-output", (("einsum", None),),
        "bug: bgd ReLU backward multiplies the error by the output instead of the 0/1 mask",
        patches=(("bgd/layers/activation.py",
                  'return np.einsum("...,...->...", error, (self.current_input > 0).astype(np.float64))',
                  'return np.einsum("...,...->...", error, y)'),),
    ),
    Example(
        "hana-bias-grad-mean", (("dropout_in_eval", None),),
        "bug: bgd FullyConnected bias gradient is the mean of the error over the batch, not its sum",
        patches=(("bgd/layers/fc.py", "error.sum(axis=0).reshape(1, -1)", "error.mean(axis=0).reshape(1, -1)"),),
    ),
    Example(
        "ivan-adam-no-correction", (("id_keyed_state", None),),
        "bug: beras Adam without bias correction",
        patches=(("beras/optimizers.py",
                  "            denominator = np.sqrt(second) / np.sqrt(bias_correction2) + self.epsilon\n"
                  "            param -= (self.learning_rate / bias_correction1) * self.m[key] / denominator\n",
                  "            param -= self.learning_rate * self.m[key] / (np.sqrt(second) + self.epsilon)\n"),),
    ),
    Example(
        "jun-hangs", (("scalar_returns", None),),
        "hangs: beras Sigmoid's forward loops forever (each call is stopped after --timeout)",
        patches=(("beras/activations.py",
                  "    def call(self, x):\n        z = np.exp(-np.abs(x))\n",
                  "    def call(self, x):\n        while True:  # waiting for convergence\n            pass\n"
                  "        z = np.exp(-np.abs(x))\n"),),
    ),
    Example(
        "kim-import-crash", (("einsum", None),),
        "crashes at import: beras/layers.py imports a helper module that was not submitted (bgd still graded)",
        patches=(("beras/layers.py", "from .core import Diffable, Tensor, Variable\n",
                  "from .core import Diffable, Tensor, Variable\nfrom .helpers import batched_outer\n"),),
    ),
    Example(
        "max-too-deep", (("loops", "bgd"),),
        "not gradable: the packages sit two folders down (code/hw2/bgd/), status refused",
        inside="code/hw2",
    ),
)

# How batch grades each with default limits: (status, scored everything?)
EXPECTED = {
    "ada-einsum": ("graded", True), "ben-loops": ("graded", True), "dev-beras-only": ("graded", True),
    "eli-bgd-only": ("graded", True), "lea-zipped": ("graded", True),
    "fay-dense-batch-mean": ("graded", False), "gus-relu-times-output": ("graded", False),
    "hana-bias-grad-mean": ("graded", False), "ivan-adam-no-correction": ("graded", False),
    "jun-hangs": ("graded", False), "kim-import-crash": ("graded", False), "max-too-deep": ("refused", False),
}


def build(example, destination):
    """Write one example submission into `destination` (a new folder)."""
    packages_dir = pathlib.Path(destination) / example.inside
    for variant, package in example.variants:
        with_all = pathlib.Path(destination).parent / f".{example.id}-{variant}"
        variant_corpus.materialise(variant, with_all)
        for found in sorted(with_all.iterdir()):
            if package is None or found.name == package:
                shutil.copytree(found, packages_dir / found.name)
        shutil.rmtree(with_all)
    for path, find, replace in example.patches:
        file = packages_dir / path
        source = file.read_text(encoding="utf-8")
        if source.count(find) != 1:
            raise ValueError(f"{example.id}: the text to replace occurs {source.count(find)} times in {path}")
        file.write_text(source.replace(find, replace), encoding="utf-8")
    return destination


README = """\
# A small class, to try `batch` on

    python -m harness batch examples/class --out class-report

Each folder is one student's submission (its name is the id). They are
written by `python examples/make_class.py` from the correct submissions of
`tests/variants/`, some with one typical mistake; do not edit them by hand.

| id | what it is |
|---|---|
{rows}
"""


def main(target=CLASS_DIR):
    target = pathlib.Path(target)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for example in EXAMPLES:
        build(example, target / example.id)
    rows = "\n".join(f"| `{example.id}` | {example.what} |" for example in EXAMPLES)
    (target / "README.md").write_text(README.format(rows=rows), encoding="utf-8")
    return target


if __name__ == "__main__":
    print(f"wrote {main(*sys.argv[1:])}")
