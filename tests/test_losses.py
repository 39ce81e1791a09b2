"""Losses against hand-computed values; the shuffle's properties."""

import numpy as np
import pytest
import tensorflow as tf

from nag_tf import losses


def test_fooling_loss_per_sample_matches_hand_computation():
    probs = tf.constant([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]])
    labels = tf.constant([0, 1])
    # q'_c = [0.5, 0.8] -> mean(-log(0.5), -log(0.2)) = (0.693147 + 1.609438) / 2
    expected = (np.log(2.0) + np.log(5.0)) / 2
    assert float(losses.fooling_loss(probs, labels)) == pytest.approx(expected, rel=1e-6)


def test_fooling_loss_batch_mean_matches_reference_code():
    probs = tf.constant([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]])
    labels = tf.constant([0, 1])
    # -log(1 - mean(0.5, 0.8)) = -log(0.35)
    assert float(losses.fooling_loss(probs, labels, "batch_mean")) == pytest.approx(-np.log(0.35), rel=1e-6)


def test_fooling_loss_is_zero_when_clean_label_is_gone_and_finite_when_certain():
    assert float(losses.fooling_loss(tf.constant([[0.0, 1.0]]), tf.constant([0]))) == pytest.approx(0.0, abs=1e-6)
    certain = float(losses.fooling_loss(tf.constant([[1.0, 0.0]]), tf.constant([0])))
    assert np.isfinite(certain) and certain > 15


def test_cosine_diversity_loss_matches_hand_computation():
    a = tf.constant([[1.0, 0.0], [1.0, 1.0]])
    s = tf.constant([[0.0, 2.0], [2.0, 2.0]])
    # cosines: 0 (orthogonal) and 1 (parallel) -> distances 1 and 0 -> loss -(1 + 0)/2
    assert float(losses.diversity_loss(a, s, "cosine")) == pytest.approx(-0.5, abs=1e-6)


def test_squared_l2_diversity_loss_matches_hand_computation():
    a = tf.constant([[1.0, 2.0], [0.0, 0.0]])
    s = tf.constant([[1.0, 0.0], [3.0, 0.0]])
    # squared differences: [0, 4, 9, 0] -> mean 3.25
    assert float(losses.diversity_loss(a, s, "squared_l2")) == pytest.approx(-3.25, abs=1e-6)


def test_diversity_loss_flattens_feature_maps():
    a = tf.ones([2, 3, 3, 4])
    assert float(losses.diversity_loss(a, a, "cosine")) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("batch", [2, 3, 5, 32])
def test_derangement_has_no_fixed_point_and_is_a_permutation(batch):
    for seed in range(50):
        perm = losses.derangement(batch, tf.constant([seed, 7])).numpy()
        assert sorted(perm.tolist()) == list(range(batch))
        assert np.all(perm != np.arange(batch))


def test_derangements_vary_with_the_seed():
    perms = {tuple(losses.derangement(8, tf.constant([s, 0])).numpy()) for s in range(20)}
    assert len(perms) > 10


def test_replacement_shuffle_stays_in_range():
    idx = losses.shuffle_indices(6, tf.constant([1, 2]), "replacement").numpy()
    assert idx.shape == (6,) and idx.min() >= 0 and idx.max() < 6


def test_unknown_choices_raise():
    with pytest.raises(ValueError):
        losses.fooling_loss(tf.ones([1, 2]) / 2, tf.constant([0]), "sum")
    with pytest.raises(ValueError):
        losses.diversity_loss(tf.ones([1, 2]), tf.ones([1, 2]), "l1")
    with pytest.raises(ValueError):
        losses.shuffle_indices(3, tf.constant([0, 0]), "none")


def test_similarity_penalty_on_hand_built_vectors():
    from nag_tf.losses import similarity_penalty

    a = tf.constant([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    s = tf.constant([[1.0, 0.0], [-1.0, -1.0], [1.0, 0.0]])  # cosines 1, -1, 0
    np.testing.assert_allclose(float(similarity_penalty(a, s, margin=-1.0)), (2.0 + 0.0 + 1.0) / 3, rtol=1e-6)
    np.testing.assert_allclose(float(similarity_penalty(a, s, margin=0.5)), (0.5 + 0.0 + 0.0) / 3, rtol=1e-6)
