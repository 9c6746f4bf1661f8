"""Forwards that try to fool the finite-difference witness (harness/own_forward.py).

Each attack is a copy of the reference whose Dense and FullyConnected
backward return gradients `GARBAGE` times too large, and whose forward tries
to recognise the judge's finite differences in a way that fooled the judge
before its witness replayed the graded request in a fresh worker: the
worker's `map` op on the stack, an input a small step from the last graded
one, repeated forward calls on one object without a backward in between.
When it thinks it is watched, it answers `GARBAGE * y - (GARBAGE - 1) * y0`:
a function that agrees with its wrong gradients and takes the graded output
y0 at the graded point. Its control is the same copy without the attack
(the same wrong backward, a plain forward). The finite-difference checks of
both classes must fail for the attack as they do for the control, and no
check of another class may pay for it. A forward with a hidden counter
(another result for an input seen before) fails them saying that it does
not reproduce its output. Correct submissions keep every point.

(The `near_graded` attack, in the fresh worker, takes the first point of
each request for the graded one: it would pass a case whenever the judge put
the unperturbed point first, 1 chance in 21; every case of both checks of
both classes would have to: about 1e-4 over the whole test.)
"""

import pytest
from generic_variants import VARIANTS_BY_ID
from generic_variants import materialise as materialise_variant
from mutants import apply_patch, copy_reference
from test_generic_checks import failures, generic_checks

GARBAGE = 1.5

FD_CHECKS = (
    "beras.layers.Dense: input gradient matches finite differences of its own forward",
    "beras.layers.Dense: weight gradients match finite differences",
    "bgd.layers.fc.FullyConnected: input gradient matches finite differences of its own forward",
    "bgd.layers.fc.FullyConnected: parameter gradients match finite differences",
)
TARGETS = ("beras.layers.Dense: ", "bgd.layers.fc.FullyConnected: ")

# What every attack (and its control) adds at the top of both files: the
# wrong gradients' factor, and `_forged`, the answer of a watched forward.
COMMON = f'''
import sys as _sys

GARBAGE = {GARBAGE!r}
_GRADED = {{}}  # class name -> (input and parameters, output) of the last call not thought watched
_FIRST = {{}}  # id(layer) -> (layer, the output of its first forward since its last backward)
_TIMES = {{}}  # the bytes of an input and parameters -> how often the forward saw them


def _point(x, params):
    return [np.array(x, dtype=float)] + [np.array(p, dtype=float) for p in params]


def _forged(y, y0):
    """GARBAGE times the forward, through the graded output: the slope the wrong backward claims."""
    return GARBAGE * y - (GARBAGE - 1) * y0


def _backward_ran(layer):
    _FIRST.pop(id(layer), None)
'''

# How each attack's forward answers: `_attack(layer, x, params, y)`, y the true output.
ATTACKS = {
    # The control: the same wrong backward, an honest forward.
    "control": '''
def _attack(layer, x, params, y):
    return y
''',
    # The worker's map op (or the replay of the new witness) on the stack: forged
    # around the last call that was not watched, the graded one.
    "map_frame": '''
def _attack(layer, x, params, y):
    frame, watched = _sys._getframe(1), False
    while frame is not None:
        if frame.f_code.co_name in ("map", "replay") and frame.f_code.co_filename.endswith("worker.py"):
            watched = True
            break
        frame = frame.f_back
    graded = _GRADED.get(type(layer).__name__)
    if not watched:
        _GRADED[type(layer).__name__] = (_point(x, params), np.array(y))
        return y
    if graded is None or np.shape(graded[1]) != np.shape(y):
        return y
    return _forged(y, graded[1])
''',
    # The points of finite differences are a small step from the graded point, never on it.
    "near_graded": '''
def _attack(layer, x, params, y):
    point = _point(x, params)
    graded = _GRADED.get(type(layer).__name__)
    if graded is not None and [p.shape for p in point] == [p.shape for p in graded[0]]:
        distance = max(float(np.max(np.abs(a - b), initial=0.0)) for a, b in zip(point, graded[0]))
        if 0 < distance < 0.2:
            return _forged(y, graded[1])
    _GRADED[type(layer).__name__] = (point, np.array(y))
    return y
''',
    # A graded call is one forward, then the backward: an object whose forward runs
    # again before any backward is being differentiated (forged around its first call).
    "repeat_calls": '''
def _attack(layer, x, params, y):
    first = _FIRST.get(id(layer))
    if first is None or first[0] is not layer:
        _FIRST[id(layer)] = (layer, np.array(y))
        return y
    return _forged(y, first[1])
''',
}

# A right backward, and a forward that adds 1e-3 for every earlier time it saw the same input.
HIDDEN_COUNTER = '''
def _attack(layer, x, params, y):
    key = b"".join(np.ascontiguousarray(a).tobytes() for a in _point(x, params))
    seen = _TIMES.get(key, 0)
    _TIMES[key] = seen + 1
    return y + 1e-3 * seen
'''


def _patches(attack_source, garbage):
    """(path, find, replace) of the attack: the helpers after numpy's import, the forward
    through `_attack`, the backward times `garbage` and telling `_backward_ran`."""
    head = COMMON.replace(f"GARBAGE = {GARBAGE!r}", f"GARBAGE = {garbage!r}") + attack_source
    return [
        ("beras/layers.py", "import numpy as np\n", "import numpy as np\n" + head),
        ("beras/layers.py", "        return nnmath.affine(x, self.w, self.b)\n",
         "        return _attack(self, x, (self.w, self.b), nnmath.affine(x, self.w, self.b))\n"),
        ("beras/layers.py", "        return [self.w]\n", "        _backward_ran(self)\n        return [GARBAGE * self.w]\n"),
        ("beras/layers.py", "        return [x[:, :, np.newaxis], np.ones((1, self.b.shape[-1]), dtype=x.dtype)]\n",
         "        _backward_ran(self)\n"
         "        return [GARBAGE * x[:, :, np.newaxis], GARBAGE * np.ones((1, self.b.shape[-1]), dtype=x.dtype)]\n"),
        ("bgd/layers/fc.py", "import numpy as np\n", "import numpy as np\n" + head),
        ("bgd/layers/fc.py", "            return nnmath.affine(X, self.weights, self.biases)\n        return X @ self.weights\n",
         "            return _attack(self, X, (self.weights, self.biases), nnmath.affine(X, self.weights, self.biases))\n"
         "        return _attack(self, X, (self.weights,), X @ self.weights)\n"),
        ("bgd/layers/fc.py", "        gradients = (grad_weights, grad_biases) if self.with_bias else (grad_weights,)\n",
         "        _backward_ran(self)\n"
         "        signal, grad_weights, grad_biases = GARBAGE * signal, GARBAGE * grad_weights, GARBAGE * grad_biases\n"
         "        gradients = (grad_weights, grad_biases) if self.with_bias else (grad_weights,)\n"),
    ]


def materialise(name, destination):
    """The reference with attack `name` ("hidden_counter": a right backward) in `destination`."""
    folder = copy_reference(destination)
    source, garbage = (HIDDEN_COUNTER, 1.0) if name == "hidden_counter" else (ATTACKS[name], GARBAGE)
    for number, (path, find, replace) in enumerate(_patches(source, garbage)):
        apply_patch(folder, path, find, replace, label=f"attack {name} patch {number}")
    return folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """name -> {check: (passed, points, output)} of the generic checks, each submission graded once."""
    cache = {}

    def grade(name):
        if name not in cache:
            folder = materialise(name, tmp_path_factory.mktemp(name) / "submission")
            cache[name] = generic_checks(folder, 1)
        return cache[name]

    return grade


def _strays(failed):
    return [name for name in failed if not name.startswith(TARGETS)]


def test_the_control_loses_the_finite_difference_checks(graded):
    failed = failures(graded("control"))
    assert set(FD_CHECKS) <= set(failed), sorted(failed)
    assert not _strays(failed), _strays(failed)


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a != "control"])
def test_a_forward_that_recognises_the_witness_gains_nothing(attack, graded):
    """Every check the control fails, the attack fails: above all the finite-difference checks."""
    results = graded(attack)
    failed = failures(results)
    for name in FD_CHECKS:
        assert name in results, f"no check named {name}"
        assert name in failed, f"{attack}: {name} passed with gradients {GARBAGE} times too large"
    assert set(failures(graded("control"))) <= set(failed), sorted(set(failures(graded("control"))) - set(failed))
    assert not _strays(failed), f"{attack} cost points to other classes: {_strays(failed)}"


def test_a_forward_with_a_hidden_counter_does_not_reproduce(graded):
    """Another result for an input it saw before: its finite-difference checks fail, saying so, naming the forward."""
    failed = failures(graded("hidden_counter"))
    for name in FD_CHECKS:
        assert name in failed, f"{name} passed for a forward that gives another result each time"
        first = failed[name].splitlines()[0]
        method = "Dense.call" if name.startswith("beras") else "FullyConnected._forward"
        assert first.startswith(f"{method} does not reproduce its output"), failed[name][:800]
        assert "not deterministic, or it behaves differently when it is watched" in first
    assert not _strays(failed), _strays(failed)


@pytest.mark.parametrize("name", ["reference", "all_float32"])
def test_correct_submissions_keep_every_generic_check(name, tmp_path):
    folder = tmp_path / "submission"
    if name == "reference":
        copy_reference(folder)
    else:
        materialise_variant(VARIANTS_BY_ID[name], folder)
    failed = failures(generic_checks(folder, 2))
    assert not failed, "\n\n".join(f"{check}\n{output[:800]}" for check, output in failed.items())
