"""DM-UAP and its dynamic model-data pairs: radii respected, the ramp, and the frozen target left bit-identical."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_apps
from nag_tf.baselines import dm_uap_lib, sgd_uap_lib
from nag_tf.core.dynamic_pairs import DynamicPairs, model_parameters, smoothed_cross_entropy
from nag_tf.errors import NAGError
from nag_tf.evaluation import metrics
from nag_tf.inputs import batches


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """A small classifier with batch norm (its moving statistics must survive too), as a model-file target."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, kernel_initializer=keras.initializers.RandomNormal(0, 1, seed=0)),
        ]
    )
    model.layers[1].moving_variance.assign(tf.fill([8], 2.0))  # not the initial value: a restore must keep it
    path = str(tmp_path_factory.mktemp("bn") / "bn.keras")
    model.save(path)
    return keras_apps.load_target(keras_apps.canonical_target_name(path, "tf"))


def _images(count=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, [count, 32, 32, 3]).astype(np.float32)


def _weights(target):
    return [w.numpy().copy() for w in target.classifier.weights]


def test_the_parameters_are_the_trainable_kind_and_the_target_stays_frozen(target):
    names = {p.path.split("/")[-1] for p in model_parameters(target)}
    assert {"kernel", "bias", "gamma", "beta"} <= names and "moving_mean" not in names
    assert not target.classifier.trainable


def test_inside_the_pair_weights_move_within_rho_and_photos_within_the_radius(target):
    images = _images()
    labels = target.predict_labels(images)
    before = [p.numpy().copy() for p in model_parameters(target)]
    pairs = DynamicPairs(target, rho=0.5, image_radius=300.0, weight_steps=4, image_steps=4)
    clean_loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=target(images).logits)
    )
    with pairs.defended(images, labels, ramp=0.5) as moved:
        inside = [p.numpy() for p in pairs.parameters]
        moved_loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=target(moved).logits)
        )
        moved = moved.numpy()
    distance = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(inside, before)))
    assert 0.0 < distance <= 0.5 * 0.5 + 1e-4  # rho at half ramp
    offsets = np.linalg.norm((moved - images).reshape(len(images), -1), axis=1)
    assert np.all(offsets <= 300.0 * 0.5 + 1e-2) and np.any(offsets > 1.0)  # the radius at half ramp
    assert moved.min() >= 0.0 and moved.max() <= 255.0
    assert float(moved_loss) < float(clean_loss)  # the pair defends: more confident clean predictions


def test_every_weight_is_restored_bit_identically_also_on_an_error(target):
    images, before = _images(), _weights(target)
    labels = target.predict_labels(images)
    pairs = DynamicPairs(target, rho=4.0, image_radius=0.0, weight_steps=3, image_steps=0)
    with pairs.defended(images, labels):
        assert any(not np.array_equal(a, b.numpy()) for a, b in zip(before, target.classifier.weights))
    for a, b in zip(before, _weights(target)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(KeyboardInterrupt), pairs.defended(images, labels):
        raise KeyboardInterrupt  # a stop (signals arrive as BaseException) in the middle of a step
    for a, b in zip(before, _weights(target)):
        np.testing.assert_array_equal(a, b)


def test_a_dm_uap_run_and_a_stopped_one_leave_the_target_as_it_was(target, image_folder):
    before = _weights(target)
    cached = batches.load_folder(image_folder, target, 8, "images")
    common = dict(xi=10.0, batch_size=8, weight_steps=2, image_steps=2, image_radius=500.0, seed=0)
    perturbation, steps, _, _ = dm_uap_lib.train_dm_uap(target, cached, steps=4, **common)
    assert steps == 4 and np.abs(perturbation).max() <= 10.0 + 1e-5 and np.abs(perturbation).max() > 1.0
    for a, b in zip(before, _weights(target)):
        np.testing.assert_array_equal(a, b)
    calls = iter([False, False, True])
    _, stopped_steps, _, _ = dm_uap_lib.train_dm_uap(
        target, cached, steps=10, should_stop=lambda: next(calls), **common
    )
    assert stopped_steps == 2
    for a, b in zip(before, _weights(target)):
        np.testing.assert_array_equal(a, b)


def test_dm_uap_fools_more_than_its_starting_point(tmp_path):
    from helpers.own_classifier import train_own_classifier, write_grating_folder

    path = str(tmp_path / "own.keras")
    train_own_classifier(epochs=6).save(path)
    target = keras_apps.load_target(keras_apps.canonical_target_name(path, "tf"))
    cached = batches.load_folder(write_grating_folder(tmp_path / "gratings", 60, seed=3), target, 20, "images")
    perturbation, _, _, _ = dm_uap_lib.train_dm_uap(
        target, cached, xi=16.0, batch_size=20, steps=15, weight_steps=2, image_steps=2, image_radius=300.0, seed=0
    )
    initial = tf.random.stateless_uniform([32, 32, 3], seed=[0, 17], minval=-16.0, maxval=16.0)
    rates, _ = metrics.fooling_rates(tf.stack([initial, tf.constant(perturbation)]), target, cached, 20)
    assert rates[1] > rates[0] + 0.1, rates


def test_the_ramp_on_hand_values():
    assert dm_uap_lib.ramp_fraction(0, 80, 0.0, 0.0) == pytest.approx(1 / 80)
    assert dm_uap_lib.ramp_fraction(79, 80, 0.0, 0.0) == 1.0
    assert dm_uap_lib.ramp_fraction(0, 10**9, 150.0, 600.0) == pytest.approx(0.25)  # a budget: by seconds
    assert dm_uap_lib.ramp_fraction(5, 10, 900.0, 600.0) == 1.0
    assert dm_uap_lib.image_passes_per_step(125, 4.0, 1.0, 10, 10) == 21 * 125


def test_smoothed_cross_entropy_on_hand_values():
    logits = tf.constant([[0.0, 0.0]])  # p = (0.5, 0.5): -log p = log 2 for every class
    assert float(smoothed_cross_entropy(logits, tf.constant([0]), 0.2)) == pytest.approx(np.log(2.0))
    logits = tf.constant([[np.log(3.0), 0.0]])  # p = (0.75, 0.25)
    expected = 0.8 * -np.log(0.75) + 0.2 * (-np.log(0.75) - np.log(0.25)) / 2
    assert float(smoothed_cross_entropy(logits, tf.constant([0]), 0.2)) == pytest.approx(expected, rel=1e-5)


PARAMETRISED_DM_UAP_FIELDS = (
    "rho",
    "image_radius",
    "smoothing",
    "beta",
    "learning_rate",
    "batch_size",
    "weight_steps",
    "ramp_steps",
    "members",
    "member_softness",
)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"rho": -1.0}, "rho=-1.0"),
        ({"image_radius": -5.0}, "image_radius=-5.0"),
        ({"smoothing": 1.0}, "smoothing=1.0"),
        ({"beta": 0.0}, "beta=0.0"),
        ({"learning_rate": 0.0}, "learning_rate=0.0"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"weight_steps": -1}, "weight_steps"),
        ({"ramp_steps": 0}, "ramp_steps=0"),
        ({"members": 0}, "members=0 must be at least 1"),
        ({"member_softness": 0.0}, "member_softness=0.0 must be positive"),
    ],
)
def test_every_dm_uap_setting_has_a_bad_value_case(bad, message):
    import dataclasses

    from nag_tf.methods import dm_uap

    covered = set(PARAMETRISED_DM_UAP_FIELDS)
    assert covered == {f.name for f in dataclasses.fields(dm_uap.Settings)} - {"xi", "norm", "clip", "image_steps"}
    with pytest.raises(NAGError, match=message.replace(".", r"\.")):
        dm_uap.Settings(**bad).validate()


def _nag(target, seed=0, **loss):
    from nag_tf.core.generator import build_generator
    from nag_tf.core.loss_config import LossConfig
    from nag_tf.core.model import NAGModel

    keras.utils.set_random_seed(seed)
    generator = build_generator(32, latent_dim=4, xi=10.0, variant="light", seed=seed)
    model = NAGModel(generator, target, LossConfig(diversity_weight=0.0, fooling_loss="clamped_ce", **loss), seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.optimizer.build(generator.trainable_variables)
    return model


PAIRS = dict(dynamic_pairs=True, pair_rho=2.0, pair_image_radius=800.0, pair_weight_steps=2, pair_image_steps=2)


def test_nag_with_dynamic_pairs_leaves_the_target_bit_identical_also_on_a_stop_and_counts_the_steps(
    target, image_folder
):
    before = _weights(target)
    cached = batches.load_folder(image_folder, target, 8, "images")
    model = _nag(target, **PAIRS)
    assert model.target_images_per_step == 1 + 2 + 2  # the step's pass, then the weights' and the photos' steps
    model.fit(batches.training_batches(cached, 8, seed=0), steps_per_epoch=3, epochs=1, verbose=0)
    assert int(model.step.numpy()) == 3
    for a, b in zip(before, _weights(target)):
        np.testing.assert_array_equal(a, b)
    stop = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: setattr(model, "stop_training", True))
    model.fit(batches.training_batches(cached, 8, seed=1), steps_per_epoch=5, epochs=1, verbose=0, callbacks=[stop])
    assert int(model.step.numpy()) == 4  # stopped after one more step
    for a, b in zip(before, _weights(target)):
        np.testing.assert_array_equal(a, b)


def test_the_pairs_change_the_step_only_as_far_as_their_ramp_allows(target, image_folder):
    """Ramp 0: the step's losses and delta-gradient are the plain model's; ramp 1: they differ."""
    cached = batches.load_folder(image_folder, target, 8, "images")
    images, labels = tf.cast(cached.images[:8], tf.float32), tf.constant(cached.clean_labels[:8])
    plain, paired = _nag(target), _nag(target, **PAIRS)
    delta = plain.generator(plain.sample_latents(8), training=False)
    seed = tf.constant([0, 0])
    reference_values, reference = plain._losses_and_gradient(images, labels, delta, seed, lambda loss: loss)

    def paired_step(ramp):
        paired.pair_ramp.assign(ramp)
        step = tf.function(
            lambda: _defended_losses(paired, images, labels, delta, seed), reduce_retracing=True
        )  # compiled, as inside fit
        return step()

    values, gradient = paired_step(0.0)
    np.testing.assert_allclose(float(values.total), float(reference_values.total), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gradient.numpy(), reference.numpy(), rtol=1e-4, atol=1e-7)
    values, gradient = paired_step(1.0)
    assert abs(float(values.total) - float(reference_values.total)) > 1e-3
    assert not np.allclose(gradient.numpy(), reference.numpy(), rtol=1e-2, atol=1e-6)


def _defended_losses(model, images, labels, delta, seed):
    with model.pairs.defended(images, labels, model.pair_ramp) as moved:
        return model._losses_and_gradient(moved, labels, delta, seed, lambda loss: loss)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(pair_rho=-1.0), "--pair_rho=-1.0 must be >= 0"),
        (dict(pair_image_radius=float("nan")), "--pair_image_radius=nan is not a finite number"),
        (dict(pair_weight_steps=-1), "--pair_weight_steps=-1 and --pair_image_steps=3 must be >= 0"),
        (dict(target="tiny_cnn,tiny_cnn_b"), "use it with a single --target"),
        (dict(strategy="mirrored"), "use --strategy=default, not mirrored"),
    ],
)
def test_every_dynamic_pairs_setting_has_a_bad_value_case(overrides, message):
    from nag_tf.core.config import TrainConfig

    with pytest.raises(NAGError, match=message.replace("(", r"\(")):
        settings = dict(target="tiny_cnn", weights="none", data_dir="demo", dynamic_pairs=True)
        TrainConfig(**{**settings, **overrides}).validate()


def test_a_training_run_with_dynamic_pairs_completes_and_charges_their_passes(tiny_config):
    from nag_tf.training import train_lib

    result = train_lib.train(tiny_config(**PAIRS, diversity_weight=0.0, epochs=2, steps_per_epoch=3))
    assert result.steps == 6
    assert result.target_image_passes == 6 * 8 * (1 + 2 + 2)
    assert 0.0 <= result.heldout_fooling_rate <= 1.0


def test_a_run_continued_with_its_adamw_state_equals_an_uninterrupted_one(target, image_folder):
    """A resume or a fork restores AdamW's moments: Adam's first step from fresh moments moves every pixel by
    the learning rate (25.5 > xi), which throws the perturbation so far away (a fork set fooled 0.23 that way)."""
    from nag_tf.baselines.sgd_uap_lib import RunState

    cached = batches.load_folder(image_folder, target, 8, "images")
    common = dict(xi=10.0, batch_size=8, weight_steps=1, image_steps=1, image_radius=500.0, seed=0, steps=5)
    whole = dm_uap_lib.train_dm_uap(target, cached, **common)
    calls = iter([False] * 3 + [True])
    first = dm_uap_lib.train_dm_uap(target, cached, should_stop=lambda: next(calls), **common)
    assert first.steps == 3 and len(first.optimizer) == 4  # iterations, learning rate, momentum, velocity
    resumed = dm_uap_lib.train_dm_uap(target, cached, start=first, **common)
    fresh = dm_uap_lib.train_dm_uap(target, cached, start=RunState(first.perturbation, 3, first.seconds), **common)
    assert resumed.steps == whole.steps == 5
    # Float tolerance (two runs, the same kernels): the restored state reproduces the uninterrupted run...
    np.testing.assert_allclose(resumed.perturbation, whole.perturbation, atol=1e-3)
    # ...and fresh moments do not (the check can fail).
    assert np.abs(fresh.perturbation - whole.perturbation).max() > 1.0


def test_the_joint_loss_is_the_soft_best_member_per_photo_and_its_gradient_goes_to_that_member():
    from nag_tf.core import losses

    clamped = tf.Variable([[1.0, 9.0], [4.0, 0.0], [2.0, 3.0]])  # min(CE, beta) of [K = 3, B = 2]
    with tf.GradientTape() as tape:
        value = -losses.coverage_loss(-clamped, 0.5)  # what DM-UAP's joint step maximises
    by_hand = np.mean([0.5 * np.log(np.mean(np.exp(np.array(c) / 0.5))) for c in ([1, 4, 2], [9, 0, 3])])
    assert float(value) == pytest.approx(by_hand, rel=1e-6)
    assert np.mean([2.0, 3.0]) < float(value) <= np.mean([4.0, 9.0])  # between the members' mean and the best
    gradient = tape.gradient(value, clamped).numpy()
    assert gradient[:, 0].argmax() == 1 and gradient[:, 1].argmax() == 0  # each photo's best member
    np.testing.assert_allclose(gradient.sum(axis=0), [0.5, 0.5], rtol=1e-5)  # softmax weights / B


def test_members_are_projected_each_onto_its_own_ball():
    members = tf.constant(np.stack([np.full([2, 2, 3], 2.0), np.full([2, 2, 3], 30.0)]), tf.float32)
    projected = sgd_uap_lib.project_members(members, 10.0, "l2", 2).numpy()
    assert np.linalg.norm(projected[0]) == pytest.approx(np.linalg.norm(members[0]), rel=1e-6)  # inside: kept
    assert np.linalg.norm(projected[1]) == pytest.approx(10.0, rel=1e-5)
