"""Checks that every differentiable class of both APIs gets (see specs.py).

Forward against the reference; input and parameter gradients against both
witnesses (finite differences of the student's own forward, evaluated in a
sandbox of their own, `student_fd`: see harness/own_forward.py; the reference),
each part of the backward in its own request (a broken weight gradient costs
nothing to the input gradient, and the reverse); every gradient an API
returns (a beras loss's dL/dy_true too); inputs left untouched by a forward
that works. Cases with extreme values check the forward, and the gradients
against the reference where no clipping happens. Each check runs all its
cases and reports every failing one (`gradcheck.each_case`): one wrong case
must not hide the others; a crash or a timeout ends the check.
"""

import zlib

import numpy as np
import pytest

from harness import gradcheck
from harness.catalog.specs import ALL
from harness.checks import HIDDEN, check
from harness.memo import memoized
from harness.vocabulary import BACKWARD, CONTRACT, FORWARD

WITH_PARAMETERS = [spec for spec in ALL if spec.has_parameters]
SEVERAL_GRADIENTS = [spec for spec in ALL if spec.second_input]
EXTREME = [spec for spec in ALL if any(case.extreme for case in spec.cases)]


def ordinary(spec):
    return [case for case in spec.cases if not case.extreme]


@pytest.fixture
def student(student):
    """The checks below send many identical requests: each runs once."""
    return memoized(student)


@pytest.fixture
def reference(reference):
    return memoized(reference)


def case_rng(seed, spec, case):
    """The generator for one case of one class, the same in every check here.

    Every check of a class then draws the same parameters and inputs, so the
    student's and the reference's forward and backward on them run once
    (`memoized`). Public checks: fixed; hidden: the run's seed mixed in.
    """
    run_part = seed[:-1]  # the check's own name seed is left out on purpose
    return np.random.default_rng([*run_part, zlib.crc32(f"{spec}/{case.label}".encode())])


@pytest.mark.parametrize("spec", ALL, ids=str)
@check("{spec.target}", "forward matches the reference{spec.variant}", points=1, clause="2, 3: each class's forward; 4 forward: equals the reference on random inputs, batch size 1", blame=FORWARD)
def test_forward(spec, student, reference, seed):
    gradcheck.each_case(ordinary(spec), lambda case: gradcheck.check_forward(
        spec, case, student, reference, case_rng(seed, spec, case)))


@pytest.mark.parametrize("spec", EXTREME, ids=str)
@check("{spec.target}", "forward is right and finite for extreme inputs{spec.variant}", points=1, visibility=HIDDEN, clause="4 forward: extreme values (large logits, probabilities near 0); 2 Softmax numerically stable; 2, 3 clipping", blame=FORWARD)
def test_forward_extreme(spec, student, reference, seed):
    gradcheck.each_case([case for case in spec.cases if case.extreme], lambda case: gradcheck.check_forward(
        spec, case, student, reference, case_rng(seed, spec, case)))


@pytest.mark.parametrize("spec", ALL, ids=str)
@check("{spec.target}", "input gradient matches finite differences of its own forward{spec.variant}", points=2, clause="4 backward: (a) finite differences of the student's own forward", blame=BACKWARD)
def test_input_gradient_fd(spec, student, reference, student_fd, seed):
    gradcheck.each_case(ordinary(spec), lambda case: gradcheck.check_input_gradient(
        spec, case, student, reference, case_rng(seed, spec, case), witness="fd", student_fd=student_fd))


@pytest.mark.parametrize("spec", ALL, ids=str)
@check("{spec.target}", "input gradient matches the reference{spec.variant}", points=2, clause="4 backward: (b) the reference's gradients", blame=BACKWARD)
def test_input_gradient_reference(spec, student, reference, student_fd, seed):
    gradcheck.each_case(ordinary(spec), lambda case: gradcheck.check_input_gradient(
        spec, case, student, reference, case_rng(seed, spec, case), witness="reference", student_fd=student_fd))


@pytest.mark.parametrize("spec", SEVERAL_GRADIENTS, ids=str)
@check("{spec.target}", "gradient with respect to {spec.second_input} matches finite differences of its own forward{spec.variant}", points=1, clause="2 losses: get_input_gradients() returns [dL/dy_pred, dL/dy_true]; 4 backward (a)", blame=BACKWARD)
def test_second_input_gradient_fd(spec, student, reference, student_fd, seed):
    gradcheck.each_case(ordinary(spec), lambda case: gradcheck.check_input_gradient(
        spec, case, student, reference, case_rng(seed, spec, case), witness="fd", which=1, student_fd=student_fd))


@pytest.mark.parametrize("spec", SEVERAL_GRADIENTS, ids=str)
@check("{spec.target}", "gradient with respect to {spec.second_input} matches the reference{spec.variant}", points=1, clause="2 losses: get_input_gradients() returns [dL/dy_pred, dL/dy_true]; 4 backward (b)", blame=BACKWARD)
def test_second_input_gradient_reference(spec, student, reference, student_fd, seed):
    gradcheck.each_case(ordinary(spec), lambda case: gradcheck.check_input_gradient(
        spec, case, student, reference, case_rng(seed, spec, case), witness="reference", which=1, student_fd=student_fd))


@pytest.mark.parametrize("spec", EXTREME, ids=str)
@check("{spec.target}", "gradients are right for extreme inputs{spec.variant}", points=1, visibility=HIDDEN, clause="4 backward at extreme values; 4 must not assume: gradients compared only where no clipping happens", blame=BACKWARD)
def test_gradients_extreme(spec, student, reference, seed):
    gradcheck.each_case([case for case in spec.cases if case.extreme], lambda case: gradcheck.check_extreme_gradients(
        spec, case, student, reference, case_rng(seed, spec, case)))


@pytest.mark.parametrize("spec", WITH_PARAMETERS, ids=str)
@check("{spec.target}", "{spec.driver.parameter_word} gradients match finite differences{spec.variant}", points=2, clause="4 backward: parameter gradients against (a) finite differences of the student's own forward", blame=BACKWARD)
def test_parameter_gradients_fd(spec, student, reference, student_fd, seed):
    gradcheck.each_case(ordinary(spec), lambda case: gradcheck.check_parameter_gradients(
        spec, case, student, reference, case_rng(seed, spec, case), witness="fd", student_fd=student_fd))


@pytest.mark.parametrize("spec", WITH_PARAMETERS, ids=str)
@check("{spec.target}", "{spec.driver.parameter_word} gradients match the reference{spec.variant}", points=2, clause="4 backward: parameter gradients against (b) the reference's; 2 conventions: summed over the batch", blame=BACKWARD)
def test_parameter_gradients_reference(spec, student, reference, student_fd, seed):
    gradcheck.each_case(ordinary(spec), lambda case: gradcheck.check_parameter_gradients(
        spec, case, student, reference, case_rng(seed, spec, case), witness="reference", student_fd=student_fd))


@pytest.mark.parametrize("spec", ALL, ids=str)
@check("{spec.target}", "forward and backward leave their inputs untouched{spec.variant}", points=1, clause="4 contract: no mutation of inputs", blame=CONTRACT)
def test_inputs_untouched(spec, student, reference, seed):
    gradcheck.each_case(ordinary(spec), lambda case: gradcheck.check_inputs_untouched(
        spec, case, student, reference, case_rng(seed, spec, case)))
    # Extreme cases too, once the ordinary ones showed a working forward: a clip written
    # into its input only shows where clipping happens (a wrong clip is the forward checks' business).
    gradcheck.each_case([case for case in spec.cases if case.extreme], lambda case: gradcheck.check_inputs_untouched(
        spec, case, student, reference, case_rng(seed, spec, case), gate=False))
