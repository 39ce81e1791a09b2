"""How a defence is scored on held-out photos against a set of perturbations [K, S, S, 3]: photo n carries
member n mod K, so every member is used and every photo is scored once.

Detection: the detector's true-positive rate on perturbed photos at the threshold that flags 5% of the clean
ones, and the ROC AUC. Accuracy: top-1 against the photos' ground truth (labels.csv) of a classifier (the
bare target, or the defended one) on x + delta.
"""

import numpy as np
import tensorflow as tf

from nag_tf.core.model import perturb

__all__ = ["FALSE_POSITIVE_RATE", "assign_members", "detector_scores", "detection", "accuracy"]

FALSE_POSITIVE_RATE = 0.05


def assign_members(images, perturbations, clip=True):
    """x_n + delta_(n mod K) for each photo, clipped to the pixel range when `clip`."""
    perturbations = tf.convert_to_tensor(perturbations, tf.float32)
    members = tf.gather(perturbations, tf.range(tf.shape(images)[0]) % tf.shape(perturbations)[0])
    return perturb(images, members, clip)


def _over_batches(function, images, perturbations, batch_size, clip):
    """function(x or x + its member) for the photos in batches, concatenated as numpy; member n mod K for
    photo n across batches (each batch's members rolled by its start)."""
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = tf.cast(images[start : start + batch_size], tf.float32)
        if perturbations is not None:
            batch = assign_members(batch, np.roll(np.asarray(perturbations), -start, axis=0), clip)
        outputs.append(np.asarray(function(batch)))
    return np.concatenate(outputs)


def detector_scores(detector, images, perturbations=None, batch_size=32, clip=True):
    """The detector's logits [N] on the photos (clean when `perturbations` is None)."""
    return _over_batches(lambda batch: detector(batch, training=False)[:, 0], images, perturbations, batch_size, clip)


def detection(clean_scores, perturbed_scores, false_positive_rate=FALSE_POSITIVE_RATE):
    """{'tpr': the share of perturbed photos above the threshold that flags `false_positive_rate` of the clean
    ones, 'auc': ROC AUC} from the detector's scores."""
    clean_scores, perturbed_scores = np.asarray(clean_scores, np.float64), np.asarray(perturbed_scores, np.float64)
    threshold = np.quantile(clean_scores, 1.0 - false_positive_rate)
    # The AUC exactly, as P(perturbed score > clean score) + P(equal) / 2 (Mann-Whitney), not keras.metrics.AUC:
    # its fixed thresholds on [0, 1] lump confident logits (sigmoid ~ 1) into one bin.
    ordered = np.sort(clean_scores)
    below = np.searchsorted(ordered, perturbed_scores, side="left")
    not_above = np.searchsorted(ordered, perturbed_scores, side="right")
    auc = float(np.mean(below + 0.5 * (not_above - below)) / len(ordered))
    return {"tpr": float(np.mean(perturbed_scores > threshold)), "auc": auc}


def accuracy(classify, images, true_labels, perturbations=None, batch_size=32, clip=True):
    """(top-1 accuracy against `true_labels`, per-photo correctness [N] as 0/1) of `classify` (0-255 photos ->
    logits) on the photos, each with its member of `perturbations` when given."""
    predicted = _over_batches(
        lambda batch: tf.argmax(classify(batch), axis=-1, output_type=tf.int32), images, perturbations, batch_size, clip
    )
    correct = (predicted == np.asarray(true_labels)).astype(np.float64)
    return float(correct.mean()), correct
