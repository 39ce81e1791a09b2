"""The latent prior z ~ U[-1, 1]^d of NAG's generator (paper Sec. 3), defined once.

Every place that draws z (training batches, the model's own draws, validation, evaluation, batch-norm
calibration, hardening, the exports' signatures) draws it through this module, so the prior cannot drift
apart between them. `numbered` is the one definition of "perturbation number k".
"""

import tensorflow as tf

__all__ = ["LOW", "HIGH", "draw", "stateless", "numbered"]

LOW, HIGH = -1.0, 1.0


def draw(rng, count, latent_dim):
    """[count, latent_dim] z from a `tf.random.Generator` (checkpointed with the model, so a resumed run
    draws what an uninterrupted one would)."""
    return rng.uniform([count, latent_dim], minval=LOW, maxval=HIGH)


def stateless(shape, seed):
    """z of any `shape` drawn statelessly from `seed` (int [2]): the same seed, the same z, anywhere."""
    return tf.random.stateless_uniform(shape, seed=seed, minval=LOW, maxval=HIGH)


def numbered(numbers, latent_dim):
    """z number k, drawn statelessly from the seed (k, 0), for each k in `numbers`: [len(numbers), d].

    Evaluation, training reports and pictures, the collapse check and every exported signature (`sample`,
    `perturb` with seed k) draw their z here, so perturbation k of a generator is the same everywhere.
    """
    numbers = tf.cast(numbers, tf.int64)
    return tf.map_fn(
        lambda k: stateless([latent_dim], tf.stack([k, tf.constant(0, tf.int64)])),
        numbers,
        fn_output_signature=tf.TensorSpec([latent_dim], tf.float32),
    )
