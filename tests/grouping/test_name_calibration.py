"""NameCalibration: the answers about machine names set how sure the names say they are."""

import numpy as np
import pytest

from grouping.name_calibration import NameCalibration


def _answers(rng, n, p_lo, p_hi, right_share):
    p = rng.uniform(p_lo, p_hi, n)
    return p, rng.random(n) < right_share


def test_names_that_claim_more_than_they_deliver_are_brought_down_to_what_the_answers_show():
    rng = np.random.default_rng(0)
    p, right = _answers(rng, 200, 0.85, 1.0, 0.6)  # "90% sure", right 60% of the time
    cal = NameCalibration().fit(p, right)
    assert cal.transform(np.array([0.95]))[0] == pytest.approx(0.6, abs=0.07)


def test_the_map_never_says_a_surer_name_is_less_right_and_keeps_no_name_at_zero():
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 300)
    right = rng.random(300) < 0.3 + 0.4 * p  # noisy: raw bins are not monotone
    out = NameCalibration().fit(p, right).transform(np.linspace(0, 1, 101))
    assert np.all(np.diff(out[1:]) >= -1e-12)
    assert out[0] == 0.0


def test_a_few_answers_move_the_probabilities_less_than_many():
    rng = np.random.default_rng(2)
    shifts = []
    for n in (12, 400):
        p, right = _answers(rng, n, 0.9, 1.0, 0.5)
        shifts.append(0.95 - NameCalibration().fit(p, right).transform(np.array([0.95]))[0])
    assert 0 < shifts[0] < shifts[1]


def test_below_min_answers_nothing_changes():
    p = np.array([0.9, 0.95, 0.92])
    cal = NameCalibration(min_answers=10).fit(p, [False, False, False])
    q = np.array([0.1, 0.5, 0.99])
    assert (cal.slope_, cal.intercept_) == (1.0, 0.0) and np.array_equal(cal.transform(q), q)


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="3 probabilities for 2 answers"):
        NameCalibration().fit([0.1, 0.2, 0.3], [True, False])
