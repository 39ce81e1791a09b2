"""Aggregated inner directions (nag_tf.core.aggregate, --inner_steps): the walk and the sum on hand values."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_apps
from nag_tf.core.aggregate import INNER_STEP_FRACTION, aggregated_gradient, inner_minibatches
from nag_tf.core.generator import build_generator
from nag_tf.core.loss_config import LossConfig
from nag_tf.core.model import NAGModel
from nag_tf.inputs import batches, data


def test_each_perturbation_gets_its_own_minibatch_of_distinct_images():
    chosen = inner_minibatches(5, 12, 4, tf.constant([3, 4])).numpy()
    assert chosen.shape == (5, 4)
    assert all(len(set(row)) == 4 for row in chosen) and chosen.min() >= 0 and chosen.max() < 12
    assert len({tuple(row) for row in chosen}) > 1  # drawn independently per perturbation


def test_the_inner_walk_and_the_sum_of_its_gradients_on_a_quadratic():
    """loss = 1/2 |delta - c|^2 per perturbation: gradient delta - c, each inner step delta -= alpha sign(delta - c)."""
    xi, steps = 10.0, 3
    alpha = INNER_STEP_FRACTION * xi
    delta = np.array([[0.0, 4.0, -9.5, 2.5]], np.float32).reshape(1, 1, 2, 2)
    centre = np.array([3.0, 4.0, -20.0, 0.0], np.float32).reshape(1, 1, 2, 2)
    seen_images = []

    def loss_gradient(current, images, labels):
        seen_images.append(images.shape[0])
        return current - centre

    total = aggregated_gradient(
        loss_gradient, tf.constant(delta), tf.zeros([6, 1, 2, 2]), tf.zeros([6], tf.int32), xi, steps, 2, [0, 0]
    )
    walk, expected = delta.copy(), np.zeros_like(delta)
    for _ in range(steps):
        gradient = walk - centre
        expected += gradient
        walk = np.clip(walk - alpha * np.sign(gradient), -xi, xi)
    np.testing.assert_allclose(total.numpy(), expected, atol=1e-5)
    # By hand for the first pixel: gradients -3, -2, -1 (it walks 0 -> 1 -> 2): sum -6.
    assert total.numpy().flat[0] == pytest.approx(-6.0)
    # The third pixel walks to the budget's edge (-9.5 -> -10, clipped) and stays: 10.5 + 10 + 10.
    assert total.numpy().flat[2] == pytest.approx(10.5 + 10.0 + 10.0)
    assert set(seen_images) == {2}  # m = 2 images for the one perturbation at every inner step


@pytest.fixture(scope="module")
def tiny(image_folder):
    target = keras_apps.load_target("tiny_cnn", "none")
    records = data.read_image_folder(image_folder)
    return target, batches.cache_with_clean_labels(data.decode_records(records, 32), target, 16, records)


def _step_gradient(target, cached, **loss):
    """The generator's weights after one step from the same start, and the model."""
    keras.utils.set_random_seed(0)
    generator = build_generator(32, latent_dim=4, xi=10.0, variant="light", seed=0)
    model = NAGModel(generator, target, LossConfig(diversity_weight=0.0, fooling_loss="clamped_ce", **loss), seed=0)
    model.compile(optimizer=keras.optimizers.SGD(1.0))
    model.optimizer.build(generator.trainable_variables)
    before = [w.numpy().copy() for w in generator.trainable_variables]
    model.fit(batches.training_batches(cached, 8, seed=0), steps_per_epoch=1, epochs=1, verbose=0)
    return [b - w.numpy() for b, w in zip(before, generator.trainable_variables)], model


def test_inner_steps_add_their_direction_to_the_generators_update_and_are_counted(tiny):
    target, cached = tiny
    plain, plain_model = _step_gradient(target, cached)
    inner, inner_model = _step_gradient(target, cached, inner_steps=2, inner_batch=4)
    assert any(not np.allclose(a, b, atol=1e-7) for a, b in zip(plain, inner))  # the update changed
    assert all(np.all(np.isfinite(g)) for g in inner)
    # Target passes per batch image: the batch once, plus K * m for each perturbation (one image each here).
    assert plain_model.target_images_per_step == 1 and isinstance(plain_model.target_images_per_step, int)
    assert inner_model.target_images_per_step == 1 + 2 * 4


def test_inner_batch_is_checked_against_the_batch_only_when_inner_steps_are_on():
    from nag_tf.core.config import TrainConfig
    from nag_tf.errors import NAGError

    base = dict(target="tiny_cnn", weights="none", data_dir="demo", batch_size=4)
    TrainConfig(**base).validate()  # the default inner_batch (8) with inner steps off: a batch of 4 is fine
    with pytest.raises(NAGError, match="--inner_batch=8 draws more photos than --batch_size=4"):
        TrainConfig(**base, inner_steps=2).validate()
