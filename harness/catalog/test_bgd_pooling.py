"""Max-pooling where finite differences cannot look: windows with ties.

SPEC: backward sends each error to the FIRST maximum of its window. The
generic checks sample distinct values (a tie is a kink), so ties are judged
against the reference alone.
"""

import numpy as np

from harness.catalog.specs import Spec
from harness.checks import check, expect_close
from harness.drivers import BgdLayer, Case, raise_on_error
from harness.gradcheck import side_by_side

POOL = Spec(BgdLayer("bgd.layers.max_pooling2d.MaxPooling2D"), ())


def tied_images(rng, shape, levels=3):
    """Integer-valued images: most windows hold several equal maxima."""
    return rng.integers(0, levels, size=shape).astype(np.float64)


def pool_backward(engine, case, x, error):
    driver = POOL.driver
    with engine.batch() as batch:
        layer = batch.new(driver.target, *case.args, **case.kwargs)
        layer.forward(x)
        signal = layer.backward(error).pick(0)
    raise_on_error(batch, driver, case, inputs=(x,), upstream=error)
    return signal.value


@check("bgd.layers.max_pooling2d.MaxPooling2D", "backward sends each error to the first maximum of a tied window", points=1)
def test_ties_go_to_the_first_maximum(student, reference, rng):
    cases = [
        Case("2x2 pools", ((2, 2),), shapes=((2, 4, 6, 2),)),
        Case("3x3 pools, stride 2 (overlapping)", ((3, 3),), {"strides": (2, 2)}, shapes=((1, 7, 7, 2),)),
    ]
    for case in cases:
        x = tied_images(rng, case.shapes[0])
        out_shape = POOL.driver.run(reference, case, [], (x,)).output.shape
        error = rng.normal(size=out_shape)
        got, want = side_by_side(pool_backward, student, reference, case, x, error)
        expect_close(
            got,
            want,
            "MaxPooling2D.backward signal on windows with tied maxima",
            case=case.label,
            method="MaxPooling2D.backward",
            snippet=POOL.driver.snippet(case, [], (x,), error),
        )
