"""The paper's evaluation (Sec. 4) for any set of perturbation sources and targets.

A *source* is anything that yields perturbations: a trained generator (a
training log directory) or a single universal perturbation saved as `.npy`
(SGD-UAP). For each target, the evaluation images are decoded and their clean
labels computed once; every sampled delta is then applied to all of them.

Reported: fooling rate mean +- std over K sampled deltas, the transfer matrix
(sources x targets), and diversity: the mean histogram of adversarial labels,
the number of classes covering 95% of adversarial predictions, the dominant
labels with names, the mean pairwise cosine of sampled deltas, and the
fooling rate along a line between two latent points.
"""

import csv
import dataclasses
import json
import os

import numpy as np
import tensorflow as tf

import keras_apps
from keras_apps.class_names import class_name
from nag_tf import data, metrics
from nag_tf.errors import NAGError
from nag_tf.config import generator_for

__all__ = [
    "PerturbationSource",
    "GeneratorSource",
    "FixedPerturbationSource",
    "load_source",
    "classes_covering",
    "label_histogram",
    "evaluate",
    "EvaluationReport",
]


class PerturbationSource:
    """Yields perturbations on the 0-255 scale for a given image size."""

    name: str
    xi: float
    image_size: int
    target_name = None  # the target it was trained against: evaluation there is white-box

    def sample(self, count, seed):
        raise NotImplementedError

    def interpolate(self, steps, seed):
        """Perturbations along a line between two latent points; None for a single perturbation."""
        return None


class GeneratorSource(PerturbationSource):
    def __init__(self, generator, xi, name="nag", target_name=None):
        self.generator = generator
        self.target_name = target_name
        self.xi = float(xi)
        self.image_size = int(generator.output_shape[1])
        self.name = name
        self.latent_dim = int(generator.input_shape[-1])

    def _latents(self, count, seed):
        return tf.random.stateless_uniform([count, self.latent_dim], seed=[seed, 11], minval=-1.0, maxval=1.0)

    def sample(self, count, seed):
        return self.generator(self._latents(count, seed), training=False)

    def interpolate(self, steps, seed):
        """z(t) = (1 - t) z0 + t z1 for t in linspace(0, 1, steps): the paper's interpolation experiment."""
        ends = self._latents(2, seed + 1)
        t = tf.linspace(0.0, 1.0, steps)[:, tf.newaxis]
        return self.generator((1.0 - t) * ends[0] + t * ends[1], training=False), ends


class FixedPerturbationSource(PerturbationSource):
    """One universal perturbation (e.g. SGD-UAP): every sample is the same delta."""

    def __init__(self, perturbation, xi, name="uap", target_name=None):
        self.target_name = target_name
        self.perturbation = tf.convert_to_tensor(perturbation, tf.float32)
        self.xi = float(xi)
        self.image_size = int(self.perturbation.shape[0])
        self.name = name

    def sample(self, count, seed):
        return tf.repeat(self.perturbation[tf.newaxis], count, axis=0)


class ExportedSource(GeneratorSource):
    """An exported SavedModel version (export.saved_model): its `serving_default` signature is the generator."""

    def __init__(self, version_dir, name=None):
        with open(os.path.join(version_dir, "assets", "nag_metadata.json")) as handle:
            metadata = json.load(handle)
        signature = tf.saved_model.load(version_dir).signatures["serving_default"]
        self.generator = lambda z, training=False: signature(z=tf.convert_to_tensor(z, tf.float32))["perturbation"]
        self.xi = float(metadata["xi"])
        self.image_size = int(metadata["image_size"])
        self.latent_dim = int(metadata["latent_dim"])
        self.target_name = metadata["target"]
        self.name = name or f"{os.path.basename(os.path.dirname(os.path.normpath(version_dir)))}_v{metadata['version']}"


def load_source(path, name=None):
    """A generator from a training log directory (config.json + best/final weights), an exported
    SavedModel version directory, or a `.npy` perturbation.

    Raises:
      NAGError: the path is neither, or its files are missing or inconsistent.
    """
    if path.endswith(".npy"):
        if not os.path.exists(path):
            raise NAGError(f"perturbation file {path!r} does not exist")
        perturbation = np.load(path, allow_pickle=False)
        if perturbation.ndim != 3 or perturbation.shape[-1] != 3 or perturbation.shape[0] != perturbation.shape[1]:
            raise NAGError(f"{path} holds an array of shape {perturbation.shape}; expected [S, S, 3]")
        meta_path = path[:-4] + ".json"
        meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
        xi = float(meta.get("xi", np.max(np.abs(perturbation))))
        return FixedPerturbationSource(perturbation, xi, name or os.path.basename(path)[:-4], meta.get("target"))
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return ExportedSource(path, name)
    config_path = os.path.join(path, "config.json")
    if not os.path.exists(config_path):
        raise NAGError(f"{path!r} is neither a training log directory (no config.json), an exported version (no saved_model.pb) nor a .npy perturbation")
    config = json.load(open(config_path))
    weights = next((os.path.join(path, f) for f in ("best.weights.h5", "final.weights.h5") if os.path.exists(os.path.join(path, f))), None)
    if weights is None:
        raise NAGError(f"{path!r} has no best.weights.h5 or final.weights.h5; train first")
    generator = generator_for(config)
    generator.load_weights(weights)
    return GeneratorSource(generator, config["xi"], name or os.path.basename(os.path.normpath(path)), config["target"])


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


@dataclasses.dataclass
class SourceResult:
    name: str
    pairwise_cosine: float
    per_target: dict  # target name -> TargetResult
    interpolation: object = None  # (fooling rates along the line, perturbations) or None


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
                    "pairwise_cosine": s.pairwise_cosine,
                    "per_target": {
                        t: {
                            "fooling_rate": float(r.fooling_rates.mean()),
                            "fooling_rate_std": float(r.fooling_rates.std()),
                            "classes95": r.classes95,
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


def evaluate(sources, target_names, image_folder, weights="imagenet", white_box_samples=100, black_box_samples=10, batch_size=32, seed=0, interpolation_steps=11, clip=True):
    """Evaluates every source on every target over the same images.

    Args:
      sources: [PerturbationSource].
      target_names: registry names; diversity and interpolation are measured on the first.
      image_folder: a folder with labels.csv (or demo).
      weights: weights for all targets ("imagenet", "none").
      white_box_samples: deltas on the target a source was trained against (paper: 100).
      black_box_samples: deltas on any other target (paper: 10).
      interpolation_steps: points on the latent line (0 skips it).
    """
    seen = {}
    for source in sources:  # rows are keyed by name: two `sgd_uap.npy` files become sgd_uap and sgd_uap_2
        seen[source.name] = seen.get(source.name, 0) + 1
        if seen[source.name] > 1:
            source.name = f"{source.name}_{seen[source.name]}"
    folder = data.evaluation_folder(image_folder)
    results = {source.name: SourceResult(source.name, float("nan"), {}) for source in sources}
    images_count = 0
    for column, target_name in enumerate(target_names):
        target = keras_apps.load_target(target_name, weights)
        cached = data.load_folder(folder, target, batch_size, "evaluation images")
        images_count = max(images_count, len(cached))
        for source in sources:
            # White-box where the source was trained against this target (alone or in an ensemble).
            trained_against = str(source.target_name or "").split(",")
            count = white_box_samples if target_name in trained_against else black_box_samples
            deltas = _resize(source.sample(count, seed), target.image_size, source.xi)
            rates, labels = metrics.fooling_rates(deltas, target, cached, batch_size, clip)
            histogram = label_histogram(labels, target.num_classes)
            top = np.argsort(histogram)[::-1][:5]
            dominant = [(int(i), class_name(i, target.num_classes), float(histogram[i])) for i in top]
            results[source.name].per_target[target_name] = TargetResult(rates, histogram, classes_covering(histogram), dominant)
            if column == 0:
                distinct = source.sample(min(count, 16), seed).numpy()
                results[source.name].pairwise_cosine = metrics.mean_pairwise_cosine(distinct) if len(distinct) > 1 else float("nan")
                line = source.interpolate(interpolation_steps, seed) if interpolation_steps else None
                if line is not None:
                    line_deltas = _resize(line[0], target.image_size, source.xi)
                    line_rates, _ = metrics.fooling_rates(line_deltas, target, cached, batch_size, clip)
                    results[source.name].interpolation = (line_rates, line[0].numpy())
    return EvaluationReport(list(target_names), [results[s.name] for s in sources], images_count)


def write_report(report, out_dir, sources):
    """Writes report.md, report.csv, report.json and the PNG figures; returns the written paths."""
    from nag_tf import plots

    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    matrix = report.matrix()
    with open(os.path.join(out_dir, "report.csv"), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "target", "fooling_rate", "fooling_rate_std", "classes95", "pairwise_cosine", "top_label"])
        for s in report.sources:
            for t in report.targets:
                r = s.per_target[t]
                writer.writerow([s.name, t, f"{r.fooling_rates.mean():.4f}", f"{r.fooling_rates.std():.4f}", r.classes95, f"{s.pairwise_cosine:.4f}", r.dominant[0][1]])
    paths["csv"] = os.path.join(out_dir, "report.csv")
    lines = [f"# NAG evaluation ({report.images} images)", "", "## Fooling rate (transfer matrix: rows = perturbation sources, columns = targets)", ""]
    lines.append("| source | " + " | ".join(report.targets) + " |")
    lines.append("|---|" + "---|" * len(report.targets))
    for s, row in zip(report.sources, matrix):
        cells = [f"{100 * s.per_target[t].fooling_rates.mean():.2f} ± {100 * s.per_target[t].fooling_rates.std():.2f}" for t in report.targets]
        lines.append(f"| {s.name} | " + " | ".join(cells) + " |")
    lines += ["", "## Diversity (first target)", "", "| source | classes covering 95% | mean pairwise cosine of δ | dominant labels |", "|---|---|---|---|"]
    first = report.targets[0]
    for s in report.sources:
        r = s.per_target[first]
        dominant = ", ".join(f"{name} ({100 * share:.1f}%)" for _, name, share in r.dominant)
        lines.append(f"| {s.name} | {r.classes95} | {s.pairwise_cosine:.3f} | {dominant} |")
    interpolated = [s for s in report.sources if s.interpolation is not None]
    if interpolated:
        lines += ["", "## Fooling rate along a line between two latent points", ""]
        for s in interpolated:
            lines.append(f"- {s.name}: " + " ".join(f"{100 * x:.1f}" for x in s.interpolation[0]))
    with open(os.path.join(out_dir, "report.md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    paths["md"] = os.path.join(out_dir, "report.md")
    with open(os.path.join(out_dir, "report.json"), "w") as handle:
        json.dump(report.to_json(), handle, indent=2)
    for source, result in zip(sources, report.sources):
        prefix = os.path.join(out_dir, result.name)
        paths[f"{result.name}_grid"] = plots.perturbation_grid(source.sample(8, 0).numpy(), source.xi, prefix + "_perturbations.png")
        paths[f"{result.name}_labels"] = plots.dominant_labels(result.per_target[first], prefix + "_dominant_labels.png", f"{result.name} on {first}")
        if result.interpolation is not None:
            paths[f"{result.name}_interpolation"] = plots.interpolation_strip(result.interpolation[1], result.interpolation[0], source.xi, prefix + "_interpolation.png")
    return paths


def write_tensorboard(report, paths, logdir):
    """The report as text and the figures as images in TensorBoard."""
    writer = tf.summary.create_file_writer(os.path.join(logdir, "evaluation"))
    with writer.as_default(step=0):
        tf.summary.text("report", open(paths["md"]).read())
        for key, path in paths.items():
            if path.endswith(".png"):
                tf.summary.image(key, tf.io.decode_png(tf.io.read_file(path))[tf.newaxis])
        for source, row in zip(report.sources, report.matrix()):
            for target, value in zip(report.targets, row):
                tf.summary.scalar(f"fooling_rate/{source.name}/{target}", float(value))
    writer.flush()
