"""NAG's losses as pure functions (Mopuri et al., CVPR 2018, Sec. 3).

Notation of the paper: benign batch X = {x_n}, adversarial batch
X_A = {x_n + delta_n}, shuffled batch X_S = {x_n + delta_pi(n)} where pi
permutes the *perturbations* only. q' is the classifier's softmax on a
perturbed image, c the label it gives the clean image.
"""

import tensorflow as tf

__all__ = [
    "fooling_loss",
    "targeted_fooling_loss",
    "similarity_penalty",
    "diversity_loss",
    "derangement",
    "shuffle_indices",
    "FOOLING_REDUCTIONS",
    "DIVERSITY_DISTANCES",
    "SHUFFLE_MODES",
]

FOOLING_REDUCTIONS = ("per_sample", "batch_mean")
DIVERSITY_DISTANCES = ("cosine", "squared_l2")
SHUFFLE_MODES = ("derangement", "replacement")

# Keeps log(1 - q) finite when the classifier is certain (q == 1 in float32).
_EPSILON = 1e-7


def fooling_loss(adversarial_probs, clean_labels, reduction="per_sample"):
    """Fooling loss L_f = -log(1 - q'_c), the paper's Eq. (1).

    Args:
      adversarial_probs: float [B, K] softmax of the classifier on x + delta.
      clean_labels: int [B] label c the classifier gives the clean image x.
      reduction: "per_sample" (the paper: mean over n of -log(1 - q'_c(n)))
        or "batch_mean" (the reference code: -log(1 - mean over n of q'_c(n))).

    Returns:
      Scalar float32 loss; 0 when the clean label has probability 0.
    """
    probs = tf.cast(adversarial_probs, tf.float32)
    q_clean = tf.gather(probs, tf.cast(clean_labels, tf.int32), batch_dims=1)
    if reduction == "per_sample":
        return tf.reduce_mean(-tf.math.log(tf.maximum(1.0 - q_clean, _EPSILON)))
    if reduction == "batch_mean":
        return -tf.math.log(tf.maximum(1.0 - tf.reduce_mean(q_clean), _EPSILON))
    raise ValueError(f"unknown fooling reduction {reduction!r}; expected one of {FOOLING_REDUCTIONS}")


def targeted_fooling_loss(adversarial_probs, target_class, reduction="per_sample"):
    """Targeted fooling loss -log q'_t: pushes every perturbed image towards class t.

    Args:
      adversarial_probs: float [B, K] softmax of the classifier on x + delta.
      target_class: int scalar t.
      reduction: "per_sample" (mean over n of -log q'_t(n)) or "batch_mean"
        (-log of the mean over n of q'_t(n)), mirroring `fooling_loss`.

    Returns:
      Scalar float32 loss; 0 when every image is classified as t with certainty.
    """
    probs = tf.cast(adversarial_probs, tf.float32)
    q_target = probs[:, int(target_class)]
    if reduction == "per_sample":
        return tf.reduce_mean(-tf.math.log(tf.maximum(q_target, _EPSILON)))
    if reduction == "batch_mean":
        return -tf.math.log(tf.maximum(tf.reduce_mean(q_target), _EPSILON))
    raise ValueError(f"unknown fooling reduction {reduction!r}; expected one of {FOOLING_REDUCTIONS}")


def diversity_loss(adversarial_features, shuffled_features, distance="cosine"):
    """Diversity loss L_d = -mean_n d(f(x_n + delta_n), f(x_n + delta_pi(n))), Eq. (2).

    The paper sums over the batch; the mean keeps lambda independent of the
    batch size (a constant factor).

    Args:
      adversarial_features: float [B, ...] features f^l of the adversarial batch.
      shuffled_features: float [B, ...] features f^l of the shuffled batch.
      distance: "cosine" (the paper: 1 - cosine similarity) or "squared_l2"
        (the reference code: mean squared difference over the features).

    Returns:
      Scalar float32 loss, <= 0; more negative means more diverse.
    """
    batch = tf.shape(adversarial_features)[0]
    a = tf.reshape(tf.cast(adversarial_features, tf.float32), [batch, -1])
    s = tf.reshape(tf.cast(shuffled_features, tf.float32), [batch, -1])
    if distance == "cosine":
        cosine = tf.reduce_sum(
            tf.math.l2_normalize(a, axis=1, epsilon=1e-12) * tf.math.l2_normalize(s, axis=1, epsilon=1e-12),
            axis=1,
        )
        return -tf.reduce_mean(1.0 - cosine)
    if distance == "squared_l2":
        return -tf.reduce_mean(tf.square(a - s))
    raise ValueError(f"unknown diversity distance {distance!r}; expected one of {DIVERSITY_DISTANCES}")


def similarity_penalty(perturbations, shuffled_perturbations, margin=-1.0):
    """mean_n max(0, cos(delta_n, delta_pi(n)) - margin): penalises pairs of perturbations that point the same way.

    Ours, not the paper's. With margin = -1 it is 1 + mean cosine, the cosine
    distance of Eq. (2) applied to the perturbations themselves (up to a
    constant). A margin in (-1, 1) only penalises pairs more similar than it,
    so a generator that is diverse enough spends all its effort on fooling
    and gains nothing from antipodal pairs (delta, -delta).
    """
    batch = tf.shape(perturbations)[0]
    a = tf.math.l2_normalize(tf.reshape(tf.cast(perturbations, tf.float32), [batch, -1]), axis=1, epsilon=1e-12)
    s = tf.math.l2_normalize(tf.reshape(tf.cast(shuffled_perturbations, tf.float32), [batch, -1]), axis=1, epsilon=1e-12)
    return tf.reduce_mean(tf.nn.relu(tf.reduce_sum(a * s, axis=1) - margin))


def derangement(batch_size, seed):
    """A random permutation pi of range(batch_size) with pi(n) != n for all n.

    Built as p o shift_k o p^-1 for a random permutation p and a random shift
    k in [1, B-1]: every derangement made of one B-cycle is reachable, and no
    rejection loop is needed inside a compiled step.

    Args:
      batch_size: int scalar tensor B >= 2.
      seed: int32 [2] seed for the stateless random ops.

    Returns:
      int32 [B] permutation without fixed points.
    """
    batch_size = tf.cast(batch_size, tf.int32)
    seeds = tf.random.experimental.stateless_split(seed, 2)
    order = tf.argsort(tf.random.stateless_uniform([batch_size], seed=seeds[0]))
    shift = tf.random.stateless_uniform([], seed=seeds[1], minval=1, maxval=tf.maximum(batch_size, 2), dtype=tf.int32)
    shifted = tf.roll(order, shift=-shift, axis=0)
    return tf.gather(shifted, tf.math.invert_permutation(order))


def shuffle_indices(batch_size, seed, mode="derangement"):
    """Indices pi for the shuffled batch X_S: a derangement (paper) or with replacement (reference code)."""
    if mode == "derangement":
        return derangement(batch_size, seed)
    if mode == "replacement":
        return tf.random.stateless_uniform([batch_size], seed=seed, minval=0, maxval=batch_size, dtype=tf.int32)
    raise ValueError(f"unknown shuffle mode {mode!r}; expected one of {SHUFFLE_MODES}")
