"""Input diversity (nag_tf.core.augment): off is the identity, on is a seeded resize-and-pad.

That training feeds the target the transformed batch is in test_model.py; bad values in
faults/test_bad_config.py.
"""

import numpy as np
import tensorflow as tf

from nag_tf.core.augment import input_diversity, padded_size


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
