import numpy as np
import pytest


@pytest.mark.parametrize(
    ("rule", "np_mode"),
    [
        ("nearest", "edge"),
        ("reflect", "symmetric"),  # half-sample symmetric: b a | a b c d | d c
        ("mirror", "reflect"),  # whole-sample symmetric: c b | a b c d | c b
        ("periodic", "wrap"),
    ],
)
def test_fold_index_extends_a_signal_as_numpy_pad_does(rule, np_mode):
    """The one folding rule set of the resampler and the blur, against `numpy.pad`, for
    every length from 1 to 6 and indices up to three periods out on each side."""
    from sgm_eqx.image._fold import fold_index

    for n in range(1, 7):
        pad = 3 * (2 * n)
        ref = np.pad(np.arange(n), pad, mode=np_mode)
        got = [fold_index(k, n, rule) for k in range(-pad, n + pad)]
        assert got == ref.tolist(), (rule, n)
    assert [fold_index(k, 3, "zero") for k in range(-2, 5)] == [None, None, 0, 1, 2, None, None]
