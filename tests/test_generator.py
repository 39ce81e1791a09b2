"""The generator: shapes per target, the exact L-inf budget in 0-255 space, variants."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_apps
from nag_tf.core.generator import build_generator
from nag_tf.core.model import perturb

# How far one 0-255 unit moves a pixel after each preprocessing mode.
_UNIT_AFTER_PREPROCESSING = {"caffe": 1.0, "none": 1.0, "tf": 1 / 127.5, "lite": 1 / 128.0}


def _saturate(generator, factor=1e4):
    """Scales the last layer so tanh saturates: the budget must hold even then."""
    layer = generator.get_layer("to_rgb")
    layer.set_weights([w * factor for w in layer.get_weights()])


@pytest.mark.parametrize("name", keras_apps.known_targets())
def test_perturbation_budget_holds_in_pixel_space_for_every_target(name):
    spec = keras_apps.get_spec(name)
    xi = 10.0
    generator = build_generator(spec.image_size, latent_dim=10, xi=xi, variant="light", seed=0)
    _saturate(generator)
    z = tf.random.stateless_uniform([2, 10], seed=[1, 2], minval=-1, maxval=1)
    delta = generator(z, training=False)
    assert delta.shape == (2, spec.image_size, spec.image_size, 3)
    assert float(tf.reduce_max(tf.abs(delta))) <= xi + 1e-5
    assert float(tf.reduce_max(tf.abs(delta))) > 0.9 * xi  # saturated: the bound is tight, not vacuous
    images = tf.random.stateless_uniform([2, spec.image_size, spec.image_size, 3], seed=[3, 4], maxval=255.0)
    adversarial = perturb(images, delta)
    assert float(tf.reduce_min(adversarial)) >= 0 and float(tf.reduce_max(adversarial)) <= 255
    # Added before preprocessing: after it, the change is xi times the mode's unit, whatever the mode.
    change = tf.abs(spec.preprocess(tf.identity(adversarial)) - spec.preprocess(tf.identity(images)))
    assert float(tf.reduce_max(change)) <= xi * _UNIT_AFTER_PREPROCESSING[spec.preprocess_mode] * (1 + 1e-4)


@pytest.mark.parametrize("variant", ["paper", "reference", "light"])
def test_variants_build_at_224_with_the_papers_chain(variant):
    generator = build_generator(224, latent_dim=100 if variant == "reference" else 10, xi=10, variant=variant, seed=0)
    names = [layer.name for layer in generator.layers]
    assert "resize" not in names  # 224 = 7 * 2^5 is generated directly
    for resolution in (7, 14, 28, 56, 112, 224):
        assert f"deconv_{resolution}" in names
    assert ("noise_4" in names) == (variant == "reference")
    assert generator.get_layer("deconv_224").filters == (64 if variant != "light" else 8)


def test_non_chain_sizes_are_upsampled_before_tanh():
    generator = build_generator(299, latent_dim=10, xi=10, variant="light", seed=0)
    assert generator.output_shape == (None, 299, 299, 3)
    names = [layer.name for layer in generator.layers]
    assert names.index("resize") < names.index("perturbation")


def test_same_seed_same_weights_and_different_z_different_delta():
    a = build_generator(32, latent_dim=4, xi=10, variant="paper", seed=3)
    b = build_generator(32, latent_dim=4, xi=10, variant="paper", seed=3)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    z = tf.constant([[1.0, -1.0, 0.5, 0.0], [-1.0, 1.0, -0.5, 0.3]])
    delta = a(z, training=True).numpy()
    assert not np.allclose(delta[0], delta[1])


def test_unknown_variant_raises():
    with pytest.raises(ValueError, match="variant"):
        build_generator(32, variant="huge")


def test_batch_norm_calibration_makes_inference_match_training_mode():
    from nag_tf.core.generator import calibrate_batch_norm

    generator = build_generator(28, latent_dim=4, xi=10, variant="paper", seed=0)
    z = tf.random.stateless_uniform([64, 4], seed=[9, 9], minval=-1, maxval=1)
    # Shift the generator's statistics far from the initial moving averages (mean 0, variance 1).
    dense = generator.get_layer("fc")
    dense.set_weights([w * 30 + 1 for w in dense.get_weights()])
    training = generator(z, training=True).numpy()
    stale = generator(z, training=False).numpy()
    calibrate_batch_norm(generator, samples=256, batch_size=32, seed=1)
    calibrated = generator(z, training=False).numpy()
    stale_error = np.abs(stale - training).mean()
    calibrated_error = np.abs(calibrated - training).mean()
    assert calibrated_error < 0.2 * stale_error, (stale_error, calibrated_error)
    assert generator.get_layer("fc_bn").momentum == 0.99  # restored


def test_batch_norm_calibration_sets_the_mean_of_each_chunks_batch_statistics():
    """On hand values for the first batch norm (its input does not depend on any other batch norm): the
    moving mean and variance are the average over the chunks of each chunk's batch mean and variance."""
    from nag_tf.core import latent
    from nag_tf.core.generator import calibrate_batch_norm

    generator = build_generator(28, latent_dim=4, xi=10, variant="paper", seed=0)
    norm = generator.get_layer("fc_bn")
    before_norm = keras.Model(generator.input, norm.input)
    chunks = [before_norm(latent.stateless([32, 4], [3, k])).numpy() for k in range(4)]
    axes = tuple(range(chunks[0].ndim - 1))
    calibrate_batch_norm(generator, samples=128, batch_size=32, seed=3)
    np.testing.assert_allclose(
        norm.moving_mean.numpy(), np.mean([c.mean(axis=axes) for c in chunks], axis=0), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        norm.moving_variance.numpy(), np.mean([c.var(axis=axes) for c in chunks], axis=0), rtol=1e-3, atol=1e-5
    )
    assert norm.momentum == 0.99  # restored


def test_a_nag_models_calibration_measures_chunks_of_one_training_steps_perturbations():
    """8 perturbations a step (batch 32, 4 images each): the statistics are those of 8 chunks of 8, the
    batches training normalised with, drawn with the model's "batch_norm_calibration" stream."""
    from nag_tf import seeds
    from nag_tf.core import latent
    from nag_tf.core.model import NAGModel

    generator = build_generator(32, latent_dim=4, xi=10, variant="paper", seed=0)
    model = NAGModel(generator, keras_apps.load_target("tiny_cnn", "none"), seed=5, calibration_batch=8)
    norm = generator.get_layer("fc_bn")
    before_norm = keras.Model(generator.input, norm.input)
    key = seeds.derive(5, "batch_norm_calibration")
    chunks = [before_norm(latent.stateless([8, 4], [key, k])).numpy() for k in range(8)]
    axes = tuple(range(chunks[0].ndim - 1))
    model.prepare_for_inference()
    np.testing.assert_allclose(
        norm.moving_variance.numpy(), np.mean([c.var(axis=axes) for c in chunks], axis=0), rtol=1e-3, atol=1e-5
    )


def test_base_perturbation_starts_at_zero_is_shared_by_every_z_and_keeps_the_budget():
    from nag_tf.core.generator import BasePerturbation

    plain = build_generator(32, latent_dim=4, xi=10, variant="light", seed=3)
    based = build_generator(32, latent_dim=4, xi=10, variant="light", seed=3, base_multiplier=100.0)
    z = tf.random.stateless_uniform([3, 4], seed=[5, 6], minval=-1, maxval=1)
    # b = 0 at the start: the untrained generator is the plain one.
    np.testing.assert_allclose(based(z, training=False).numpy(), plain(z, training=False).numpy(), atol=1e-6)
    layer = based.get_layer("base_perturbation")
    assert isinstance(layer, BasePerturbation)
    names = [x.name for x in based.layers]
    assert names.index("base_perturbation") == names.index("perturbation") - 1  # before the tanh
    # A large b drives every sample to the same sign pattern (shared by all z), within the budget.
    pattern = np.sign(np.random.default_rng(0).standard_normal((32, 32, 3))).astype("float32")
    layer.set_weights([pattern])  # b = 100 * pattern: tanh saturates to xi * pattern
    delta = based(z, training=False).numpy()
    np.testing.assert_allclose(delta, np.broadcast_to(10.0 * pattern, delta.shape), atol=1e-4)
    assert np.abs(delta).max() <= 10.0 + 1e-5


def test_base_perturbation_moves_its_own_step_per_adam_step():
    """generator_for sets multiplier = step / lr, so one Adam step moves b by about `step` (Adam's steps ~ lr)."""
    import keras

    step, learning_rate = 0.1, 1e-3
    generator = build_generator(32, latent_dim=4, xi=10, variant="light", seed=0, base_multiplier=step / learning_rate)
    layer = generator.get_layer("base_perturbation")
    optimizer = keras.optimizers.Adam(learning_rate)
    z = tf.random.stateless_uniform([4, 4], seed=[1, 2], minval=-1, maxval=1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(generator(z, training=True))
    gradients = tape.gradient(loss, generator.trainable_variables)
    optimizer.apply(gradients, generator.trainable_variables)
    b = layer.multiplier * layer.get_weights()[0]
    # Descending sum(delta): every pixel of b with a gradient moves down by the step (Adam's first step is
    # lr * sign); a pixel whose tanh is saturated in float32 (here under 1%) has none and stays.
    moving = np.abs(gradients[-1].numpy()) > 1e-3
    assert moving.mean() > 0.99
    np.testing.assert_allclose(b[moving], -step, rtol=1e-2)
