"""The intervals behind every figure: per-photo rates, the bootstrap over photos, paired differences."""

import numpy as np
import pytest

from nag_tf.evaluation import stats


def test_per_image_attack_on_hand_made_labels():
    clean = np.array([0, 1, 2, 5])
    adversarial = np.array([[0, 5, 2, 5], [3, 5, 2, 1]])  # K = 2 perturbations on 4 photos
    np.testing.assert_allclose(stats.per_image_attack(clean, adversarial), [0.5, 1.0, 0.0, 0.5])
    # Targeted at class 5: photo 3 is already of class 5 and does not count.
    np.testing.assert_allclose(stats.per_image_attack(clean, adversarial, target_class=5), [0.0, 1.0, 0.0])
    # An ensemble of two members: the mean over members.
    clean2 = np.stack([clean, clean], axis=1)
    adversarial2 = np.stack([adversarial, np.stack([clean, clean])], axis=2)
    np.testing.assert_allclose(stats.per_image_attack(clean2, adversarial2), [0.25, 0.5, 0.0, 0.25])


def test_the_mean_of_per_image_values_is_the_mean_fooling_rate():
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 10, 50)
    adversarial = rng.integers(0, 10, (7, 50))
    rates = [(row != clean).mean() for row in adversarial]
    assert stats.per_image_attack(clean, adversarial).mean() == pytest.approx(np.mean(rates))


def test_bootstrap_interval_holds_the_mean_and_narrows_with_more_photos():
    assert stats.bootstrap_interval(np.full(20, 0.7)) == pytest.approx((0.7, 0.7))
    rng = np.random.default_rng(1)
    few, many = rng.random(40) < 0.6, rng.random(1000) < 0.6
    low, high = stats.bootstrap_interval(few)
    assert low < few.mean() < high
    many_low, many_high = stats.bootstrap_interval(many)
    assert many_high - many_low < high - low
    # 95% interval of a proportion near 0.6 on 1000 photos: about +-3 points (normal approximation).
    assert 0.045 < many_high - many_low < 0.075


def test_paired_difference_cancels_what_the_photos_share():
    rng = np.random.default_rng(2)
    hard = rng.random(200)  # how hard each photo is, shared by both methods
    a, b = hard + 0.02, hard
    mean, low, high = stats.paired_difference(a, b)
    assert mean == pytest.approx(0.02) and low == pytest.approx(0.02) and high == pytest.approx(0.02)
    with pytest.raises(ValueError, match="same photos"):
        stats.paired_difference(a, b[:10])


def test_paired_to_best_picks_the_strongest_other_method():
    per_photo = {"nag": [1.0, 0.0, 1.0, 1.0], "sga": [1.0, 1.0, 1.0, 0.0], "sgd_uap": [0.0, 0.0, 1.0, 0.0]}
    result = stats.paired_to_best(per_photo)
    assert result["best_baseline"] == "sga" and result["nag_minus_best_fr"] == 0.0
    low, high = result["nag_minus_best_ci"]
    assert low < 0.0 < high
    assert stats.paired_to_best({"nag": [1.0]}) == {}
    transfer = stats.paired_to_best(
        {"nag": [1.0, 1.0], "sga": [0.0, 1.0], "dm_uap": [0.0, 0.0]}, measure="transfer_lite1"
    )
    assert transfer["best_baseline_transfer_lite1"] == "sga" and transfer["nag_minus_best_transfer_lite1"] == 0.5
    assert len(transfer["nag_minus_best_transfer_lite1_ci"]) == 2


def test_difference_to_best_takes_only_the_candidates_named():
    """The defence compares each NAG-fed source with the best *non-NAG* source: a stronger name outside the
    candidates must not be picked, and a candidate without values is skipped."""
    per_photo = {"nag_several": [1.0, 1.0, 0.0, 1.0], "nag": [1.0, 1.0, 1.0, 1.0], "sga": [1.0, 0.0, 0.0, 1.0]}
    found = stats.difference_to_best(per_photo, "nag_several", ["sga", "dm_uap"])
    assert found["best"] == "sga" and found["difference"][0] == 0.25
    low, high = found["difference"][1:]
    assert low <= 0.25 <= high
    assert stats.difference_to_best(per_photo, "nag_several", ["dm_uap"]) == {}
    assert stats.difference_to_best(per_photo, "nag")["best"] == "nag_several"  # default: every other name


def test_the_interval_over_runs_holds_the_seed_to_seed_spread():
    """Two runs that disagree (+0.5 and -0.5 on every photo): pooled photo-runs look certain of 0, the
    two-level bootstrap is not; two runs that agree give the same narrow interval both ways."""
    disagree = [(np.ones(100), np.full(100, 0.5)), (np.full(100, 0.5), np.ones(100))]
    mean, low, high = stats.paired_difference_over_runs(disagree)
    assert mean == 0.0 and low <= -0.45 and high >= 0.45  # a draw of the same run twice is +-0.5
    pooled = stats.paired_difference(np.concatenate([a for a, _ in disagree]), np.concatenate([b for _, b in disagree]))
    assert pooled[1] > -0.1 and pooled[2] < 0.1
    rng = np.random.default_rng(0)
    agree = [(rng.integers(0, 2, 200).astype(float), np.zeros(200)) for _ in range(2)]
    over_runs = stats.paired_difference_over_runs(agree)
    assert over_runs[0] == pytest.approx(np.mean([a.mean() for a, _ in agree]))
    assert over_runs[2] - over_runs[1] < 0.15
    with pytest.raises(ValueError, match="same photos"):
        stats.paired_difference_over_runs([(np.ones(3), np.ones(4))])
