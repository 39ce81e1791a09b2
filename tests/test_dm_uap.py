"""DM-UAP and its dynamic model-data pairs: radii respected, the ramp, and the frozen target left bit-identical."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_apps
from nag_tf import batches, metrics
from nag_tf.baselines import dm_uap_lib
from nag_tf.dynamic_pairs import DynamicPairs, model_parameters, smoothed_cross_entropy
from nag_tf.errors import NAGError


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
    perturbation, steps, _ = dm_uap_lib.train_dm_uap(target, cached, steps=4, **common)
    assert steps == 4 and np.abs(perturbation).max() <= 10.0 + 1e-5 and np.abs(perturbation).max() > 1.0
    for a, b in zip(before, _weights(target)):
        np.testing.assert_array_equal(a, b)
    calls = iter([False, False, True])
    _, stopped_steps, _ = dm_uap_lib.train_dm_uap(target, cached, steps=10, should_stop=lambda: next(calls), **common)
    assert stopped_steps == 2
    for a, b in zip(before, _weights(target)):
        np.testing.assert_array_equal(a, b)


def test_dm_uap_fools_more_than_its_starting_point(tmp_path):
    from helpers.own_classifier import train_own_classifier, write_grating_folder

    path = str(tmp_path / "own.keras")
    train_own_classifier(epochs=6).save(path)
    target = keras_apps.load_target(keras_apps.canonical_target_name(path, "tf"))
    cached = batches.load_folder(write_grating_folder(tmp_path / "gratings", 60, seed=3), target, 20, "images")
    perturbation, _, _ = dm_uap_lib.train_dm_uap(
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


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"rho": -1.0}, "--rho=-1.0"),
        ({"image_radius": -5.0}, "--image_radius=-5.0"),
        ({"smoothing": 1.0}, "--smoothing=1.0"),
        ({"beta": 0.0}, "--beta=0.0"),
        ({"learning_rate": 0.0}, "--learning_rate=0.0"),
        ({"batch_size": 0}, "--batch_size=0"),
        ({"weight_steps": -1}, "--weight_steps"),
    ],
)
def test_every_dm_uap_flag_has_a_bad_value_case(bad, message):
    values = dict(batch_size=8, rho=4.0, image_radius=6375.0, weight_steps=10, image_steps=10, smoothing=0.2)
    values.update(beta=9.0, learning_rate=25.5)
    values.update(bad)
    with pytest.raises(NAGError, match=message.replace(".", r"\.")):
        dm_uap_lib.check_options(**values)
