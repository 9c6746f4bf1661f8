"""The mutant catalog (`tests/mutants.py`) is well formed and every mutant is observable.

Observable means: the reference's own tests (`test_reference_beras.py` /
`test_reference_bgd.py`, copied into a scratch folder with a conftest that puts
the mutant copy first on `sys.path`) fail on the mutant, or, for the mutants
those tests do not catch (listed in `PROBES`, each a hole in our reference
tests), a small probe prints something else on the mutant than on the
reference. Everything runs in subprocesses, a few at a time.
"""

import json
import os
import pathlib
import queue
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import mutants
import numpy as np
import pytest

TESTS_DIR = pathlib.Path(__file__).resolve().parent
WORKERS = min(8, (os.cpu_count() or 2) + 1)  # the subprocesses are short: keep the cores busy
TIMEOUT = 120  # seconds, for any one subprocess

# The classes of both assignments (SPEC sections 2 and 3) that must each be
# the target of at least one mutant.
REQUIRED_CLASSES = {
    "beras.core.Tensor",
    "beras.core.Callable",
    "beras.core.Diffable",
    "beras.layers.Dense",
    "beras.activations.LeakyReLU",
    "beras.activations.ReLU",
    "beras.activations.Sigmoid",
    "beras.activations.Tanh",
    "beras.activations.Softmax",
    "beras.losses.MeanSquaredError",
    "beras.losses.CategoricalCrossentropy",
    "beras.metrics.CategoricalAccuracy",
    "beras.onehot.OneHotEncoder",
    "beras.optimizers.BasicOptimizer",
    "beras.optimizers.RMSProp",
    "beras.optimizers.Adam",
    "beras.gradient_tape.GradientTape",
    "beras.model.SequentialModel",
    "bgd.layers.layer.Layer",
    "bgd.layers.fc.FullyConnected",
    "bgd.layers.activation.Activation",
    "bgd.layers.conv2d.Convolutional2D",
    "bgd.layers.max_pooling2d.MaxPooling2D",
    "bgd.layers.dropout.Dropout",
    "bgd.layers.flatten.Flatten",
    "bgd.cost.MSE",
    "bgd.cost.CrossEntropy",
    "bgd.optimizers.MomentumOptimizer",
    "bgd.optimizers.AdamOptimizer",
    "bgd.nn.NeuralStack",
}

# Mutants that the reference's own tests do not catch, each with a probe whose
# output differs between the reference and the mutant. Every entry is a hole
# in tests/test_reference_*.py.
PROBES = {
    # No beras test compares an activation's forward with its closed form, only
    # with finite differences of itself: a leaky ReLU passes for a ReLU.
    "relu_forgets_alpha_zero": """
import numpy as np, beras
print(np.asarray(beras.ReLU()(np.array([[-2.0, -0.5, 0.0, 1.5]]))).tolist())
""",
    # The beras optimizer trajectories use one parameter: a step counter
    # incremented per parameter is only wrong with two or more.
    "adam_counts_steps_per_parameter": """
import numpy as np, beras
opt = beras.Adam(0.1)
a, b = beras.Variable(np.array([[1.0, -2.0]])), beras.Variable(np.array([[0.5]]))
for ga, gb in (([[0.3, -0.1]], [[1.0]]), ([[-0.2, 0.4]], [[-0.5]]), ([[0.1, 0.1]], [[0.2]])):
    opt.apply_gradients([a, b], [np.array(ga), np.array(gb)])
print(a.tolist(), b.tolist())
""",
    # The trajectory tests' two parameters have different shapes: state keyed
    # by shape is only wrong for two parameters of the same shape.
    "adam_state_shared_by_shape": """
import numpy as np, beras
opt = beras.Adam(0.1)
a, b = beras.Variable(np.array([[1.0, -2.0]])), beras.Variable(np.array([[0.5, 0.5]]))
for ga, gb in (([[0.3, -0.1]], [[1.0, 2.0]]), ([[-0.2, 0.4]], [[-0.5, 0.1]]), ([[0.1, 0.1]], [[0.2, -3.0]])):
    opt.apply_gradients([a, b], [np.array(ga), np.array(gb)])
print(a.tolist(), b.tolist())
""",
    # Only the results of the layers are compared, never their inputs afterwards
    # (and the beras finite-difference test gives ReLU a Tensor view of x only
    # after it has checked x).
    "relu_backward_overwrites_input": """
import numpy as np, beras
x = np.array([[-2.0, 0.5, 3.0]])
relu = beras.ReLU()
relu(x)
relu.get_input_gradients()
print(x.tolist())
""",
    "cce_clips_input_in_place": """
import numpy as np, beras
p = np.array([[0.0, 1.0], [0.3, 0.7]])
beras.CategoricalCrossentropy()(p, np.array([[0.0, 1.0], [1.0, 0.0]]))
print(p.tolist())
""",
    "accuracy_one_hots_probs_in_place": """
import numpy as np, beras
p = np.array([[0.1, 0.9], [0.8, 0.2]])
beras.CategoricalAccuracy()(p, np.array([[0, 1], [0, 1]]))
print(p.tolist())
""",
    "onehot_fit_sorts_labels_in_place": """
import numpy as np, beras
labels = np.array([3, 1, 2, 1])
beras.OneHotEncoder().fit(labels)
print(labels.tolist())
""",
    "callable_returns_raw_result": """
import numpy as np, beras
print(type(beras.CategoricalAccuracy()(np.eye(2), np.eye(2))).__name__)
print(type(beras.OneHotEncoder()(np.array([1, 2]))).__name__)
""",
    # The model tests never freeze a weight, nor look at x after fit.
    "model_step_toggles_layers_trainable": """
import numpy as np, beras
np.random.seed(0)
model = beras.SequentialModel([beras.Dense(2, 3), beras.Softmax()])
model.compile(beras.BasicOptimizer(0.5), beras.CategoricalCrossentropy(), beras.CategoricalAccuracy())
model.layers[0].b.trainable = False
x, y = np.random.normal(size=(6, 2)), np.eye(3)[[0, 1, 2, 0, 1, 2]]
model.batch_step(x, y, training=True)
print([w.trainable for w in model.weights], model.layers[0].b.tolist())
""",
    "model_fit_shuffles_data_in_place": """
import numpy as np, beras
np.random.seed(0)
model = beras.SequentialModel([beras.Dense(2, 3), beras.Softmax()])
model.compile(beras.BasicOptimizer(0.5), beras.CategoricalCrossentropy(), beras.CategoricalAccuracy())
x, y = np.arange(12.0).reshape(6, 2), np.eye(3)[[0, 1, 2, 0, 1, 2]]
model.fit(x, y, epochs=2, batch_size=3)
print(x.tolist(), y.tolist())
""",
    # bgd: the Layer tests update a FullyConnected only; no test forwards two
    # inputs through one MaxPooling2D or two batches through one Dropout; the
    # cross-entropy tests never look at y_hat after eval.
    "conv_update_rebinds_filters": """
import numpy as np
from bgd.layers import Convolutional2D
np.random.seed(0)
layer = Convolutional2D((2, 2, 1), 2)
filters, biases = layer.get_parameters()
layer.update_parameters((np.ones_like(filters), np.ones_like(biases)))
print(np.round(filters, 6).tolist(), biases.tolist())
""",
    "pool_keeps_first_argmax": """
import numpy as np
from bgd.layers import MaxPooling2D
layer = MaxPooling2D((2, 2))
layer.forward(np.arange(16.0).reshape(1, 4, 4, 1))
print(layer.forward(-np.arange(16.0).reshape(1, 4, 4, 1)).ravel().tolist())
""",
    "dropout_reuses_first_mask": """
import numpy as np
from bgd.layers import Dropout
np.random.seed(0)
layer = Dropout(0.5)
print(layer.forward(np.ones((3, 4))).tolist(), layer.forward(np.ones((3, 4))).tolist())
""",
    "crossentropy_clamps_predictions_in_place": """
import numpy as np
from bgd.cost import CrossEntropy
y_hat = np.array([[0.0, 1.0], [0.4, 0.6]])
CrossEntropy().eval(np.array([[0.0, 1.0], [1.0, 0.0]]), y_hat)
print(y_hat.tolist())
""",
    "adam_amsgrad_max_of_bias_corrected": """
import numpy as np, beras
opt = beras.Adam(0.1, beta_1=0.5, beta_2=0.6, amsgrad=True)
p = beras.Variable(np.array([[1.0, -2.0]]))
for g in ([[3.0, -1.0]], [[0.1, 0.2]], [[0.1, 0.2]], [[2.0, 0.01]], [[0.3, 0.3]]):
    opt.apply_gradients([p], [np.array(g)])
print(p.tolist())
""",
}

SUITE_CONFTEST = '''"""Put the copy under test (MUTANT_ROOT) first on sys.path, and check that it is what is imported."""
import os
import pathlib
import sys

ROOT = pathlib.Path(os.environ["MUTANT_ROOT"]).resolve()
sys.path.insert(0, str(ROOT))

import beras  # noqa: E402
import bgd  # noqa: E402
import nnmath  # noqa: E402

for module in (beras, bgd, nnmath):
    assert pathlib.Path(module.__file__).resolve().is_relative_to(ROOT), (module.__file__, ROOT)
'''


# ---------------------------------------------------------------- helpers


def clean_env(**extra):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    # Plugins (benchmark, xdist, ...) are not needed and cost a second a run;
    # BLAS threads would only compete with the other subprocesses.
    env.update(
        PYTHONDONTWRITEBYTECODE="1",
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        **extra,
    )
    return env


def run_python(code, cwd):
    """`python -c code` with `cwd` (a reference or mutant copy) first on sys.path."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def pytest_args(test_files, stop_at_first_failure=True):
    # Only pass/fail matters: no tracebacks, no assertion rewriting (both cost time).
    args = ["-q", "--tb=no", "-rfE", "--assert=plain", "-p", "no:cacheprovider"]
    return args + (["-x"] if stop_at_first_failure else []) + list(test_files)


def run_reference_tests(suite, root, test_files, stop_at_first_failure=True):
    """The copied reference tests against the copy `root`, in a new interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args(test_files, stop_at_first_failure)],
        cwd=suite,
        env=clean_env(MUTANT_ROOT=str(root)),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


# Starting an interpreter and importing NumPy and pytest costs more than the
# reference tests themselves, and there is one run per mutant. A fork server
# pays it once: it reads one request a line (the copy under test, a log file,
# pytest's arguments), runs pytest in a forked child, so that each mutant
# still gets a process of its own, and answers with the child's exit status.
FORK_SERVER = r"""
import json, os, signal, sys
import numpy
import pytest

for line in sys.stdin:
    root, log, args = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 98
        try:
            signal.alarm(%(timeout)d)
            out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.environ["MUTANT_ROOT"] = root
            code = int(pytest.main(args))
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 99
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
""" % {"timeout": TIMEOUT}


class ForkServer:
    def __init__(self, suite):
        self.process = subprocess.Popen(
            [sys.executable, "-c", FORK_SERVER],
            cwd=suite,
            env=clean_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, root, log, args):
        self.process.stdin.write(json.dumps([str(root), str(log), args]) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"the fork server died (exit {self.process.poll()})")
        return int(answer)

    def close(self):
        try:
            self.process.stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


@pytest.fixture
def reference_tests_runner(suite, tmp_path):
    """`run(mutant_id, root, test_files) -> (exit status, output)`, safe to call from threads."""
    if not (sys.platform.startswith("linux") and hasattr(os, "fork")):

        def run(name, root, test_files):
            result = run_reference_tests(suite, root, test_files)
            return result.returncode, result.stdout + result.stderr

        yield run
        return

    servers = queue.Queue()
    started = []
    for _ in range(WORKERS):
        started.append(ForkServer(suite))
        servers.put(started[-1])

    def run(name, root, test_files):
        server = servers.get()
        try:
            log = tmp_path / f"{name}.log"
            status = server.run(root, log, pytest_args(test_files))
            return status, log.read_text(errors="replace") if log.exists() else ""
        finally:
            servers.put(server)

    try:
        yield run
    finally:
        for server in started:
            server.close()


def suite_file_for(mutant):
    return "test_reference_beras.py" if mutant.path.startswith("beras/") else "test_reference_bgd.py"


def tail(text, lines=15):
    return "\n".join(text.strip().splitlines()[-lines:])


def in_parallel(function, items):
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(function, items))


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """Every mutant materialised, plus an unmodified copy of the reference."""
    base = tmp_path_factory.mktemp("mutants")
    roots = {m.id: mutants.materialise(m, base / m.id) for m in mutants.MUTANTS}
    roots["<reference>"] = mutants.copy_reference(base / "_reference")
    return roots


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """The reference tests, runnable against any copy named by MUTANT_ROOT."""
    folder = tmp_path_factory.mktemp("suite")
    for name in ("test_reference_beras.py", "test_reference_bgd.py", "fd.py"):
        shutil.copy(TESTS_DIR / name, folder / name)
    (folder / "conftest.py").write_text(SUITE_CONFTEST)
    (folder / "pytest.ini").write_text("[pytest]\n")  # rootdir here; no project ini, no addopts
    return folder


# ---------------------------------------------------------------- the catalog itself


def test_ids_are_unique_slugs():
    ids = [m.id for m in mutants.MUTANTS]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate mutant ids: {duplicates}"
    bad = [i for i in ids if not re.fullmatch(r"[a-z][a-z0-9_]{2,60}", i)]
    assert not bad, f"ids must be short lowercase slugs: {bad}"
    assert len(mutants.MUTANTS) >= 36


def test_every_find_occurs_exactly_once_and_each_mutant_is_well_formed():
    problems = []
    for m in mutants.MUTANTS:
        file = mutants.REFERENCE_DIR / m.path
        if not file.is_file():
            problems.append(f"{m.id}: no file {m.path}")
            continue
        count = file.read_text(encoding="utf-8").count(m.find)
        if count != 1:
            problems.append(f"{m.id}: find occurs {count} times in {m.path}")
        if not m.find or m.find == m.replace:
            problems.append(f"{m.id}: empty find, or replace equal to find")
        if not m.description.strip() or "\n" in m.description:
            problems.append(f"{m.id}: the description must be one non-empty line")
        module, _, name = m.target.rpartition(".")
        # The mutation is in the file that defines the target class.
        if module != mutants.module_of(m.path):
            problems.append(f"{m.id}: target {m.target} is not defined in {m.path}")
        if not re.search(rf"^class {re.escape(name)}\b", file.read_text(encoding="utf-8"), re.MULTILINE):
            problems.append(f"{m.id}: {m.path} defines no class {name}")
    assert not problems, "\n".join(problems)


def test_every_class_of_both_assignments_is_targeted():
    targeted = {m.target for m in mutants.MUTANTS}
    missing = sorted(REQUIRED_CLASSES - targeted)
    assert not missing, f"classes without a mutant: {missing}"
    unknown = sorted(targeted - REQUIRED_CLASSES)
    assert not unknown, f"targets that are no class of SPEC sections 2 and 3: {unknown}"


def test_reference_dir_is_the_project_reference():
    assert mutants.REFERENCE_DIR == TESTS_DIR.parent / "reference"
    assert (mutants.REFERENCE_DIR / "nnmath.py").is_file()
    assert (mutants.REFERENCE_DIR / "beras" / "__init__.py").is_file()
    assert (mutants.REFERENCE_DIR / "bgd" / "__init__.py").is_file()


def tree(root):
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(pathlib.Path(root).rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def test_materialise_copies_the_whole_tree_and_patches_one_file(tmp_path):
    mutant = mutants.MUTANTS_BY_ID["conv_backward_ignores_strides"]
    root = mutants.materialise(mutant, tmp_path / "copy")
    original, copied = tree(mutants.REFERENCE_DIR), tree(root)
    assert set(copied) == set(original)
    assert "nnmath.py" in copied and "bgd/layers/conv2d.py" in copied
    assert not any("__pycache__" in p for p in copied)
    changed = [path for path in original if original[path] != copied[path]]
    assert changed == [mutant.path]
    text = copied[mutant.path].decode()
    assert mutant.replace in text and mutant.find not in text


def test_materialise_refuses_a_find_that_is_missing_or_repeated(tmp_path):
    absent = mutants.Mutant("absent", "beras.layers.Dense", "beras/layers.py", "no such text", "x", "d")
    with pytest.raises(mutants.PatchError, match="0 times"):
        mutants.materialise(absent, tmp_path / "a")
    repeated = mutants.Mutant("repeated", "beras.layers.Dense", "beras/layers.py", "self", "this", "d")
    with pytest.raises(mutants.PatchError, match="times in beras/layers.py"):
        mutants.materialise(repeated, tmp_path / "b")


# ---------------------------------------------------------------- the mutants run


def test_each_mutant_still_imports_in_a_fresh_subprocess(copies):
    def check(mutant):
        module = mutants.module_of(mutant.path)
        module_name, _, class_name = mutant.target.rpartition(".")
        code = (
            "import importlib, os, pathlib\n"
            f"m = importlib.import_module({module!r})\n"
            "assert pathlib.Path(m.__file__).resolve().is_relative_to(pathlib.Path(os.getcwd()).resolve()), m.__file__\n"
            f"cls = getattr(importlib.import_module({module_name!r}), {class_name!r})\n"
            f"assert f'{{cls.__module__}}.{{cls.__qualname__}}' == {mutant.target!r}, cls\n"
            "import beras, bgd\n"
        )
        result = run_python(code, copies[mutant.id])
        return None if result.returncode == 0 else f"{mutant.id}: {tail(result.stderr, 5)}"

    failures = [f for f in in_parallel(check, mutants.MUTANTS) if f]
    assert not failures, "mutants that do not import:\n" + "\n".join(failures)


def test_reference_tests_pass_on_an_unmodified_copy(suite, copies):
    """The control: the scratch suite itself works, so a failure below is the mutant's."""
    result = run_reference_tests(
        suite,
        copies["<reference>"],
        ["test_reference_beras.py", "test_reference_bgd.py"],
        stop_at_first_failure=False,
    )
    assert result.returncode == 0, tail(result.stdout + result.stderr, 30)


def test_probes_are_deterministic_on_the_reference(copies):
    for mutant_id, probe in PROBES.items():
        assert mutant_id in mutants.MUTANTS_BY_ID, f"probe for an unknown mutant {mutant_id}"
        first, second = (run_python(probe, copies["<reference>"]) for _ in range(2))
        assert first.returncode == 0 and first.stdout.strip(), first.stderr
        assert first.stdout == second.stdout


def test_each_mutant_changes_observable_behaviour(copies, reference_tests_runner):
    reference_probe_output = {i: run_python(p, copies["<reference>"]).stdout for i, p in PROBES.items()}

    def check(mutant):
        root = copies[mutant.id]
        if mutant.id in PROBES:
            result = run_python(PROBES[mutant.id], root)
            if result.returncode == 0 and result.stdout == reference_probe_output[mutant.id]:
                return f"{mutant.id}: its probe prints the same on the mutant as on the reference"
            return None
        status, output = reference_tests_runner(mutant.id, root, [suite_file_for(mutant)])
        if status == 1:  # some test failed (not a usage or collection error)
            return None
        if status == 0:
            return f"{mutant.id}: {suite_file_for(mutant)} passes on the mutant (add a probe or a test)"
        return f"{mutant.id}: pytest exit {status}:\n{tail(output)}"

    failures = [f for f in in_parallel(check, mutants.MUTANTS) if f]
    assert not failures, "mutants without an observable effect:\n" + "\n".join(failures)


# ---------------------------------------------------------------- the float32 variant

FLOAT32_PROBE = r"""
import json
import numpy as np
import beras
from bgd.cost import MSE, CrossEntropy
from bgd.layers import Activation, Convolutional2D, Dropout, Flatten, FullyConnected, MaxPooling2D
from bgd.nn import NeuralStack
from bgd.optimizers import AdamOptimizer, MomentumOptimizer

rng = np.random.default_rng(0)
out = {}


def put(name, value, f32=True):
    a = np.asarray(value)
    out[name] = {"dtype": str(a.dtype), "shape": list(a.shape), "values": a.astype(np.float64).ravel().tolist(), "f32": f32}


# beras: forward and tape gradients of MSE(layer(x), target)
dense = beras.Dense(3, 5)
for w in dense.weights:
    w[...] = rng.normal(size=w.shape)
layers = {
    "Dense": (dense, rng.normal(size=(4, 3))),
    "LeakyReLU": (beras.LeakyReLU(0.2), rng.normal(size=(4, 5))),
    "ReLU": (beras.ReLU(), rng.normal(size=(3, 4))),
    "Sigmoid": (beras.Sigmoid(), rng.normal(size=(4, 5))),
    "Tanh": (beras.Tanh(), rng.normal(size=(2, 6))),
    "Softmax": (beras.Softmax(), 3 * rng.normal(size=(4, 6))),
}
for name, (layer, x) in layers.items():
    target = rng.normal(size=np.shape(layer.call(x)))
    x = beras.Tensor(x)
    with beras.GradientTape() as tape:
        y = layer(x)
        loss = beras.MeanSquaredError()(y, target)
    grads = tape.gradient(loss, [x] + layer.weights)
    put(f"beras {name} output", y)
    put(f"beras {name} loss", loss)
    for k, g in enumerate(grads):
        put(f"beras {name} grad {k}", g)

logits = beras.Tensor(rng.normal(size=(5, 4)))
labels = np.eye(4)[rng.integers(0, 4, size=5)]
with beras.GradientTape() as tape:
    probs = beras.Softmax()(logits)
    loss = beras.CategoricalCrossentropy()(probs, labels)
put("beras cce loss", loss)
put("beras cce grad", tape.gradient(loss, [logits])[0])

for name, optimizer in (("sgd", beras.BasicOptimizer(0.1)), ("rmsprop", beras.RMSProp(0.01)), ("adam", beras.Adam(0.05))):
    layer = beras.Dense(2, 3, initializer="zero")
    layer.w[...] = rng.normal(size=(2, 3))
    for _ in range(3):
        optimizer.apply_gradients(layer.weights, [rng.normal(size=(2, 3)), rng.normal(size=(1, 3))])
    put(f"beras {name} w", layer.w)
    put(f"beras {name} b", layer.b)

np.random.seed(0)
centers = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
classes = rng.integers(0, 3, size=90)
x, y = centers[classes] + rng.normal(scale=0.7, size=(90, 2)), np.eye(3)[classes]
model = beras.SequentialModel(
    [beras.Dense(2, 8, initializer="kaiming"), beras.LeakyReLU(), beras.Dense(8, 3, initializer="xavier"), beras.Softmax()]
)
model.compile(beras.Adam(0.02), beras.CategoricalCrossentropy(), beras.CategoricalAccuracy())
history = model.fit(x, y, epochs=6, batch_size=30)
put("train beras losses", history["loss"], f32=False)

# bgd: forward, then backward of a random error
def layer_case(name, layer, X):
    if layer.learnable():
        for p in layer.get_parameters():
            p[...] = rng.standard_normal(p.shape)
    output = layer.forward(X)
    signal, grads = layer.backward(rng.standard_normal(output.shape))
    put(f"bgd {name} output", output)
    put(f"bgd {name} signal", signal)
    for k, g in enumerate(grads or ()):
        put(f"bgd {name} grad {k}", g)


layer_case("fc", FullyConnected(4, 3), rng.standard_normal((5, 4)))
for function in ("sigmoid", "tanh", "relu", "softmax"):
    layer_case(function, Activation(function), rng.standard_normal((4, 5)))
layer_case("conv", Convolutional2D((3, 2, 2), 3, strides=(2, 1)), rng.standard_normal((2, 7, 6, 2)))
layer_case("pool", MaxPooling2D((3, 3), (2, 2)), rng.permutation(98).reshape(1, 7, 7, 2) * 0.125 - 6.0)
np.random.seed(3)
layer_case("dropout", Dropout(0.6), rng.standard_normal((4, 6)))
flatten = Flatten()
put("bgd flatten output", flatten.forward(rng.standard_normal((2, 3, 2))), f32=False)
put("bgd flatten signal", flatten.backward(rng.standard_normal((2, 6)))[0], f32=False)

y_true, y_hat = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
put("bgd mse eval", MSE().eval(y_true, y_hat), f32=False)
put("bgd mse grad", MSE().grad(y_true, y_hat))
y_true, y_hat = np.eye(3)[[0, 2, 1, 1]], rng.uniform(0.05, 1.0, size=(4, 3))
put("bgd ce eval", CrossEntropy().eval(y_true, y_hat), f32=False)
put("bgd ce grad", CrossEntropy().grad(y_true, y_hat))

for name, optimizer in (("momentum", MomentumOptimizer(0.1, 0.9)), ("adam", AdamOptimizer(0.05))):
    layer = FullyConnected(3, 2)
    for p in layer.get_parameters():
        p[...] = rng.standard_normal(p.shape)
    for _ in range(3):
        optimizer.add_gradient_fragments(layer, (rng.standard_normal((3, 2)), rng.standard_normal((1, 2))))
        optimizer.update()
    put(f"bgd {name} weights", layer.weights)
    put(f"bgd {name} biases", layer.biases)

np.random.seed(0)
classes = rng.integers(0, 2, size=60)
X = np.array([[-1.5, 1.0], [1.5, -1.0]])[classes] + 0.6 * rng.standard_normal((60, 2))
stack = NeuralStack()
for component in (FullyConnected(2, 2), Activation("softmax"), CrossEntropy(), MomentumOptimizer(0.05, 0.9)):
    stack.add(component)
put("train bgd losses", stack.train(X, np.eye(2)[classes], epochs=5, batch_size=16), f32=False)

print(json.dumps(out))
"""


def test_float32_variant_computes_in_float32_and_agrees_with_the_reference(tmp_path, copies):
    variant = mutants.materialise_float32(tmp_path / "float32")
    changed = [p for p, data in tree(variant).items() if tree(mutants.REFERENCE_DIR)[p] != data]
    assert set(changed) == {p.path for p in mutants.FLOAT32_PATCHES}

    results = {}
    for name, root in (("reference", copies["<reference>"]), ("float32", variant)):
        run = run_python(FLOAT32_PROBE, root)
        assert run.returncode == 0, f"{name}: {tail(run.stderr)}"
        results[name] = json.loads(run.stdout)
    reference, float32 = results["reference"], results["float32"]
    assert set(reference) == set(float32)

    problems = []
    for key, want in reference.items():
        got = float32[key]
        if got["shape"] != want["shape"]:
            problems.append(f"{key}: shape {got['shape']} != {want['shape']}")
            continue
        if want["f32"] and (got["dtype"] != "float32" or want["dtype"] != "float64"):
            problems.append(
                f"{key}: dtype {got['dtype']} (reference {want['dtype']}), expected float32 (float64)"
            )
        rtol, atol = (1e-2, 1e-3) if key.startswith("train") else (1e-4, 1e-5)
        a, b = np.array(got["values"]), np.array(want["values"])
        if not np.allclose(a, b, rtol=rtol, atol=atol * max(1.0, float(np.max(np.abs(b), initial=0.0)))):
            problems.append(f"{key}: max difference {np.max(np.abs(a - b))}")
    assert not problems, "\n".join(problems)
    # Both trainings work in float32 too.
    for key in ("train beras losses", "train bgd losses"):
        losses = float32[key]["values"]
        assert np.mean(losses[-2:]) < 0.8 * np.mean(losses[:2]), (key, losses)
