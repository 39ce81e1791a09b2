"""Input diversity (nag_tf.augment): off is the identity, on is a seeded resize-and-pad, and training uses it."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_train_config

import keras_apps
from nag_tf import data
from nag_tf.augment import input_diversity, padded_size
from nag_tf.errors import NAGError
from nag_tf.generator import build_generator
from nag_tf.model import LossConfig, NAGModel


def _flat_images(value=100.0):
    return tf.fill([2, 32, 32, 3], value)


def test_off_returns_the_images_unchanged():
    images = tf.random.stateless_uniform([2, 32, 32, 3], seed=[1, 2], maxval=255)
    assert input_diversity(images, tf.constant([0, 0]), 0.0) is images


def test_on_resizes_and_pads_a_flat_image_keeping_its_shape():
    # A flat grey image: inside the placed image the value stays 100; the zero padding shows as darker
    # pixels along at least one border after resampling back to 32 px. Nothing brighter can appear.
    out = input_diversity(_flat_images(), tf.constant([3, 4]), 1.0, scale=1.25).numpy()
    assert out.shape == (2, 32, 32, 3)
    assert out.max() <= 100.0 + 1e-3
    assert out.min() < 50.0  # some padding
    assert np.isclose(out, 100.0, atol=1e-3).mean() > 0.5  # most of the image is the image


def test_same_seed_same_transform_other_seeds_differ():
    images = tf.random.stateless_uniform([2, 32, 32, 3], seed=[1, 2], maxval=255)
    first = input_diversity(images, tf.constant([7, 7]), 1.0).numpy()
    again = input_diversity(images, tf.constant([7, 7]), 1.0).numpy()
    np.testing.assert_array_equal(first, again)
    others = [input_diversity(images, tf.constant([s, 1]), 1.0).numpy() for s in range(6)]
    assert any(np.abs(other - first).max() > 1.0 for other in others)


def test_probability_is_the_share_of_steps_transformed():
    images = _flat_images()
    changed = [
        bool(np.abs(input_diversity(images, tf.constant([s, 0]), 0.3).numpy() - 100.0).max() > 1e-3) for s in range(200)
    ]
    assert 0.2 < np.mean(changed) < 0.4, np.mean(changed)


def test_padded_size_is_at_least_one_pixel_larger():
    assert padded_size(299, 1.104) == 331
    assert padded_size(32, 1.01) == 33


@pytest.mark.parametrize(("field", "value"), [("input_diversity", 1.5), ("input_diversity_scale", 1.0)])
def test_bad_values_are_refused_by_name(image_folder, tmp_path, field, value):
    with pytest.raises(NAGError, match=f"--{field}="):
        tiny_train_config(image_folder, tmp_path, **{field: value}).validate()


def test_the_target_sees_the_transformed_batch_in_training(image_folder):
    target = keras_apps.load_target("tiny_cnn", "none")
    records = data.read_image_folder(image_folder)
    cached = data.cache_with_clean_labels(data.decode_records(records, 32), target, 16, records)
    images = tf.cast(cached.images[:16], tf.float32)
    keras.utils.set_random_seed(0)
    generator = build_generator(32, latent_dim=4, xi=10.0, variant="light", seed=0)
    delta = generator(tf.random.stateless_uniform([16, 4], seed=[5, 5], minval=-1, maxval=1))

    def fooling(**loss):
        model = NAGModel(generator, target, LossConfig(diversity_weight=0.0, **loss), seed=0)
        return float(model.compute_losses(images, cached.clean_labels[:16], delta, tf.constant([0, 0])).fooling)

    plain = fooling()
    assert fooling(input_diversity=0.0) == plain
    assert abs(fooling(input_diversity=1.0, input_diversity_scale=1.5) - plain) > 1e-4


@pytest.mark.parametrize("value", [0, 3, 8])
def test_images_per_perturbation_must_divide_the_batch(image_folder, tmp_path, value):
    # batch 8: k = 3 does not divide it, k = 8 leaves one delta (the shuffle needs two).
    with pytest.raises(NAGError, match="--images_per_perturbation="):
        tiny_train_config(image_folder, tmp_path, images_per_perturbation=value).validate()
