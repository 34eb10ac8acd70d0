"""The int8 parity gate's judgement on synthetic scores: fast, no model, every branch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeship.errors import ParityError
from edgeship.packager.heldout import HeldoutSet
from edgeship.packager.parity import Labelling, compare, disagreement_p_value, enforce, sign_test_p_value


def heldout_of(truth: list[str]) -> HeldoutSet:
    return HeldoutSet(tuple(f"text {i}" for i in range(len(truth))), tuple(truth), "synthetic")


def scores_with_flips(n: int, lost: int, gained: int) -> tuple[HeldoutSet, np.ndarray, np.ndarray]:
    """All texts POSITIVE; the reference is right on all but ``gained``; the candidate flips ``lost`` of its hits.

    Flipped texts sit just either side of 0.5, inside the NEUTRAL band, so the 3-class labels agree.
    """
    truth = ["POSITIVE"] * n
    reference = np.full(n, 0.9, dtype=np.float32)
    candidate = reference.copy()
    reference[:gained] = 0.49
    candidate[:gained] = 0.51
    reference[gained : gained + lost] = 0.51
    candidate[gained : gained + lost] = 0.49
    return heldout_of(truth), reference, candidate


def test_sign_test_matches_the_binomial_tail() -> None:
    assert sign_test_p_value(0, 0) == 1.0
    assert sign_test_p_value(2, 0) == 0.25
    assert sign_test_p_value(9, 0) == pytest.approx(1 / 512)
    assert sign_test_p_value(3, 3) == pytest.approx(sum(math.comb(6, k) for k in range(3, 7)) / 64)
    assert sign_test_p_value(0, 5) == 1.0


def test_two_texts_lost_on_175_is_chance_and_passes() -> None:
    heldout, reference, candidate = scores_with_flips(175, lost=2, gained=0)
    report = compare("int8", heldout, reference, candidate, Labelling())
    assert report.keras_accuracy is not None
    assert report.onnx_accuracy is not None
    assert report.keras_accuracy - report.onnx_accuracy == pytest.approx(2 / 175)  # 1.14 points, over the bound
    assert (report.lost, report.gained) == (2, 0)
    assert report.loss_p_value == 0.25
    assert report.label_agreement == 1.0
    assert report.passed


def test_nine_texts_lost_on_175_is_a_real_loss_and_fails() -> None:
    heldout, reference, candidate = scores_with_flips(175, lost=9, gained=0)
    report = compare("int8", heldout, reference, candidate, Labelling())
    assert report.loss_p_value == pytest.approx(1 / 512)
    assert not report.passed
    with pytest.raises(ParityError, match=r"9 texts lost, 0 gained, p = 0.002"):
        enforce(report)


def test_a_small_significant_loss_on_a_large_set_fails() -> None:
    # 80 lost vs 40 gained on 5,000 texts: 0.8 points lost, p far below 5 %.
    heldout, reference, candidate = scores_with_flips(5000, lost=80, gained=40)
    report = compare("int8", heldout, reference, candidate, Labelling())
    assert report.loss_p_value is not None
    assert report.loss_p_value < 0.001
    assert not report.passed


def test_a_loss_within_the_bound_passes_even_when_significant() -> None:
    # 20 lost, 0 gained on 10,000 texts: p < 1e-5 but only 0.2 points: inside the documented bound.
    heldout, reference, candidate = scores_with_flips(10000, lost=20, gained=0)
    report = compare("int8", heldout, reference, candidate, Labelling())
    assert report.loss_p_value is not None
    assert report.loss_p_value < 1e-5
    assert report.passed


def test_disagreement_test_matches_the_binomial_tail() -> None:
    assert disagreement_p_value(0, 175) == 1.0
    assert disagreement_p_value(1, 175) == pytest.approx(1 - 0.99**175)
    expected = 1 - sum(math.comb(175, k) * 0.01**k * 0.99 ** (175 - k) for k in range(3))
    assert disagreement_p_value(3, 175) == pytest.approx(expected)
    assert disagreement_p_value(5, 175) < 0.05 < disagreement_p_value(4, 175)


def labels_flipped_at_the_neutral_edge(n: int, flips: int) -> tuple[HeldoutSet, np.ndarray, np.ndarray]:
    """No ground truth; ``flips`` texts sit 0.004 either side of the 0.7 edge: rounding, not a broken model."""
    reference = np.full(n, 0.9, dtype=np.float32)
    candidate = reference.copy()
    reference[:flips] = 0.702
    candidate[:flips] = 0.698
    return HeldoutSet(tuple(str(i) for i in range(n)), None, "probe"), reference, candidate


def test_three_edge_flips_on_175_are_chance_and_pass() -> None:
    heldout, reference, candidate = labels_flipped_at_the_neutral_edge(175, 3)
    report = compare("int8", heldout, reference, candidate, Labelling())
    assert report.label_agreement == pytest.approx(172 / 175)  # 98.29 %, under the 99 % bound
    assert report.agreement_p_value is not None
    assert report.agreement_p_value > 0.2
    assert report.passed


def test_five_edge_flips_on_175_are_too_many_and_fail() -> None:
    heldout, reference, candidate = labels_flipped_at_the_neutral_edge(175, 5)
    report = compare("int8", heldout, reference, candidate, Labelling())
    assert report.max_abs_diff < 0.01
    assert not report.passed
    with pytest.raises(ParityError, match=r"label agreement 97.14% \(p = 0.032\)"):
        enforce(report)


def test_a_score_that_moves_far_fails_even_without_a_label_change() -> None:
    n = 175
    reference = np.full(n, 0.95, dtype=np.float32)
    candidate = reference.copy()
    candidate[0] = 0.85  # still POSITIVE, but 0.1 away: not int8 rounding
    report = compare(
        "int8", HeldoutSet(tuple(str(i) for i in range(n)), None, "probe"), reference, candidate, Labelling()
    )
    assert report.label_agreement == 1.0
    assert not report.passed


def test_label_agreement_still_gates_without_ground_truth() -> None:
    n = 100
    reference = np.full(n, 0.9, dtype=np.float32)
    candidate = reference.copy()
    candidate[:2] = 0.1  # two texts change label outright: 98 % agreement
    report = compare(
        "int8", HeldoutSet(tuple(str(i) for i in range(n)), None, "probe"), reference, candidate, Labelling()
    )
    assert report.lost is None
    assert report.loss_p_value is None
    assert report.label_agreement == pytest.approx(0.98)
    assert not report.passed


def test_fp32_stays_strict() -> None:
    heldout, reference, candidate = scores_with_flips(175, lost=1, gained=0)
    report = compare("fp32", heldout, reference, candidate, Labelling())
    assert not report.passed
