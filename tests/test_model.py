"""NAGModel's train_step on a tiny target: learning, frozen target, clean labels once, NaN skipping."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_apps
from nag_tf.core import losses
from nag_tf.core.generator import build_generator
from nag_tf.core.loss_config import LossConfig
from nag_tf.core.model import NAGModel, perturb
from nag_tf.inputs import batches, data
from nag_tf.training.callbacks import StopOnPersistentNaN


@pytest.fixture
def tiny_target():
    return keras_apps.load_target("tiny_cnn", "none")


@pytest.fixture
def cached(image_folder, tiny_target):
    records = data.read_image_folder(image_folder)
    return batches.cache_with_clean_labels(data.decode_records(records, 32), tiny_target, 16, records)


def _model(target, seed=0, **loss):
    keras.utils.set_random_seed(seed)
    generator = build_generator(32, latent_dim=4, xi=10.0, variant="light", seed=seed)
    model = NAGModel(generator, target, LossConfig(**loss), seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.optimizer.build(generator.trainable_variables)
    return model


def _fooling_loss_on(model, cached, z):
    images = tf.cast(cached.images[:16], tf.float32)
    delta = model.generator(z, training=True)
    fooling = model.compute_losses(images, cached.clean_labels[:16], delta, tf.constant([0, 0])).fooling
    return float(fooling)


def test_thirty_steps_lower_the_fooling_loss_and_leave_the_target_frozen(tiny_target, cached):
    model = _model(tiny_target)
    z = tf.random.stateless_uniform([16, 4], seed=[5, 5], minval=-1, maxval=1)
    before = _fooling_loss_on(model, cached, z)
    target_weights = [w.copy() for w in tiny_target.classifier.get_weights()]
    model.fit(batches.training_batches(cached, 8, seed=0), steps_per_epoch=30, epochs=1, verbose=0)
    after = _fooling_loss_on(model, cached, z)
    assert int(model.step.numpy()) == 30
    assert after < 0.9 * before, (before, after)
    for old, new in zip(target_weights, tiny_target.classifier.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert not tiny_target.classifier.trainable_weights  # frozen: nothing to train


def test_clean_labels_are_computed_once_and_never_per_step(image_folder, tiny_target):
    seen = tf.Variable(0, dtype=tf.int64)
    inner = tiny_target._network

    class Counting(keras.Model):
        def call(self, x, training=False):
            seen.assign_add(tf.cast(tf.shape(x)[0], tf.int64))
            return inner(x, training=training)

    tiny_target._network = Counting()
    records = data.read_image_folder(image_folder)
    cached = batches.cache_with_clean_labels(data.decode_records(records, 32), tiny_target, 16, records)
    assert int(seen.numpy()) == len(records)  # one pass over the clean images
    np.testing.assert_array_equal(cached.clean_labels, tiny_target.predict_labels(cached.images).numpy())
    seen.assign(0)
    model = _model(tiny_target)
    model.fit(batches.training_batches(cached, 8, seed=0), steps_per_epoch=3, epochs=1, verbose=0)
    assert int(seen.numpy()) == 3 * 2 * 8  # only X_A and X_S: 2B images a step, no benign pass


def test_nan_batches_are_skipped_and_counted(tiny_target, cached):
    model = _model(tiny_target)
    images = tf.cast(cached.images[:8], tf.float32)
    labels = tf.constant(cached.clean_labels[:8])
    bad = tf.tensor_scatter_nd_update(images, [[0, 0, 0, 0]], [float("nan")])
    batches = tf.data.Dataset.from_tensors((images, labels)).concatenate(tf.data.Dataset.from_tensors((bad, labels)))
    model.fit(batches.take(1), epochs=1, verbose=0)
    weights = [w.numpy().copy() for w in model.generator.trainable_variables]
    model.fit(batches.skip(1), epochs=1, verbose=0)
    assert int(model.skipped_steps.numpy()) == 1 and int(model.step.numpy()) == 2
    for old, new in zip(weights, model.generator.trainable_variables):
        np.testing.assert_array_equal(old, new.numpy())


def test_persistent_nan_stops_training(tiny_target, cached):
    model = _model(tiny_target)
    bad = tf.fill([8, 32, 32, 3], float("nan"))
    batches = tf.data.Dataset.from_tensors((bad, tf.zeros([8], tf.int32))).repeat()
    guard = StopOnPersistentNaN(model.consecutive_skipped, 3)
    model.fit(batches, steps_per_epoch=10, epochs=5, verbose=0, callbacks=[guard])
    assert guard.failed and int(model.step.numpy()) == 3


def test_call_returns_perturbed_images_within_budget(tiny_target, cached):
    model = _model(tiny_target)
    images = tf.cast(cached.images[:4], tf.float32)
    out = model(images)
    assert out.shape == images.shape
    assert float(tf.reduce_max(tf.abs(out - images))) <= 10.0 + 1e-4


def test_training_batches_are_a_function_of_the_step(cached):
    full = [b[1].numpy() for b in batches.training_batches(cached, 8, seed=3).take(9)]
    resumed = [b[1].numpy() for b in batches.training_batches(cached, 8, seed=3, start_step=5).take(4)]
    for a, b in zip(full[5:], resumed):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(Exception, match="larger than"):
        batches.training_batches(cached, len(cached) + 1, seed=0)


def test_dual_ascent_moves_the_penalty_weight_towards_the_target_cosine(tiny_target, cached):
    # A target cosine below any batch's (-0.9): every step raises mu by rate * (cos + 0.9) > 0.
    model = _model(tiny_target, target_pairwise_cosine=-0.9, cosine_dual_rate=0.5, diversity_weight=0.0)
    weights = []
    callback = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: weights.append(float(model.perturbation_diversity_weight.numpy()))
    )
    model.fit(batches.training_batches(cached, 8, seed=0), steps_per_epoch=5, epochs=1, verbose=0, callbacks=[callback])
    assert weights[0] > 0.0 and all(b > a for a, b in zip(weights, weights[1:])), weights
    # A target above any batch's (0.999: only a collapsed generator reaches it) lets mu fall.
    relaxed = _model(
        tiny_target,
        target_pairwise_cosine=0.999,
        cosine_dual_rate=0.5,
        perturbation_diversity_weight=0.2,
        diversity_weight=0.0,
    )
    relaxed.fit(batches.training_batches(cached, 8, seed=0), steps_per_epoch=5, epochs=1, verbose=0)
    assert float(relaxed.perturbation_diversity_weight.numpy()) < 0.2


def test_without_feature_diversity_the_target_sees_only_the_adversarial_batch(tiny_target):
    assert _model(tiny_target, diversity_weight=0.0).target_images_per_step == 1
    assert _model(tiny_target, diversity_weight=1.0).target_images_per_step == 2


def test_images_sharing_perturbations_are_scored_as_the_repeated_batch(tiny_target, cached):
    # k = 4 images per delta: the losses of 16 images with 4 deltas equal those with each delta written
    # out 4 times (image i gets delta[i // 4]); only the shuffle (over deltas, not images) differs.
    model = _model(tiny_target, diversity_weight=0.0, images_per_perturbation=4)
    images = tf.cast(cached.images[:16], tf.float32)
    delta = model.generator(tf.random.stateless_uniform([4, 4], seed=[2, 2], minval=-1, maxval=1))
    shared = model.compute_losses(images, cached.clean_labels[:16], delta, tf.constant([0, 0]))
    written_out = model.compute_losses(
        images, cached.clean_labels[:16], tf.repeat(delta, 4, axis=0), tf.constant([0, 0])
    )
    np.testing.assert_allclose(float(shared.fooling), float(written_out.fooling), rtol=1e-6)
    np.testing.assert_array_equal(shared.fooled.numpy(), written_out.fooled.numpy())


def test_shared_perturbations_are_never_paired_with_their_own_copies(tiny_target, cached):
    # Four orthogonal deltas shared by 4 images each: every pair the shuffle forms is two different
    # deltas (cosine 0). Shuffling the 16 written-out copies instead would pair some with themselves.
    model = _model(tiny_target, diversity_weight=0.0, perturbation_diversity_weight=1.0, images_per_perturbation=4)
    delta = np.zeros([4, 32, 32, 3], np.float32)
    for index in range(4):
        delta[index, index * 8 : (index + 1) * 8] = 5.0
    values = model.compute_losses(
        tf.cast(cached.images[:16], tf.float32), cached.clean_labels[:16], tf.constant(delta), tf.constant([1, 2])
    )
    assert abs(float(values.pair_cosine)) < 1e-6


def test_training_with_shared_perturbations_generates_batch_over_k_deltas(tiny_target, cached):
    model = _model(tiny_target, diversity_weight=0.0, images_per_perturbation=4)
    seen = []
    generator_call = model.generator.call

    def counting_call(z, *args, **kwargs):
        seen.append(int(z.shape[0]))
        return generator_call(z, *args, **kwargs)

    model.generator.call = counting_call
    model.fit(batches.training_batches(cached, 8, seed=0), steps_per_epoch=2, epochs=1, verbose=0)
    assert int(model.step.numpy()) == 2
    assert seen and set(seen) == {2}  # 8 images, 2 deltas (traced once)


def test_the_target_sees_the_input_diversity_transform_in_training(tiny_target, cached):
    model = _model(tiny_target)
    images = tf.cast(cached.images[:16], tf.float32)
    delta = model.generator(tf.random.stateless_uniform([16, 4], seed=[5, 5], minval=-1, maxval=1))

    def fooling(augment=True, **loss):
        scored = NAGModel(model.generator, tiny_target, LossConfig(diversity_weight=0.0, **loss), seed=0)
        values = scored.compute_losses(images, cached.clean_labels[:16], delta, tf.constant([0, 0]), augment=augment)
        return float(values.fooling)

    plain = fooling()
    assert fooling(input_diversity=0.0) == plain
    assert abs(fooling(input_diversity=1.0, input_diversity_scale=1.5) - plain) > 1e-4
    # Without augment (validation) the transform is never applied, whatever its probability.
    assert fooling(augment=False, input_diversity=1.0, input_diversity_scale=1.5) == plain


def test_validation_scores_the_plain_perturbed_images_under_input_diversity(tiny_target, cached):
    # The epoch is chosen on the selection images' val_fooling_rate: it must score x + delta as the
    # report does, not the resize-and-pad training sees (which made the selection noisy and biased).
    selection = batches.evaluation_batches(cached, 8, latent_dim=4, seed=1)

    def validation(**loss):
        model = _model(tiny_target, diversity_weight=0.0, **loss)
        return model.evaluate(selection, verbose=0, return_dict=True)

    plain = validation()
    transformed = validation(input_diversity=1.0, input_diversity_scale=1.5)
    for name in ("fooling_loss", "fooling_rate"):
        np.testing.assert_allclose(transformed[name], plain[name], rtol=1e-6, err_msg=name)


def test_the_label_entropy_term_enters_the_total_and_the_gradient_with_its_weight(tiny_target, cached):
    model = _model(tiny_target)
    images = tf.cast(cached.images[:16], tf.float32)
    labels = cached.clean_labels[:16]
    delta = model.generator(tf.random.stateless_uniform([16, 4], seed=[5, 5], minval=-1, maxval=1))

    def values(weight):
        scored = NAGModel(model.generator, tiny_target, LossConfig(label_entropy_weight=weight), seed=0)
        return scored.compute_losses(images, labels, delta, tf.constant([0, 0]), loss_scale=lambda loss: loss)

    # The term on its own, from the target's logits on x + delta.
    member = tiny_target.members[0][0]
    with tf.GradientTape() as tape:
        tape.watch(delta)
        entropy = losses.label_entropy(member(perturb(images, delta)).logits, labels)
    entropy_gradient = tape.gradient(entropy, delta).numpy()
    assert float(entropy) > 0.1
    plain, weighted = values(0.0), values(0.5)
    np.testing.assert_allclose(float(weighted.total), float(plain.total) - 0.5 * float(entropy), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(weighted.fooling), float(plain.fooling), rtol=1e-6)
    difference = weighted.delta_gradient.numpy() - plain.delta_gradient.numpy()
    np.testing.assert_allclose(
        difference, -0.5 * entropy_gradient, rtol=1e-3, atol=1e-6 * np.abs(entropy_gradient).max()
    )


def test_the_coverage_term_is_the_soft_minimum_over_the_next_perturbations_and_enters_with_its_weight(
    tiny_target, cached
):
    model = _model(tiny_target)
    images = tf.cast(cached.images[:16], tf.float32)
    labels = cached.clean_labels[:16]
    delta = model.generator(tf.random.stateless_uniform([4, 4], seed=[5, 5], minval=-1, maxval=1))  # 4 images each

    def values(weight):
        config = LossConfig(
            coverage_loss_weight=weight, coverage_samples=3, coverage_softness=0.5, images_per_perturbation=4
        )
        scored = NAGModel(model.generator, tiny_target, config, seed=0)
        return scored.compute_losses(images, labels, delta, tf.constant([0, 0]), loss_scale=lambda loss: loss)

    # By hand: photo n (its own delta n // 4) meets deltas n // 4, n // 4 + 1 and n // 4 + 2 (mod 4).
    member = tiny_target.members[0][0]
    own = np.arange(16) // 4
    per_image = []
    for shift in range(3):
        met = tf.gather(delta, (own + shift) % 4)
        logits = member(perturb(images, met)).logits
        per_image.append(-np.log1p(-tf.nn.softmax(logits).numpy()[np.arange(16), np.asarray(labels)]))
    per_image = np.array(per_image)
    by_hand = np.mean(-0.5 * np.log(np.mean(np.exp(-per_image / 0.5), axis=0)))
    assert by_hand < per_image[0].mean()  # the best of three fools more than one's own
    plain, weighted = values(0.0), values(2.0)
    np.testing.assert_allclose(float(weighted.total), float(plain.total) + 2.0 * by_hand, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(float(weighted.fooling), float(plain.fooling), rtol=1e-6)
    assert not np.allclose(weighted.delta_gradient.numpy(), plain.delta_gradient.numpy())


def _collapse_trace(target, cached, similarity, steps=30):
    """Per-step batch cosine from a nearly collapsed generator (fc scaled by 1e-3: every z gives almost one delta)."""
    keras.utils.set_random_seed(0)
    generator = build_generator(32, latent_dim=4, xi=10.0, variant="light", seed=0)
    fc = generator.get_layer("fc")
    kernel, bias = fc.get_weights()
    fc.set_weights([kernel * 1e-3, bias + np.random.default_rng(0).normal(0, 1, bias.shape).astype("float32")])
    loss = LossConfig(
        diversity_weight=0.0,
        perturbation_diversity_weight=1.0,
        target_pairwise_cosine=0.4,
        cosine_dual_rate=0.5,
        perturbation_similarity=similarity,
        fooling_loss="clamped_ce",
    )
    model = NAGModel(generator, target, loss, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.optimizer.build(generator.trainable_variables)
    cosines = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: cosines.append(float(logs["pair_cosine"]))
    )
    # One step an epoch: the logged (epoch-mean) cosine is the step's own.
    model.fit(
        batches.training_batches(cached, 8, seed=0), steps_per_epoch=1, epochs=steps, verbose=0, callbacks=[record]
    )
    return np.array(cosines)


def test_from_a_collapse_the_chord_penalty_separates_sooner_and_does_not_overshoot(tiny_target, cached):
    """The diversity constraint started from a collapsed generator (target cosine 0.4).

    The cosine penalty's gradient vanishes at a collapse, so mu winds up first; the chord's does not.
    Stated bound: the chord never takes the batch cosine more than 0.2 below the target.
    """
    cosine = _collapse_trace(tiny_target, cached, "cosine")
    chord = _collapse_trace(tiny_target, cached, "chord")
    assert cosine[0] > 0.99 and chord[0] > 0.99  # both start collapsed
    escaped = lambda trace: int(np.argmax(trace < 0.95)) if np.any(trace < 0.95) else len(trace)  # noqa: E731
    assert escaped(chord) + 5 <= escaped(cosine), (chord.round(2), cosine.round(2))
    assert chord.min() >= 0.4 - 0.2, chord.round(2)


def test_the_feature_loss_joins_the_fooling_loss_by_its_weight_is_counted_and_training_lowers_it(cached):
    """--feature_loss=cosine: fooling + w * mean cos(f(x), f(x + delta)) at the target's feature layer."""
    target = keras_apps.load_target("tiny_cnn", "none", feature_layer="default")
    plain = _model(target, diversity_weight=0.0, fooling_loss="clamped_ce")
    model = _model(
        target, diversity_weight=0.0, fooling_loss="clamped_ce", feature_loss="cosine", feature_loss_weight=50.0
    )
    model.generator.set_weights(plain.generator.get_weights())
    images, labels = tf.cast(cached.images[:16], tf.float32), cached.clean_labels[:16]
    z = model.sample_latents(16)

    def feature_cosine(trained):
        adversarial = perturb(images, trained.generator(z, training=False))
        return float(losses.feature_loss(target.clean_features(images), target(adversarial).mid_features, "cosine"))

    delta = model.generator(z, training=False)
    with_feature = model.compute_losses(images, labels, delta, tf.constant([0, 0])).fooling
    without = plain.compute_losses(images, labels, delta, tf.constant([0, 0])).fooling
    np.testing.assert_allclose(float(with_feature - without), 50.0 * feature_cosine(model), rtol=1e-4, atol=1e-4)
    assert model.target_images_per_step == pytest.approx(1 + 1 / 3)  # the clean pass to the layer, charged
    assert plain.target_images_per_step == 1
    for trained in (plain, model):
        trained.fit(batches.training_batches(cached, 16, seed=0), steps_per_epoch=10, epochs=1, verbose=0)
    # From the same start, 10 steps: the feature loss moves the features about twice as far (1.9 times here).
    assert 1 - feature_cosine(model) > 1.5 * (1 - feature_cosine(plain)), (feature_cosine(model), feature_cosine(plain))


def test_a_training_run_with_the_coverage_term_completes_and_charges_its_passes(tiny_config):
    from nag_tf.training import train_lib

    result = train_lib.train(
        tiny_config(
            coverage_loss_weight=1.0,
            coverage_samples=3,
            images_per_perturbation=2,
            diversity_weight=0.0,
            epochs=2,
            steps_per_epoch=3,
        )
    )
    assert result.steps == 6
    assert result.target_image_passes == 6 * 8 * (1 + 2)  # batch 8: its own perturbation and two more
