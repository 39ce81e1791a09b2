"""The paper's evaluation (Sec. 4) for any set of perturbation sources and targets.

A *source* (nag_tf.evaluation.sources) is anything that yields perturbations: a trained
generator, an exported version, or a single universal perturbation saved as
`.npy` (SGD-UAP, SGA). For each target, the evaluation images are decoded and
their clean labels computed once (once per resize mode the sources need);
every sampled delta is then applied to all of them, the way its source was
trained (clipped or not; a targeted source is scored by its targeted success
rate). Report files: nag_tf.evaluation.report.

Reported: fooling rate mean +- std over K sampled deltas, the transfer matrix
(sources x targets), and diversity: the mean histogram of adversarial labels,
the number of classes covering 95% of adversarial predictions, the dominant
labels with names, the mean pairwise cosine of sampled deltas, and the
fooling rate along a line between two latent points.
"""

import dataclasses

import numpy as np
import tensorflow as tf

import keras_apps
from keras_apps.class_names import class_name
from nag_tf.evaluation import metrics, stats
from nag_tf.inputs import batches, data

__all__ = ["classes_covering", "label_histogram", "evaluate", "EvaluationReport", "TargetResult", "SourceResult"]


def label_histogram(adversarial_labels, num_classes):
    """Mean over sampled deltas of the normalised histogram of adversarial labels; [num_classes]."""
    labels = np.asarray(adversarial_labels)
    labels = labels.reshape(-1, labels.shape[-1]) if labels.ndim > 1 else labels[np.newaxis]
    histograms = [np.bincount(row, minlength=num_classes) / max(len(row), 1) for row in labels]
    return np.mean(histograms, axis=0)


def classes_covering(histogram, fraction=0.95):
    """The fewest classes whose share of predictions adds up to at least `fraction` (paper Sec. 4.3)."""
    shares = np.sort(np.asarray(histogram, np.float64))[::-1]
    total = shares.sum()
    if total <= 0:
        return 0
    return int(np.searchsorted(np.cumsum(shares) / total, fraction - 1e-12) + 1)


@dataclasses.dataclass
class TargetResult:
    fooling_rates: np.ndarray
    histogram: np.ndarray
    classes95: int
    dominant: list  # [(class index, name, share)]
    coverage: float  # share of images at least one of the sampled deltas fools
    class_names: tuple | None = None  # from --class_names; None: ImageNet names or "class N"
    per_image: np.ndarray | None = None  # per photo, the share of sampled deltas that fool it (nag_tf.evaluation.stats)
    adversarial_labels: np.ndarray | None = None  # [K, N] ([K, N, members] for an ensemble)
    fooled: np.ndarray | None = (
        None  # bool [K, N]: delta k fools photo n (nag_tf.evaluation.perturbation_sets reads it)
    )

    def interval(self):
        """The 95% bootstrap interval over photos of the mean fooling rate (nan without per-photo data)."""
        return stats.bootstrap_interval(self.per_image) if self.per_image is not None else (float("nan"),) * 2


@dataclasses.dataclass
class SourceResult:
    name: str
    pairwise_cosine: float
    per_target: dict  # target name -> TargetResult
    interpolation: object = None  # (fooling rates along the line, perturbations) or None
    rate_name: str = "fooling_rate"  # "targeted_success_rate" for a targeted source


@dataclasses.dataclass
class EvaluationReport:
    targets: list
    sources: list  # [SourceResult]
    images: int

    def matrix(self):
        """Transfer matrix: rows = sources, columns = targets, values = mean fooling rate."""
        return np.array([[s.per_target[t].fooling_rates.mean() for t in self.targets] for s in self.sources])

    def to_json(self):
        return {
            "images": self.images,
            "targets": self.targets,
            "sources": [
                {
                    "name": s.name,
                    "rate": s.rate_name,
                    "pairwise_cosine": s.pairwise_cosine,
                    "per_target": {
                        t: {
                            "fooling_rate": float(r.fooling_rates.mean()),
                            "fooling_rate_std": float(r.fooling_rates.std()),
                            "fooling_rate_ci95_over_photos": list(r.interval()),
                            "classes95": r.classes95,
                            "coverage": r.coverage,
                            "dominant": [[int(i), n, float(p)] for i, n, p in r.dominant],
                        }
                        for t, r in s.per_target.items()
                    },
                    "interpolation": None if s.interpolation is None else [float(x) for x in s.interpolation[0]],
                }
                for s in self.sources
            ],
        }


def _resize(perturbations, size, xi):
    """Bilinear resize to another target's input size; a convex combination keeps ||delta||_inf <= xi."""
    if int(perturbations.shape[1]) == size:
        return perturbations
    return tf.clip_by_value(tf.image.resize(perturbations, [size, size]), -xi, xi)


def evaluate(
    sources,
    target_names,
    image_folder,
    weights="imagenet",
    white_box_samples=100,
    black_box_samples=10,
    batch_size=32,
    seed=0,
    interpolation_steps=11,
    progress=None,
    class_names=None,
):
    """Evaluates every source on every target over the same images, each the way it was trained.

    Args:
      sources: [nag_tf.evaluation.sources.PerturbationSource].
      target_names: registry names; diversity and interpolation are measured on the first.
      image_folder: a folder with labels.csv (or demo).
      weights: weights for all targets ("imagenet", "none").
      white_box_samples: deltas on the target a source was trained against (paper: 100).
      black_box_samples: deltas on any other target (paper: 10).
      interpolation_steps: points on the latent line (0 skips it).
      progress: called with (done, total) after each source and target (e.g. a progress bar).
      class_names: names of the classes (a --class_names file), else ImageNet names or "class N".
    """
    seen = {}
    for source in sources:  # rows are keyed by name: two `sgd_uap.npy` files become sgd_uap and sgd_uap_2
        seen[source.name] = seen.get(source.name, 0) + 1
        if seen[source.name] > 1:
            source.name = f"{source.name}_{seen[source.name]}"
    folder = data.evaluation_folder(image_folder)
    results = {
        source.name: SourceResult(
            source.name,
            float("nan"),
            {},
            rate_name="fooling_rate" if source.target_class is None else "targeted_success_rate",
        )
        for source in sources
    }
    images_count, done = 0, 0
    for column, target_name in enumerate(target_names):
        target = keras_apps.load_target(target_name, weights)
        cached = {}  # resize mode -> the decoded images with their clean labels
        for source in sources:
            if source.resize not in cached:
                cached[source.resize] = batches.load_folder(
                    folder, target, batch_size, "evaluation images", resize=source.resize
                )
            images = cached[source.resize]
            images_count = max(images_count, len(images))
            # White-box where the source was trained against this target (alone or in an ensemble).
            trained_against = str(source.target_name or "").split(",")
            count = white_box_samples if target_name in trained_against else black_box_samples
            count = min(count, source.distinct_samples or count)  # one universal perturbation is scored once
            deltas = _resize(source.sample(count, seed), target.image_size, source.xi)
            rates, labels = metrics.fooling_rates(
                deltas, target, images, batch_size=batch_size, clip=source.clip, target_class=source.target_class
            )
            histogram = label_histogram(labels, target.num_classes)
            top = np.argsort(histogram)[::-1][:5]
            dominant = [
                (int(i), class_name(i, target.num_classes, names=class_names), float(histogram[i])) for i in top
            ]
            results[source.name].per_target[target_name] = TargetResult(
                rates,
                histogram,
                classes_covering(histogram),
                dominant,
                metrics.coverage(images.clean_labels, labels),
                class_names,
                stats.per_image_attack(images.clean_labels, labels, source.target_class),
                labels,
                metrics.fooled_mask(images.clean_labels, labels, source.target_class),
            )
            if column == 0:
                distinct = source.sample(min(count, 16), seed).numpy()
                results[source.name].pairwise_cosine = (
                    metrics.mean_pairwise_cosine(distinct) if len(distinct) > 1 else float("nan")
                )
                line = source.interpolate(interpolation_steps, seed) if interpolation_steps else None
                if line is not None:
                    line_deltas = _resize(line[0], target.image_size, source.xi)
                    line_rates, _ = metrics.fooling_rates(
                        line_deltas,
                        target,
                        images,
                        batch_size=batch_size,
                        clip=source.clip,
                        target_class=source.target_class,
                    )
                    results[source.name].interpolation = (line_rates, line[0].numpy())
            done += 1
            if progress is not None:
                progress(done, len(sources) * len(target_names))
    return EvaluationReport(list(target_names), [results[s.name] for s in sources], images_count)
