"""What perturbs a defence's training photos, one draw per photo per batch, inside the training step.

Every draw has `draw(batch) -> [batch, S, S, 3]` on the 0-255 scale (the interface of
`nag_tf.hardening.harden_model`'s schemes, whose `GeneratorSamples` gives NAG's fresh samples):
  NAG samples     a fresh z for every photo of every batch: the distribution itself;
  set members     one of K fixed perturbations (K SGA or DM-UAP runs) for each photo, drawn uniformly;
  random signs    +-xi on every pixel, fresh for every photo: the control (is adversarial structure needed?);
  a mixture       each photo's perturbation from one of several draws (several generators; NAG samples and
                  signs), the levers against a detector that learns one generator's pattern.
"""

import tensorflow as tf

from nag_tf.hardening.harden_model import GeneratorSamples

__all__ = ["GeneratorSamples", "SetMembers", "RandomSigns", "Mixture"]


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


class Mixture:
    """Each photo of a batch takes its perturbation from one of `draws`, uniformly at random.

    Every component draws the whole batch and a gather keeps one row per photo: the components are
    generators or sign noise, whose cost is small beside the target's passes in the same training step.
    """

    def __init__(self, draws, seed=0):
        if len(draws) < 2:
            raise ValueError(f"a mixture needs at least two draws, got {len(draws)}")
        self.draws = list(draws)
        self.rng = tf.random.Generator.from_seed(seed)

    def draw(self, batch):
        drawn = tf.stack([component.draw(batch) for component in self.draws])  # [C, batch, S, S, 3]
        pick = self.rng.uniform([batch], 0, len(self.draws), dtype=tf.int64)
        return tf.gather_nd(drawn, tf.stack([pick, tf.range(tf.cast(batch, tf.int64))], axis=1))
