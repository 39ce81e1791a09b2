"""Intervals a reader can trust: bootstrap over photos, and the paired difference of two methods.

A fooling rate measured on a few hundred photos moves by several points with
the photos drawn; two methods scored on the *same* photos are compared by the
per-photo difference, resampled as pairs, which cancels what the photos share.
numpy only: this is the percentile bootstrap (Efron), a few lines, and no
package the project installs provides it for arrays of this kind.
"""

import numpy as np

__all__ = [
    "per_image_attack",
    "bootstrap_interval",
    "paired_difference",
    "paired_difference_over_runs",
    "difference_to_best",
    "paired_to_best",
    "pooled_to_best",
]


def per_image_attack(clean_labels, adversarial_labels, target_class=None):
    """Per image, the share of the K sampled perturbations that fool it (targeted: that reach the class,
    over the images not already of it).

    adversarial_labels: [K, N], or [K, N, members] for an ensemble (then the mean over members).
    Returns float [N] (targeted: [eligible N]); its mean is the mean rate over the K perturbations.
    """
    labels = np.asarray(adversarial_labels)
    clean = np.asarray(clean_labels)
    hits = labels == target_class if target_class is not None else labels != clean[np.newaxis]
    per_image = hits.mean(axis=0)
    if target_class is not None:
        eligible = clean != target_class
        if per_image.ndim == 2:
            rows = eligible.any(axis=1)
            return (per_image * eligible).sum(axis=1)[rows] / eligible.sum(axis=1)[rows]
        return per_image[eligible]
    return per_image.mean(axis=1) if per_image.ndim == 2 else per_image


def bootstrap_interval(values, level=0.95, resamples=2000, seed=0):
    """(low, high): the percentile bootstrap interval of the mean of `values` (one value per photo)."""
    values = np.asarray(values, np.float64).reshape(-1)
    if values.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def paired_difference(a, b, level=0.95, resamples=2000, seed=0):
    """(mean of a - b, low, high) over the same photos, resampled as pairs; a and b: one value per photo."""
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"paired_difference needs the same photos for both: {a.shape} vs {b.shape}")
    low, high = bootstrap_interval(a - b, level, resamples, seed)
    return float(np.mean(a - b)), low, high


def paired_difference_over_runs(runs, level=0.95, resamples=2000, seed=0):
    """(mean, low, high) of a - b over several runs (seeds, splits), each a pair (a, b) of per-photo values on
    that run's photos. Two-level bootstrap: runs are resampled, then photos within each drawn run, so the
    interval holds the seed-to-seed spread as well as the photos' (pooling photo-runs as if independent
    would hide the first). The mean weighs every photo-run equally."""
    differences = []
    for a, b in runs:
        a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
        if a.shape != b.shape:
            raise ValueError(f"paired_difference_over_runs needs the same photos in a run: {a.shape} vs {b.shape}")
        differences.append(a - b)
    if not differences:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for r in range(resamples):
        drawn = rng.integers(0, len(differences), size=len(differences))
        resampled = [differences[i][rng.integers(0, differences[i].size, differences[i].size)] for i in drawn]
        means[r] = np.concatenate(resampled).mean()
    tail = 100 * (1 - level) / 2
    return (
        float(np.concatenate(differences).mean()),
        float(np.percentile(means, tail)),
        float(np.percentile(means, 100 - tail)),
    )


def difference_to_best(per_photo, focus, candidates=None):
    """`focus` minus the candidate with the highest mean on the same photos, paired over photos: the one
    "minus the best other" of every comparison (head-to-head, K-sets, defences; pooled_to_best over runs).

    Args:
      per_photo: {name: per-photo values}, the same photos for every name.
      focus: the name compared.
      candidates: the names it is compared with (default: every other name in per_photo); those missing
        from per_photo are skipped.

    Returns:
      {"best": the best candidate, "difference": [mean, low, high] rounded to 4}, or {} when `focus` or every
      candidate is missing.
    """
    if candidates is None:
        candidates = [name for name in per_photo if name != focus]
    present = [name for name in candidates if name in per_photo and name != focus]
    if focus not in per_photo or not present:
        return {}
    best = max(present, key=lambda name: float(np.mean(per_photo[name])))
    return {
        "best": best,
        "difference": [round(value, 4) for value in paired_difference(per_photo[focus], per_photo[best])],
    }


def paired_to_best(per_photo, focus="nag", measure="fr"):
    """`focus` minus the best of the other methods (highest mean) on the same photos, under the keys of the
    head-to-head's JSON (difference_to_best is the comparison; this names it).

    per_photo: {method: per-photo values}. Returns {"best_baseline", "<focus>_minus_best_fr",
    "<focus>_minus_best_ci"} (empty when there is no other method): the keys of bench/compare.py's JSON.
    Another `measure` (e.g. "transfer_lite1") gives "best_baseline_<measure>", "<focus>_minus_best_<measure>"
    and "<focus>_minus_best_<measure>_ci".
    """
    found = difference_to_best(per_photo, focus)
    if not found:
        return {}
    mean, low, high = found["difference"]
    if measure == "fr":
        keys = ("best_baseline", f"{focus}_minus_best_fr", f"{focus}_minus_best_ci")
    else:
        keys = (f"best_baseline_{measure}", f"{focus}_minus_best_{measure}", f"{focus}_minus_best_{measure}_ci")
    return {keys[0]: found["best"], keys[1]: mean, keys[2]: [low, high]}


def pooled_to_best(per_run, focus, candidates):
    """`focus` minus the candidate with the highest pooled mean, over several runs (splits, seeds), paired
    photo by photo (paired_difference_over_runs): paired_to_best for pooled runs.

    Args:
      per_run: {name: [per-photo values of run 1, of run 2, ...]}, the same photos per run for every name.
      focus: the name compared.
      candidates: the names it is compared with (the best of them is taken).

    Returns:
      {"means": {name: pooled mean, rounded to 4}, "best": the best candidate, "difference": [mean, low,
      high] rounded to 4, "photo_runs": photos summed over the runs}.
    """
    means = {name: round(float(np.concatenate(runs).mean()), 4) for name, runs in per_run.items()}
    best = max(candidates, key=lambda name: means[name])
    difference = paired_difference_over_runs(list(zip(per_run[focus], per_run[best])))
    return {
        "means": means,
        "best": best,
        "difference": [round(value, 4) for value in difference],
        "photo_runs": int(sum(len(photos) for photos in per_run[focus])),
    }
