"""Checks that every differentiable class of both APIs gets (see specs.py).

Forward against the reference; input and parameter gradients against both
witnesses (finite differences of the student's own forward, the reference);
inputs left untouched. Cases with extreme values only check the forward.
"""

import pytest

from harness import gradcheck
from harness.catalog.specs import ALL
from harness.checks import HIDDEN, check

WITH_PARAMETERS = [spec for spec in ALL if spec.has_parameters]
EXTREME = [spec for spec in ALL if any(case.extreme for case in spec.cases)]


def ordinary(spec):
    return [case for case in spec.cases if not case.extreme]


@pytest.mark.parametrize("spec", ALL, ids=str)
@check("{spec.target}", "forward matches the reference{spec.variant}", points=1)
def test_forward(spec, student, reference, rng):
    for case in ordinary(spec):
        gradcheck.check_forward(spec, case, student, reference, rng)


@pytest.mark.parametrize("spec", EXTREME, ids=str)
@check("{spec.target}", "forward is right and finite for extreme inputs{spec.variant}", points=1, visibility=HIDDEN)
def test_forward_extreme(spec, student, reference, rng):
    for case in spec.cases:
        if case.extreme:
            gradcheck.check_forward(spec, case, student, reference, rng)


@pytest.mark.parametrize("spec", ALL, ids=str)
@check("{spec.target}", "input gradient matches finite differences of its own forward{spec.variant}", points=2)
def test_input_gradient_fd(spec, student, reference, rng):
    for case in ordinary(spec):
        gradcheck.check_input_gradient(spec, case, student, reference, rng, witness="fd")


@pytest.mark.parametrize("spec", ALL, ids=str)
@check("{spec.target}", "input gradient matches the reference{spec.variant}", points=2)
def test_input_gradient_reference(spec, student, reference, rng):
    for case in ordinary(spec):
        gradcheck.check_input_gradient(spec, case, student, reference, rng, witness="reference")


@pytest.mark.parametrize("spec", WITH_PARAMETERS, ids=str)
@check("{spec.target}", "{spec.driver.parameter_word} gradients match finite differences{spec.variant}", points=2)
def test_parameter_gradients_fd(spec, student, reference, rng):
    for case in ordinary(spec):
        gradcheck.check_parameter_gradients(spec, case, student, reference, rng, witness="fd")


@pytest.mark.parametrize("spec", WITH_PARAMETERS, ids=str)
@check("{spec.target}", "{spec.driver.parameter_word} gradients match the reference{spec.variant}", points=2)
def test_parameter_gradients_reference(spec, student, reference, rng):
    for case in ordinary(spec):
        gradcheck.check_parameter_gradients(spec, case, student, reference, rng, witness="reference")


@pytest.mark.parametrize("spec", ALL, ids=str)
@check("{spec.target}", "forward and backward leave their inputs untouched{spec.variant}", points=1)
def test_inputs_untouched(spec, student, reference, rng):
    for case in ordinary(spec):
        gradcheck.check_inputs_untouched(spec, case, student, reference, rng)
