"""Evaluation measures of a perturbation distribution (paper Sec. 4).

Each sampled delta is applied, as a universal perturbation, to every
evaluation image; the clean labels are the cached ones, never recomputed.
"""

import numpy as np
import tensorflow as tf

from nag_tf.core import latent
from nag_tf.core.model import perturb

__all__ = [
    "fooling_rate",
    "attack_rate",
    "fooling_rates",
    "coverage",
    "fooled_mask",
    "fooled_by_any",
    "mean_pairwise_cosine",
    "latent_vectors",
    "sample_latents",
    "sample_perturbations",
]


def fooling_rate(clean_labels, adversarial_labels):
    """Fraction of images whose top-1 label changed (ground truth is not used)."""
    clean_labels = np.asarray(clean_labels)
    adversarial_labels = np.asarray(adversarial_labels)
    if clean_labels.shape != adversarial_labels.shape or clean_labels.size == 0:
        raise ValueError("fooling_rate needs two label arrays of the same, non-zero length")
    return float(np.mean(clean_labels != adversarial_labels))


def attack_rate(clean_labels, adversarial_labels, target_class=None):
    """The fooling rate, or with `target_class` the targeted success rate: the share of images
    not already of class t whose adversarial label is t. Label arrays may be [N] or
    [N, members] (an ensemble: the rate over all members' predictions)."""
    if target_class is None:
        return fooling_rate(clean_labels, adversarial_labels)
    clean_labels = np.asarray(clean_labels)
    adversarial_labels = np.asarray(adversarial_labels)
    eligible = clean_labels != target_class
    if not eligible.any():
        return float("nan")
    return float(np.mean(adversarial_labels[eligible] == target_class))


def fooled_mask(clean_labels, adversarial_labels, target_class=None):
    """bool [K, N]: perturbation k fools image n (its label changed; targeted: its label is target_class,
    which images already of that class count as).

    adversarial labels [K, N], or [K, N, members] for an ensemble (fooled on any member).
    """
    labels = np.asarray(adversarial_labels)
    fooled = labels != np.asarray(clean_labels)[np.newaxis] if target_class is None else labels == target_class
    return fooled.any(axis=2) if fooled.ndim == 3 else fooled


def coverage(clean_labels, adversarial_labels):
    """Share of images that at least one of K perturbations fools; adversarial labels [K, N].

    A measure the losses do not optimise: K copies of one perturbation cover
    exactly its own fooling rate, K genuinely different ones cover more.
    """
    return float(np.mean(fooled_by_any(fooled_mask(clean_labels, adversarial_labels))))


def fooled_by_any(fooled):
    """bool [N]: the images at least one of K perturbations fools, from a fooled [K, N] mask (coverage is
    its mean; paired intervals between sets resample it image by image)."""
    fooled = np.asarray(fooled, bool)
    if fooled.ndim != 2 or fooled.size == 0:
        raise ValueError(f"fooled must be a non-empty [K, N] mask (got shape {fooled.shape})")
    return fooled.any(axis=0)


# The one numbering of perturbations (nag_tf.core.latent), under the name its readers know.
latent_vectors = latent.numbered


def sample_latents(count, latent_dim, seed=0):
    """z number seed, seed + 1, ..., seed + count - 1 (see `latent_vectors`)."""
    return latent_vectors(tf.range(count, dtype=tf.int64) + seed, latent_dim)


def sample_perturbations(generator, count, seed):
    """`count` perturbations from z ~ U[-1, 1]^d drawn with a fixed seed (generator in inference mode)."""
    return generator(sample_latents(count, int(generator.input_shape[-1]), seed), training=False)


def fooling_rates(perturbations, target, cached, batch_size=32, clip=True, target_class=None):
    """Fooling rate (targeted success rate with `target_class`) of each perturbation on all cached images.

    Returns:
      (rates float [K], adversarial labels int [K, N] ([K, N, members] for an ensemble)).
    """
    predict = target.predict_labels
    rates, all_labels = [], []
    for delta in perturbations:
        labels = []
        for start in range(0, len(cached), batch_size):
            images = tf.convert_to_tensor(cached.images[start : start + batch_size])
            labels.append(predict(perturb(images, delta[tf.newaxis], clip)).numpy())
        labels = np.concatenate(labels)
        all_labels.append(labels)
        rates.append(attack_rate(cached.clean_labels, labels, target_class))
    return np.asarray(rates), np.stack(all_labels)


def mean_pairwise_cosine(vectors):
    """Mean cosine similarity over all distinct pairs of rows (flattened); 1.0 = all the same direction."""
    flat = np.reshape(np.asarray(vectors, np.float64), [len(vectors), -1])
    if len(flat) < 2:
        raise ValueError("mean_pairwise_cosine needs at least two vectors")
    unit = flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit.T
    upper = np.triu_indices(len(flat), k=1)
    return float(np.mean(similarity[upper]))
