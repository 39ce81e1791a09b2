"""Dynamic model-data pairs (DM-UAP: Zhang et al., AAAI 2025, "Improving Generalization of Universal
Adversarial Perturbation via Dynamic Maximin Optimization"): before each perturbation step, the frozen
classifier and the photos are moved to where they defend best, and the perturbation must beat that.

- Weights: `weight_steps` normalised-gradient steps *down* a label-smoothed cross-entropy on the clean
  labels, each of size rho / weight_steps, so they move at most rho (L2 over all parameters).
- Photos: an L2 PGD of `image_steps` steps of radius / 8 towards *lower* cross-entropy (more confident
  clean predictions), projected onto the L2 ball of `radius` around each photo and onto [0, 255].

rho and the radius ramp up linearly with training's progress (the authors: rho 0 -> 4, radius 0 -> 25
on the [0, 1] scale, 10 steps each). `DynamicPairs.defended` is a context: inside it the classifier
carries the moved weights; on leaving it, normally, on an error or on a stop, every parameter gets its
saved value back, bit for bit, so nothing leaks into the frozen target. One implementation serves the
DM-UAP baseline (nag_tf.baselines.dm_uap_lib) and NAG's `--dynamic_pairs` (nag_tf.core.model).

Differences from the authors' PyTorch code, on purpose: batch norm stays in inference mode during the
weight steps (nag_tf's targets always run with training=False; the authors' code switched the model to
train mode, i.e. batch statistics, for those steps); pixel values are on the 0-255 scale (radius 25 on
[0, 1] is 6375 here).
"""

import contextlib

import tensorflow as tf

from nag_tf.core.loss_config import AUTHORS_PAIRS

__all__ = ["DynamicPairs", "smoothed_cross_entropy", "model_parameters", "pair_image_passes"]


def pair_image_passes(batch, rho, image_radius, weight_steps, image_steps):
    """Images through the target (forward + backward) that one defended pair of a batch costs."""
    return (weight_steps * (rho > 0) + image_steps * (image_radius > 0)) * batch


def model_parameters(target):
    """The classifier's parameters: what Keras would train if it were not frozen (kernels, biases, batch-norm
    scales and offsets; not the moving statistics), the same set as PyTorch's model.parameters()."""
    classifier = target.classifier
    frozen = classifier.trainable
    classifier.trainable = True
    try:
        return list(classifier.trainable_variables)
    finally:
        classifier.trainable = frozen


def smoothed_cross_entropy(logits, labels, smoothing):
    """mean_n [(1 - s) * -log p_c + s * mean_k -log p_k]: the authors' label-smoothed loss (s = 0.2)."""
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
    nll = -tf.gather(log_probs, labels, batch_dims=1)
    uniform = -tf.reduce_mean(log_probs, axis=-1)
    return tf.reduce_mean((1.0 - smoothing) * nll + smoothing * uniform)


class DynamicPairs:
    """The model-data pair that defends best, for one target.

    Args:
      target: a keras_apps Target (frozen; its classifier's parameters are moved and restored).
      rho: the largest L2 move of all parameters together (at full ramp).
      image_radius: the largest L2 move of each photo on the 0-255 scale (at full ramp).
      weight_steps, image_steps: steps of each (0 switches that part off).
      smoothing: the label smoothing of the weights' loss.
    """

    def __init__(
        self,
        target,
        rho=AUTHORS_PAIRS.rho,
        image_radius=AUTHORS_PAIRS.image_radius,
        weight_steps=AUTHORS_PAIRS.weight_steps,
        image_steps=AUTHORS_PAIRS.image_steps,
        smoothing=0.2,
    ):
        self.target = target
        self.rho, self.image_radius = float(rho), float(image_radius)
        self.weight_steps, self.image_steps = int(weight_steps), int(image_steps)
        self.smoothing = float(smoothing)
        self.parameters = model_parameters(target)
        # The backend's tf.Variables under Keras' variables: what a GradientTape watches and assigns.
        self._variables = [getattr(p, "value", p) for p in self.parameters]
        self._weight_step = tf.function(self._weight_step_fn, reduce_retracing=True)
        self._image_step = tf.function(self._image_step_fn, reduce_retracing=True)

    def _weight_step_fn(self, images, labels, size):
        with tf.GradientTape() as tape:
            tape.watch(self._variables)
            loss = smoothed_cross_entropy(self.target(images).logits, labels, self.smoothing)
        gradients = tape.gradient(loss, self._variables)
        pairs = [(g, p) for g, p in zip(gradients, self._variables) if g is not None]
        norm = tf.linalg.global_norm([g for g, _ in pairs])
        scale = size / (norm + 1e-12)
        for gradient, parameter in pairs:
            parameter.assign_sub(tf.cast(gradient * scale, parameter.dtype))

    def _image_step_fn(self, images, start, labels, radius):
        """One L2 step of radius / 8 towards lower cross-entropy, projected onto the ball around `start`."""
        with tf.GradientTape() as tape:
            tape.watch(images)
            logits = self.target(images).logits
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        gradient = -tape.gradient(loss, images)  # ascend -CE: more confident clean predictions
        norms = tf.norm(tf.reshape(gradient, [tf.shape(gradient)[0], -1]), axis=1)
        moved = images + (radius / 8.0) * gradient / (norms[:, None, None, None] + 1e-10)
        offset = moved - start
        offset_norms = tf.norm(tf.reshape(offset, [tf.shape(offset)[0], -1]), axis=1)
        offset *= tf.minimum(1.0, radius / (offset_norms + 1e-12))[:, None, None, None]
        return tf.clip_by_value(start + offset, 0.0, 255.0)

    @contextlib.contextmanager
    def defended(self, images, labels, ramp=1.0):
        """Moves the weights, yields the moved photos (float32 0-255), and restores every parameter on exit.

        ramp: the share of rho and of the radius in force now (the authors' linear curriculum), in [0, 1]: a
          number (eagerly, the DM-UAP baseline: a zero ramp skips the steps) or a tensor (inside NAG's
          compiled train_step: the steps always run, of size 0 at a zero ramp).
        """
        images = tf.cast(images, tf.float32)
        labels = tf.convert_to_tensor(labels, tf.int32)
        known = isinstance(ramp, (int, float))
        saved = [tf.identity(v) for v in self._variables]
        try:
            rho, radius = self.rho * ramp, self.image_radius * ramp
            if self.rho > 0 and (not known or rho > 0):
                for _ in range(self.weight_steps):
                    self._weight_step(images, labels, tf.cast(rho / self.weight_steps, tf.float32))
            moved = images
            if self.image_radius > 0 and (not known or radius > 0):
                for _ in range(self.image_steps):
                    moved = self._image_step(moved, images, labels, tf.cast(radius, tf.float32))
            yield moved
        finally:
            for variable, value in zip(self._variables, saved):
                variable.assign(value)
