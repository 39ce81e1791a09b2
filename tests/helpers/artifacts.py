"""Small artifacts tests build again and again: a generator whose outputs mean something, a run folder."""

import os

from nag_tf.core.config import TrainConfig, generator_for
from nag_tf.core.generator import build_generator

XI = 10.0


def scaled_generator(seed=0, image_size=32, latent_dim=4):
    """A `light` generator with its last layer scaled 200x: untrained ones output ~1e-4 xi, so comparisons
    (two versions, an export and its Keras model) would mean nothing."""
    generator = build_generator(image_size, latent_dim=latent_dim, xi=XI, variant="light", seed=seed)
    last = generator.get_layer("to_rgb")
    last.set_weights([w * 200.0 for w in last.get_weights()])
    return generator


def write_run_dir(directory, generator=None, **choices):
    """A training log directory as training leaves it (config.json, best.weights.h5), without the training.

    generator: the weights to store (default: an untrained one); choices: TrainConfig fields (target_class...).
    """
    config = TrainConfig(
        target="tiny_cnn", weights="none", latent_dim=4, generator="light", logdir=str(directory), **choices
    )
    with open(os.path.join(directory, "config.json"), "w") as handle:
        handle.write(config.to_json())
    (generator or generator_for(config)).save_weights(os.path.join(directory, "best.weights.h5"))
    return directory
