"""Input diversity: a random resize-and-pad of x + delta before the target sees it (ours, not the paper's).

Why: a perturbation that fools only at the exact pixel grid it was trained on
(the pixel-period textures strided transposed convolutions favour) loses most
of its effect once the image is resampled, as a black-box target of another
input size does (Lite1 sees 240 px, Lite2 260 px). Xie et al. ("Improving
Transferability of Adversarial Examples with Input Diversity", CVPR 2019)
resize the adversarial image to a random size r in [S, P) and pad it at a
random offset to P before the forward pass; we then resample to S so the
target's input size is unchanged. Only the training forward pass sees it:
selection and evaluation use x + delta as it is.
"""

import math

import tensorflow as tf

__all__ = ["input_diversity", "padded_size"]


def padded_size(image_size, scale):
    """P, the side the resized image is padded to: ceil(S * scale), at least S + 1."""
    return max(int(math.ceil(image_size * scale)), image_size + 1)


def _resize_and_pad(images, seed, scale):
    """Resize [B, S, S, C] to r x r (r uniform in [S, P)), pad at a random offset to P, resample to S."""
    size = images.shape[1]
    padded = padded_size(size, scale)
    size_seed, offset_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    resized_side = tf.random.stateless_uniform([], size_seed, minval=size, maxval=padded, dtype=tf.int32)
    resized = tf.image.resize(images, tf.stack([resized_side, resized_side]), method="nearest")
    room = padded - resized_side
    top, left = tf.unstack(
        tf.random.stateless_uniform([2], offset_seed, minval=0, maxval=tf.int32.max, dtype=tf.int32) % (room + 1)
    )
    placed = tf.image.pad_to_bounding_box(resized, top, left, padded, padded)
    return tf.image.resize(placed, [size, size], method="bilinear")


def input_diversity(images, seed, probability, scale=1.1):
    """With probability `probability` (one draw per batch), the batch resized-and-padded as Xie et al.; else as is.

    Args:
      images: float32 [B, S, S, C] on the 0-255 scale (x + delta).
      seed: int32/int64 [2], a stateless seed (the step's): the same seed gives the same transform.
      probability: in [0, 1]; 0 returns `images` untouched (the paper).
      scale: P / S, the padded side over the image side (Xie et al.: 330 / 299 = 1.10).

    Returns:
      float32 [B, S, S, C], the same shape as `images`.
    """
    if not probability:
        return images
    seed = tf.cast(seed, tf.int64)
    coin_seed, transform_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    apply = tf.random.stateless_uniform([], coin_seed) < probability
    return tf.cond(apply, lambda: _resize_and_pad(images, transform_seed, scale), lambda: tf.identity(images))
