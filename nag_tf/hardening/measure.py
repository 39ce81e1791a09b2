"""A classifier measured against attacks on held-out photos: its clean accuracy and, per attack, the fooling
rate and the per-photo shares that pair one classifier's row with another's (before/after hardening)."""

import dataclasses

import numpy as np

from nag_tf.evaluation import metrics, stats

__all__ = ["clean_accuracy", "measure"]


def clean_accuracy(cached):
    """Top-1 accuracy of the classifier whose clean labels `cached` holds, against the ground
    truth where known (NaN when no image has a label)."""
    known = cached.true_labels >= 0
    if not known.any():
        return float("nan")
    return float(np.mean(cached.clean_labels[known] == cached.true_labels[known]))


def _relabelled(target, cached, batch_size=32):
    """The cached images with `target`'s clean labels (a hardened model has its own)."""
    labels = np.concatenate(
        [target.predict_labels(cached.images[i : i + batch_size]).numpy() for i in range(0, len(cached), batch_size)]
    )
    return dataclasses.replace(cached, clean_labels=labels.astype(np.int32))


def measure(target, holdout, attacks, config):
    """({'clean_accuracy', 'fooling_<attack>'...}, {attack: per-photo share of perturbations that fool it})
    of `target` on the held-out images; `attacks` maps a name to perturbations [K, S, S, 3] (None: not
    measured, reported as None)."""
    holdout = _relabelled(target, holdout, config.batch_size)  # the one prediction pass on clean images
    row, per_photo = {"clean_accuracy": clean_accuracy(holdout)}, {}
    # Schemes nag and sga harden with a step-1 attack, so one tensor comes under two names: measured once.
    measured = {}  # id(perturbations) -> (fooling rate, per-photo shares)
    for name, perturbations in attacks.items():
        if perturbations is None:
            row[f"fooling_{name}"] = None
            continue
        if id(perturbations) not in measured:
            rates, labels = metrics.fooling_rates(perturbations, target, holdout, config.batch_size, config.clip)
            shares = stats.per_image_attack(holdout.clean_labels, labels).round(4).tolist()
            measured[id(perturbations)] = (float(np.mean(rates)), shares)
        row[f"fooling_{name}"], per_photo[name] = measured[id(perturbations)]
    return row, per_photo
