"""What perturbs a defence's training photos, one draw per photo per batch, inside the training step.

Every draw has `draw(batch) -> [batch, S, S, 3]` on the 0-255 scale (the interface of
`nag_tf.hardening.harden_model`'s schemes, whose `GeneratorSamples` gives NAG's fresh samples):
  NAG samples     a fresh z for every photo of every batch: the distribution itself;
  set members     one of K fixed perturbations (K SGA or DM-UAP runs) for each photo, drawn uniformly;
  random signs    +-xi on every pixel, fresh for every photo: the control (is adversarial structure needed?).
"""

import tensorflow as tf

from nag_tf.hardening.harden_model import GeneratorSamples

__all__ = ["GeneratorSamples", "SetMembers", "RandomSigns"]


class SetMembers:
    """K fixed perturbations; each photo of a batch gets one, uniformly at random."""

    def __init__(self, perturbations, seed=0):
        self.perturbations = tf.constant(perturbations, tf.float32)  # [K, S, S, 3]
        self.rng = tf.random.Generator.from_seed(seed)

    def draw(self, batch):
        count = tf.shape(self.perturbations, out_type=tf.int64)[0]
        return tf.gather(self.perturbations, self.rng.uniform([batch], 0, count, dtype=tf.int64))


class RandomSigns:
    """+-xi on each pixel and channel, fresh for every photo (the L-inf budget's corners, no structure)."""

    def __init__(self, image_size, xi, seed=0):
        self.shape = [int(image_size), int(image_size), 3]
        self.xi = float(xi)
        self.rng = tf.random.Generator.from_seed(seed)

    def draw(self, batch):
        coin = self.rng.uniform(tf.concat([[batch], self.shape], 0)) < 0.5
        return tf.where(coin, self.xi, -self.xi)
