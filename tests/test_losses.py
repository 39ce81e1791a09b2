"""Losses against hand-computed values; the shuffle's properties."""

import numpy as np
import pytest
import tensorflow as tf

from nag_tf.core import losses


def _logits(probs):
    """Logits whose softmax is `probs` (log p; zero probabilities become -50)."""
    return tf.math.log(tf.maximum(tf.constant(probs, tf.float32), np.exp(-50.0)))


def test_fooling_loss_per_sample_matches_hand_computation():
    logits = _logits([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]])
    labels = tf.constant([0, 1])
    # q'_c = [0.5, 0.8] -> mean(-log(0.5), -log(0.2)) = (0.693147 + 1.609438) / 2
    expected = (np.log(2.0) + np.log(5.0)) / 2
    assert float(losses.fooling_loss(logits, labels)) == pytest.approx(expected, rel=1e-6)


def test_fooling_loss_batch_mean_matches_reference_code():
    logits = _logits([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]])
    labels = tf.constant([0, 1])
    # -log(1 - mean(0.5, 0.8)) = -log(0.35)
    assert float(losses.fooling_loss(logits, labels, "batch_mean")) == pytest.approx(-np.log(0.35), rel=1e-6)


def test_fooling_loss_is_zero_when_clean_label_is_gone_and_finite_when_certain():
    assert float(losses.fooling_loss(_logits([[0.0, 1.0]]), tf.constant([0]))) == pytest.approx(0.0, abs=1e-6)
    certain = float(losses.fooling_loss(_logits([[1.0, 0.0]]), tf.constant([0])))
    assert np.isfinite(certain) and certain > 15


@pytest.mark.parametrize("reduction", ["per_sample", "batch_mean"])
def test_fooling_loss_gradient_survives_a_logit_margin_of_25(reduction):
    # q_c = 1 - ~2e-11 rounds to 1 in float32: a clamped log(1 - q) has gradient exactly 0 there.
    # Float64 reference: L = -log(1 - q_c) with 1 - q_c = sum_{j!=c} e^{z_j} / sum_j e^{z_j};
    # dL/dz_c = q_c, dL/dz_j = -q_c * q_j / (1 - q_c) for j != c (= -q_j / (1 - q_c) * q_c).
    z = np.array([[25.0, 0.0, -1.0], [25.0, 0.5, 0.0]])
    labels = np.array([0, 0])
    expected_loss, expected_grad = [], []
    for row, c in zip(z, labels):
        q = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
        not_c = 1.0 - q[c] if q[c] < 1 - 1e-9 else np.exp(np.delete(row, c)).sum() / np.exp(row).sum()
        expected_loss.append(-np.log(not_c))
        g = -q[c] * q / not_c
        g[c] = q[c]
        expected_grad.append(g)
    logits = tf.constant(z, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = losses.fooling_loss(logits, tf.constant(labels), reduction)
    gradient = tape.gradient(loss, logits).numpy()
    if reduction == "per_sample":
        np.testing.assert_allclose(float(loss), np.mean(expected_loss), rtol=1e-5)
        np.testing.assert_allclose(gradient, np.array(expected_grad) / len(z), rtol=1e-4, atol=1e-12)
    else:  # -log(mean_n (1 - q_c(n))): each row's weight is its share of the sum
        weights = np.exp(-np.array(expected_loss)) / np.exp(-np.array(expected_loss)).sum()
        np.testing.assert_allclose(float(loss), -np.log(np.mean(np.exp(-np.array(expected_loss)))), rtol=1e-5)
        np.testing.assert_allclose(gradient, np.array(expected_grad) * weights[:, None], rtol=1e-4, atol=1e-12)
    assert np.all(np.abs(gradient[:, 0]) > 0.1)  # the clean logit still gets a real push


def test_clamped_cross_entropy_fooling_loss_by_hand():
    logits = _logits([[0.5, 0.25, 0.25], [1.0, 0.0, 0.0]])
    # CE = [-log 0.5, ~50 -> clamped to 9]; loss = -mean
    expected = -(np.log(2.0) + losses.CLAMPED_CE_BETA) / 2
    assert float(losses.fooling_loss(logits, tf.constant([0, 1]), kind="clamped_ce")) == pytest.approx(
        expected, rel=1e-5
    )


def test_logit_margin_fooling_loss_by_hand_pulls_confident_images_and_stops_past_kappa():
    # Margins z_c - max_{j != c} z_j: image 0 confident (25 - 0 = 25), image 1 barely fooled
    # (1 - 2 = -1), image 2 fooled past kappa (0 - 9 = -9 -> clamped to -kappa).
    logits = tf.constant([[25.0, 0.0, -3.0], [2.0, 1.0, 0.0], [9.0, -1.0, 0.0]])
    labels = tf.constant([0, 1, 2])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = losses.fooling_loss(logits, labels, kind="logit_margin")
    assert float(loss) == pytest.approx((25.0 - 1.0 - losses.LOGIT_MARGIN_KAPPA) / 3, rel=1e-6)
    gradient = tape.gradient(loss, logits).numpy()
    # The confident image gets the same pull as the barely fooled one (the cross-entropy's is ~e^-25).
    np.testing.assert_allclose(gradient[0], [1 / 3, -1 / 3, 0.0], atol=1e-7)
    np.testing.assert_allclose(gradient[1], [-1 / 3, 1 / 3, 0.0], atol=1e-7)
    np.testing.assert_allclose(gradient[2], [0.0, 0.0, 0.0], atol=1e-7)
    with pytest.raises(ValueError, match="per-sample"):
        losses.fooling_loss(logits, labels, reduction="batch_mean", kind="logit_margin")


def test_every_fooling_loss_is_a_flag_choice_and_passes_config_validation():
    from absl import flags

    from nag_tf.core import config as config_lib
    from nag_tf.training import train_flags

    values = flags.FlagValues()
    train_flags.define_train_flags(values)
    assert tuple(values["fooling_loss"].parser.enum_values) == losses.FOOLING_LOSSES
    for kind in losses.FOOLING_LOSSES:
        config_lib.TrainConfig(fooling_loss=kind, data_dir="photos").validate()


def test_label_entropy_by_hand_leaves_each_images_clean_label_out():
    # Other-label mass: image 0 -> [0, 0.5, 0], image 1 -> [0, 0, 0.75]; renormalised [0.4, 0.6].
    logits = _logits([[0.5, 0.5, 0.0], [0.0, 0.25, 0.75]])
    expected = -(0.4 * np.log(0.4) + 0.6 * np.log(0.6))
    assert float(losses.label_entropy(logits, tf.constant([0, 1]))) == pytest.approx(expected, rel=1e-5)
    # Each image to its own other label: uniform over 3 -> log 3; both to one label -> 0.
    spread = _logits([[0.1, 0.6, 0.3], [0.6, 0.1, 0.3]])
    assert float(losses.label_entropy(spread, tf.constant([0, 1]))) == pytest.approx(np.log(3.0), rel=1e-5)
    one = _logits([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    assert float(losses.label_entropy(one, tf.constant([0, 1]))) == pytest.approx(0.0, abs=1e-6)
    # Mass on the clean label does not count: both images keep most of it, the rest goes to label 1.
    clean = _logits([[0.9, 0.1, 0.0], [0.9, 0.1, 0.0]])
    assert float(losses.label_entropy(clean, tf.constant([0, 0]))) == pytest.approx(0.0, abs=1e-6)


def test_label_entropy_gradient_is_finite_when_probabilities_underflow_and_spreads_the_labels():
    # exp(-200) is 0 in float32: 0 log 0 must give 0 and a finite gradient.
    logits = tf.Variable([[0.0, 3.0, 0.5, -200.0], [0.0, 3.0, 0.5, -200.0]])
    labels = tf.constant([0, 0])
    before = float(losses.label_entropy(logits, labels))
    for _ in range(20):
        with tf.GradientTape() as tape:
            entropy = losses.label_entropy(logits, labels)
        gradient = tape.gradient(entropy, logits)
        assert np.all(np.isfinite(gradient.numpy()))
        logits.assign_add(gradient)  # ascent
    assert float(losses.label_entropy(logits, labels)) > before + 0.2


def test_dual_ascent_raises_the_weight_above_the_target_and_never_goes_negative():
    assert float(losses.dual_ascent(1.0, 0.9, 0.4, 0.5)) == pytest.approx(1.25)
    assert float(losses.dual_ascent(0.1, 0.0, 0.4, 0.5)) == pytest.approx(0.0)


def test_dual_ascent_cap_holds_the_weight_and_bounds_the_recovery_after_a_collapse():
    assert float(losses.dual_ascent(1.9, 0.9, 0.4, 0.5, max_weight=2.0)) == pytest.approx(2.0)
    assert float(losses.dual_ascent(1.0, 0.9, 0.4, 0.5, max_weight=0.0)) == pytest.approx(1.25)  # 0: no cap

    def steps_to_recover(collapsed_steps, cap):
        """mu after `collapsed_steps` at cosine 1, then the steps at cosine 0 (below the 0.4 target) until mu < 0.5."""
        mu = 1.0
        for _ in range(collapsed_steps):
            mu = float(losses.dual_ascent(mu, 1.0, 0.4, 0.5, max_weight=cap))
        steps = 0
        while mu >= 0.5:
            mu = float(losses.dual_ascent(mu, 0.0, 0.4, 0.5, max_weight=cap))
            steps += 1
        return steps

    # Without a cap the weight winds up: the longer the collapse, the longer the overshoot lasts.
    assert steps_to_recover(200, cap=0.0) > 5 * steps_to_recover(20, cap=0.0)
    # With one the recovery is bounded by cap / (rate * gap) = 3 / 0.2 = 15 steps, however long the collapse.
    assert steps_to_recover(200, cap=3.0) == steps_to_recover(20, cap=3.0) <= 15


def test_chord_penalty_by_hand_and_its_gradient_keeps_its_size_at_a_collapse():
    a = tf.constant([[1.0, 0.0], [1.0, 0.0]])
    b = tf.constant([[0.0, 3.0], [2.0, 0.0]])
    # chords: sqrt(2) (orthogonal) and 0 (parallel) -> mean of 2 - chord = (2 - sqrt(2) + 2) / 2
    assert float(losses.similarity_penalty(a, b, similarity="chord")) == pytest.approx(2 - np.sqrt(2) / 2, abs=1e-6)
    assert float(losses.similarity_penalty(a, b, margin=0.5, similarity="chord")) == pytest.approx(1.0, abs=1e-6)

    def gradient_norm(gap, similarity):
        base = tf.constant(np.random.default_rng(0).standard_normal([4, 64]), tf.float32)
        other = base + gap * tf.constant(np.random.default_rng(1).standard_normal([4, 64]), tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(base)
            penalty = losses.similarity_penalty(base, other, similarity=similarity)
        return float(tf.norm(tape.gradient(penalty, base)))

    # Nearly collapsed pairs: the cosine's pull shrinks with the gap, the chord's does not.
    assert gradient_norm(1e-3, "cosine") < 1e-2 * gradient_norm(1e-1, "cosine")
    assert gradient_norm(1e-3, "chord") == pytest.approx(gradient_norm(1e-1, "chord"), rel=0.1)
    assert gradient_norm(1e-3, "chord") > 100 * gradient_norm(1e-3, "cosine")
    # Identical pairs: a finite (zero) gradient, never NaN.
    with tf.GradientTape() as tape:
        tape.watch(a)
        penalty = losses.similarity_penalty(a, a, similarity="chord")
    assert np.all(np.isfinite(tape.gradient(penalty, a).numpy()))


def test_cosine_feature_loss_by_hand_and_its_gradient():
    clean = tf.constant([[[1.0, 0.0]], [[1.0, 0.0]]])  # [B, 1, 2]: maps are flattened per image
    adversarial = tf.constant([[[0.0, 2.0]], [[1.0, 1.0]]])
    with tf.GradientTape() as tape:
        tape.watch(adversarial)
        loss = losses.feature_loss(clean, adversarial, "cosine")
    # Mean of cos = 0 and 1/sqrt(2).
    np.testing.assert_allclose(float(loss), (0.0 + 1 / np.sqrt(2)) / 2, rtol=1e-6)
    # d cos(c, a) / da = c / (|c||a|) - cos * a / |a|^2, halved by the mean over 2 images.
    expected = np.array([[[1 / 2, 0.0]], [[1 / np.sqrt(2) - 0.5 / np.sqrt(2), -0.5 / np.sqrt(2)]]]) / 2
    np.testing.assert_allclose(tape.gradient(loss, adversarial).numpy(), expected, atol=1e-6)


def test_mse_feature_loss_by_hand_is_scale_free_and_its_gradient():
    clean = tf.constant([[3.0, 4.0]])
    adversarial = tf.constant([[3.0, 0.0]])
    with tf.GradientTape() as tape:
        tape.watch(adversarial)
        loss = losses.feature_loss(clean, adversarial, "mse")
    np.testing.assert_allclose(float(loss), -16.0 / 25.0, rtol=1e-6)  # -|a - c|^2 / |c|^2
    # d/da = -2 (a - c) / |c|^2 = (0, 8/25): descending it moves a further from c.
    np.testing.assert_allclose(tape.gradient(loss, adversarial).numpy(), [[0.0, 8.0 / 25.0]], atol=1e-6)
    np.testing.assert_allclose(float(losses.feature_loss(10 * clean, 10 * adversarial, "mse")), -16.0 / 25.0, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown feature loss"):
        losses.feature_loss(clean, adversarial, "none")


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
    from nag_tf.core.losses import similarity_penalty

    a = tf.constant([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    s = tf.constant([[1.0, 0.0], [-1.0, -1.0], [1.0, 0.0]])  # cosines 1, -1, 0
    np.testing.assert_allclose(float(similarity_penalty(a, s, margin=-1.0)), (2.0 + 0.0 + 1.0) / 3, rtol=1e-6)
    np.testing.assert_allclose(float(similarity_penalty(a, s, margin=0.5)), (0.5 + 0.0 + 0.0) / 3, rtol=1e-6)


def test_coverage_loss_by_hand_lies_between_the_minimum_and_the_mean():
    # Two photos, three perturbations each: l[m, n].
    per_image = tf.constant([[1.0, -2.0], [3.0, 0.0], [-1.0, 4.0]])
    tau = 0.5
    by_hand = np.mean([-tau * np.log(np.mean(np.exp(-np.array(column) / tau))) for column in [[1, 3, -1], [-2, 0, 4]]])
    value = float(losses.coverage_loss(per_image, tau))
    assert value == pytest.approx(by_hand, rel=1e-6)
    assert np.mean([-1.0, -2.0]) <= value <= float(tf.reduce_mean(per_image))  # hard minimum <= soft <= mean
    assert float(losses.coverage_loss(per_image, 1e-3)) == pytest.approx(-1.5, abs=1e-2)  # tau -> 0: the minimum


def test_coverage_loss_gradient_goes_softly_to_the_perturbation_that_fools_each_photo_best():
    per_image = tf.Variable([[1.0, -2.0], [3.0, 0.0], [-1.0, 4.0]])
    with tf.GradientTape() as tape:
        value = losses.coverage_loss(per_image, 0.5)
    gradient = tape.gradient(value, per_image).numpy()
    # d/dl[m, n] = softmax_m(-l[:, n] / tau)[m] / N: each photo's column sums to 1 / N, most on its best.
    expected = np.exp(-per_image.numpy() / 0.5)
    expected = expected / expected.sum(axis=0, keepdims=True) / 2
    np.testing.assert_allclose(gradient, expected, rtol=1e-5)
    assert gradient[2, 0] > 0.49 and gradient[0, 1] > 0.49


def test_per_image_fooling_losses_average_to_the_fooling_loss():
    logits = _logits([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]])
    labels = tf.constant([0, 1])
    for kind in losses.FOOLING_LOSSES:
        per_image = losses.per_image_fooling_loss(logits, labels, kind)
        assert per_image.shape == (2,)
        assert float(tf.reduce_mean(per_image)) == pytest.approx(float(losses.fooling_loss(logits, labels, kind=kind)))
