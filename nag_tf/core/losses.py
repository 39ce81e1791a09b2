"""NAG's losses as pure functions (Mopuri et al., CVPR 2018, Sec. 3).

Notation of the paper: benign batch X = {x_n}, adversarial batch
X_A = {x_n + delta_n}, shuffled batch X_S = {x_n + delta_pi(n)} where pi
permutes the *perturbations* only. q' is the classifier's softmax on a
perturbed image, c the label it gives the clean image.

Long (over 300 lines) because every loss the run can be configured with lives here, each a pure
function with its hand-checked formula in its docstring (tests/test_losses.py); none calls the others'
internals.
"""

import tensorflow as tf

from nag_tf.choices import (
    DIVERSITY_DISTANCES,
    FEATURE_LOSSES,
    FOOLING_LOSSES,
    FOOLING_REDUCTIONS,
    PERTURBATION_SIMILARITIES,
    SHUFFLE_MODES,
)

__all__ = [
    "fooling_loss",
    "per_image_fooling_loss",
    "coverage_loss",
    "targeted_fooling_loss",
    "similarity_penalty",
    "diversity_loss",
    "label_entropy",
    "derangement",
    "shuffle_indices",
    "FOOLING_REDUCTIONS",
    "FOOLING_LOSSES",
    "log_one_minus_softmax",
    "pair_cosines",
    "feature_loss",
    "dual_ascent",
    "DIVERSITY_DISTANCES",
    "SHUFFLE_MODES",
    "PERTURBATION_SIMILARITIES",
    "FEATURE_LOSSES",
]

# Clamp of the cross-entropy in the "clamped_ce" fooling loss (SGD-UAP uses 12, SGA 9).
CLAMPED_CE_BETA = 9.0
# Margin past which "logit_margin" stops pushing an image (Carlini & Wagner's kappa). Ours, set
# before any run, between the decision boundary (0) and the clamped cross-entropy's stop (~9).
LOGIT_MARGIN_KAPPA = 5.0


def log_one_minus_softmax(logits, labels):
    """log(1 - softmax(logits)_c) for each row, computed stably from the logits.

    1 - q_c = sum_{j != c} exp(z_j) / sum_j exp(z_j), so log(1 - q_c) =
    logsumexp_{j != c} z_j - logsumexp_j z_j. Unlike log(max(1 - q_c, eps)),
    whose gradient is exactly 0 once q_c rounds to 1 in float32 (a logit margin
    of ~16), this keeps a gradient on the images the classifier is surest of,
    the hardest ones to fool.

    Args:
      logits: float [B, K].
      labels: int [B] the class c of each row.

    Returns:
      float32 [B].
    """
    logits, _, others = _clean_and_other_logits(logits, labels)
    return tf.reduce_logsumexp(others, axis=-1) - tf.reduce_logsumexp(logits, axis=-1)


def _clean_and_other_logits(logits, labels):
    """float32 logits [B, K], each row's clean logit z_c [B], and the logits with z_c set to -inf [B, K]."""
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.int32)
    is_label = tf.one_hot(labels, tf.shape(logits)[-1], on_value=True, off_value=False)
    others = tf.where(is_label, tf.constant(-float("inf")), logits)
    return logits, tf.gather(logits, labels, axis=-1, batch_dims=1), others


def fooling_loss(adversarial_logits, clean_labels, reduction="per_sample", kind="paper"):
    """Fooling loss: the paper's L_f = -log(1 - q'_c) (Eq. 1), or a clamped cross-entropy.

    Args:
      adversarial_logits: float [B, K] logits of the classifier on x + delta.
      clean_labels: int [B] label c the classifier gives the clean image x.
      reduction: "per_sample" (the paper: mean over n of -log(1 - q'_c(n)))
        or "batch_mean" (the reference code: -log(1 - mean over n of q'_c(n))).
      kind: "paper" (-log(1 - q'_c), computed stably from the logits) or
        "clamped_ce" (ours, the objective of SGD-UAP and SGA: -min(CE(q', c),
        beta), which keeps pushing an image until its clean label's
        probability is e^-beta; per-sample only), or "logit_margin" (ours,
        Carlini & Wagner's f6: mean_n max(z_c - max_{j != c} z_j, -kappa),
        per-sample only). Why a third: the cross-entropy's gradient on an
        image is ~(1 - q_c), near 0 on the images the classifier is surest of,
        so once most photos are fooled the few robust ones hardly pull; the
        margin pulls every image not yet fooled by kappa with the same
        strength, and none past it. Measured: a tie with clamped_ce at
        1800 s, slower at first (docs/experiments/2026-12-01-fourth-split-and-levers-1800s.md).

    Returns:
      Scalar float32 loss; 0 when the clean label has probability 0
      (-beta for "clamped_ce", -kappa for "logit_margin").
    """
    if kind in ("clamped_ce", "logit_margin") and reduction != "per_sample":
        raise ValueError(f"the {kind} fooling loss is per-sample; use --fooling_reduction=per_sample")
    if kind in ("clamped_ce", "logit_margin"):
        return tf.reduce_mean(per_image_fooling_loss(adversarial_logits, clean_labels, kind))
    if kind != "paper":
        raise ValueError(f"unknown fooling loss {kind!r}; expected one of {FOOLING_LOSSES}")
    return _negative_log_mean(log_one_minus_softmax(adversarial_logits, clean_labels), reduction)  # log(1 - q'_c)


def per_image_fooling_loss(adversarial_logits, clean_labels, kind="paper"):
    """Each image's fooling loss [B], the terms `fooling_loss` averages with reduction="per_sample":
    -log(1 - q'_c), -min(CE(q', c), beta) or max(z_c - max_{j != c} z_j, -kappa) for `kind`."""
    if kind == "logit_margin":
        _, clean_logit, others = _clean_and_other_logits(adversarial_logits, clean_labels)
        return tf.maximum(clean_logit - tf.reduce_max(others, axis=-1), -LOGIT_MARGIN_KAPPA)
    if kind == "clamped_ce":
        cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.cast(clean_labels, tf.int32), logits=tf.cast(adversarial_logits, tf.float32)
        )
        return -tf.minimum(cross_entropy, CLAMPED_CE_BETA)
    if kind != "paper":
        raise ValueError(f"unknown fooling loss {kind!r}; expected one of {FOOLING_LOSSES}")
    return -log_one_minus_softmax(adversarial_logits, clean_labels)


def coverage_loss(per_image_losses, softness):
    """Ours (issue #50): mean over photos of the soft minimum, over the M perturbations each photo met, of its
    fooling loss: -tau log((1/M) sum_m exp(-l_mn / tau)). What coverage@K rewards: a photo counts as fooled
    when the best of the set fools it, so its gradient goes (softly, by softmax(-l / tau) over m) to the
    perturbation that fools it best, letting the others specialise on other photos. tau -> 0 is the hard
    minimum; the log M keeps the value between the minimum and the mean.

    Args:
      per_image_losses: float [M, B]: the fooling loss of photo n under perturbation m.
      softness: tau > 0, on the fooling loss's scale.

    Returns:
      Scalar float32.
    """
    scaled = -tf.cast(per_image_losses, tf.float32) / softness
    count = tf.cast(tf.shape(scaled)[0], tf.float32)
    return tf.reduce_mean(-softness * (tf.reduce_logsumexp(scaled, axis=0) - tf.math.log(count)))


def _negative_log_mean(log_values, reduction):
    """The fooling losses' two reductions of per-image log-probabilities log p(n), [B]:
    "per_sample" -mean_n log p(n); "batch_mean" -log mean_n p(n) = -(logsumexp_n log p(n) - log B), stable."""
    if reduction == "per_sample":
        return -tf.reduce_mean(log_values)
    if reduction == "batch_mean":
        count = tf.cast(tf.shape(log_values)[0], tf.float32)
        return -(tf.reduce_logsumexp(log_values) - tf.math.log(count))
    raise ValueError(f"unknown fooling reduction {reduction!r}; expected one of {FOOLING_REDUCTIONS}")


def targeted_fooling_loss(adversarial_logits, target_class, reduction="per_sample"):
    """Targeted fooling loss -log q'_t: pushes every perturbed image towards class t.

    Args:
      adversarial_logits: float [B, K] logits of the classifier on x + delta.
      target_class: int scalar t.
      reduction: "per_sample" (mean over n of -log q'_t(n)) or "batch_mean"
        (-log of the mean over n of q'_t(n)), mirroring `fooling_loss`.

    Returns:
      Scalar float32 loss; 0 when every image is classified as t with certainty.
    """
    log_probs = tf.nn.log_softmax(tf.cast(adversarial_logits, tf.float32))  # stable, no epsilon
    return _negative_log_mean(log_probs[:, int(target_class)], reduction)


def label_entropy(adversarial_logits, clean_labels):
    """Entropy (nats) of the batch's adversarial labels, each image's clean label left out.

    Ours, not the paper's: a generator that fools well tends to push most
    images towards one label (docs/experiments/2026-12-01-label-entropy-2400s.md: "smooth green snake" takes 61% of the
    fooled predictions at 3600 s). The mean over the batch of the softmax on
    x + delta, with each image's clean class removed and renormalised, is the
    batch's distribution of adversarial labels; its entropy is 0 when all go
    surely to one label and log(B) when each goes surely to its own (uncertain
    predictions can spread it further, up to log K). Leaving the clean
    class out means moving an image back to it never raises the entropy.
    Computed on the logits the fooling loss already needs: no extra target pass.

    Args:
      adversarial_logits: float [B, K] logits of the classifier on x + delta.
      clean_labels: int [B] label c the classifier gives the clean image x.

    Returns:
      Scalar float32, in [0, log K].
    """
    probabilities = tf.nn.softmax(tf.cast(adversarial_logits, tf.float32))
    others = probabilities * (1.0 - tf.one_hot(tf.cast(clean_labels, tf.int32), tf.shape(probabilities)[-1]))
    mass = tf.reduce_sum(others, axis=0)
    labels = mass / tf.maximum(tf.reduce_sum(mass), 1e-30)
    return -tf.reduce_sum(tf.math.xlogy(labels, labels))  # xlogy: 0 log 0 = 0, with a zero gradient


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


def feature_loss(clean_features, adversarial_features, kind="cosine"):
    """Pushes a mid layer's features of x + delta away from those of x; ours (after BIA, LTP, FG-UAP).

    Why: the output's fooling loss stops once the label flips, and what flips one classifier's label is
    specific to it; mid-layer features (edges, textures) are shared across networks, so wrecking them is
    what transfers (BIA: Zhang et al., ICLR 2022; LTP: Nakka & Salzmann, NeurIPS 2021; FG-UAP, universal).

    Args:
      clean_features: float [B, ...] the layer's features of the clean images (no gradient needed).
      adversarial_features: float [B, ...] the same layer's features of x + delta.
      kind: "cosine" (BIA, FG-UAP): mean_n cos(f(x_n), f(x_n + delta_n)), each image's map flattened; in
        [-1, 1], lower is further. "mse" (LTP's mean squared difference, made scale-free by us):
        -mean_n |f(x_n + delta_n) - f(x_n)|^2 / |f(x_n)|^2, so one weight means the same at any layer.

    Returns:
      Scalar float32 loss to minimise (added to the fooling loss with its weight).
    """
    batch = tf.shape(adversarial_features)[0]
    clean = tf.reshape(tf.cast(clean_features, tf.float32), [batch, -1])
    adversarial = tf.reshape(tf.cast(adversarial_features, tf.float32), [batch, -1])
    if kind == "cosine":
        return tf.reduce_mean(pair_cosines(clean, adversarial))
    if kind == "mse":
        squared = tf.reduce_sum(tf.square(adversarial - clean), axis=1)
        return -tf.reduce_mean(squared / tf.maximum(tf.reduce_sum(tf.square(clean), axis=1), 1e-12))
    raise ValueError(f"unknown feature loss {kind!r}; expected one of {FEATURE_LOSSES[1:]}")


def pair_cosines(perturbations, shuffled_perturbations):
    """cos(delta_n, delta_pi(n)) for each n: float32 [B], each pair flattened."""
    batch = tf.shape(perturbations)[0]
    a = tf.math.l2_normalize(tf.reshape(tf.cast(perturbations, tf.float32), [batch, -1]), axis=1, epsilon=1e-12)
    s = tf.math.l2_normalize(
        tf.reshape(tf.cast(shuffled_perturbations, tf.float32), [batch, -1]), axis=1, epsilon=1e-12
    )
    return tf.reduce_sum(a * s, axis=1)


def similarity_penalty(perturbations, shuffled_perturbations, margin=-1.0, similarity="cosine"):
    """Penalises pairs of perturbations (delta_n, delta_pi(n)) that point the same way; ours, not the paper's.

    "cosine": mean_n max(0, cos_n - margin). With margin = -1 it is 1 + mean
    cosine, the cosine distance of Eq. (2) applied to the perturbations
    themselves (up to a constant). A margin in (-1, 1) only penalises pairs
    more similar than it, so a generator that is diverse enough spends all its
    effort on fooling and gains nothing from antipodal pairs (delta, -delta).

    "chord": mean_n [cos_n > margin] (2 - |u_n - u_pi(n)|), u = delta / |delta|,
    the straight-line distance between the unit perturbations (sqrt(2 - 2 cos)).
    Why: the cosine is at its maximum when the pair is identical, so its
    gradient vanishes at a collapse (1 - cos ~ angle^2 / 2) and grows with the
    difference: a collapsed generator feels almost nothing until mu is large,
    then the pull feeds on itself and overshoots. The chord grows like the
    angle, so its gradient has the same size (mu / |delta|) however close
    the pair, and it does not grow as the pair separates.
    """
    cosines = pair_cosines(perturbations, shuffled_perturbations)
    if similarity == "cosine":
        return tf.reduce_mean(tf.nn.relu(cosines - margin))
    if similarity != "chord":
        raise ValueError(f"unknown similarity {similarity!r}; expected one of {PERTURBATION_SIMILARITIES}")
    # Not sqrt(2 - 2 cos), though equal in exact arithmetic: near a collapse, where this penalty matters,
    # 2 - 2 cos cancels in float32 and its gradient turns to noise (tried: the collapse test's cosine
    # then overshot to 0.07); the difference of the unit vectors keeps its precision.
    units = [
        tf.math.l2_normalize(tf.reshape(tf.cast(d, tf.float32), [tf.shape(d)[0], -1]), axis=1, epsilon=1e-12)
        for d in (perturbations, shuffled_perturbations)
    ]
    squared = tf.reduce_sum(tf.square(units[0] - units[1]), axis=1)
    # Identical pairs have no direction to be pushed in: a floor keeps the gradient finite (0 there).
    chord = tf.sqrt(tf.maximum(squared, 1e-12))
    return tf.reduce_mean(tf.where(cosines > margin, 2.0 - chord, 0.0))


def dual_ascent(weight, batch_cosine, target_cosine, rate, max_weight=0.0):
    """One step of dual ascent on the constraint mean pairwise cosine <= target: max(0, mu + rate (cos - target)).

    Ours. The penalty weight mu of `similarity_penalty` becomes a Lagrange
    multiplier: it grows while the batch's perturbations are more alike than
    the target and shrinks (to 0) once they are less alike, so diversity is
    held at the target instead of overshooting as a fixed mu does.

    `max_weight` > 0 caps mu (anti-windup, as a controller clamps its
    integral). Why: a collapsed generator does not respond to small mu, so mu
    kept growing for epochs, then the constraint bit all at once and the
    cosine fell far below the target while the oversized mu took hundreds of
    steps to come back down (docs/experiments/2026-12-04-base-perturbation-screen-600s.md).
    """
    updated = tf.maximum(0.0, weight + rate * (tf.cast(batch_cosine, tf.float32) - target_cosine))
    return tf.minimum(updated, max_weight) if max_weight else updated


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
