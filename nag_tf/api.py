"""The Python API a notebook needs, in one place: `import nag_tf` gives these names (docs/api.md).

Load a target, read photos, train any method through the one call (`train_method`: nag_tf.methods.train;
`nag_tf.train` is the NAG binary), load perturbations from a run
(of any method), an export, a `.npy` or a shipped generator, and score them: fooling rate, coverage@K,
transfer (the same score on another target), and a paired difference with its interval. Every function
raises NAGError with the problem and its fix on bad input, as the binaries do.
"""

import dataclasses

import numpy as np

from nag_tf.errors import NAGError
from nag_tf.methods import Budget, MethodRun, TargetSpec, settings_for
from nag_tf.methods import train as train_method  # nag_tf.train is the NAG binary's module

__all__ = [
    "Budget",
    "MethodRun",
    "Scores",
    "TargetSpec",
    "load_source",
    "load_target",
    "paired_difference",
    "read_photos",
    "score",
    "settings_for",
    "train_method",
]


def load_target(name, weights="imagenet", preprocess=""):
    """A frozen classifier to attack or score on: a registry name ("efficientnet_lite0", "vgg19"), a `.keras`
    file or SavedModel directory with its `preprocess` (caffe | tf | torch | lite | none | scale=A,B), or
    "keras_hub:PRESET"; `weights`: "imagenet", "none" or a weights file."""
    import keras_apps

    return keras_apps.load_target(keras_apps.canonical_target_name(name, preprocess), weights)


def read_photos(photos, target, split="validation", labels=None, max_images=0):
    """Photos decoded at the target's size with its clean labels (a `CachedImages`).

    Args:
      photos: a folder with labels.csv, "demo" (the demo set's held-out photos), "tfds:NAME" (with
        `split`), or uint8 RGB arrays [N, H, W, 3] (with optional ground-truth `labels`).
      target: a loaded target (`load_target`).
      max_images: only the first photos (0: all).
    """
    from nag_tf.inputs import batches, data

    if isinstance(photos, np.ndarray):
        if photos.ndim != 4 or photos.shape[-1] != 3:
            raise NAGError(f"photos as an array must be uint8 RGB [N, H, W, 3] (got shape {photos.shape})")
        import tensorflow as tf

        images = data.resize_to_square(photos[: max_images or None], target.image_size).numpy()
        truth = np.full(len(images), -1) if labels is None else np.asarray(labels)[: len(images)]
        dataset = tf.data.Dataset.from_tensor_slices((images, truth.astype(np.int32), np.arange(len(images))))
        return batches.cache_with_clean_labels(dataset, target, description="photos")
    if not isinstance(photos, str) or not photos:
        raise NAGError(f"photos must be a folder, 'demo', 'tfds:NAME' or an image array (got {photos!r})")
    if photos.startswith("tfds:"):
        dataset = data.read_tfds(photos[5:], split, target.image_size, max_images=max_images or None)
        return batches.cache_with_clean_labels(dataset, target, description=photos)
    cached = batches.load_folder(data.evaluation_folder(photos), target, description="photos")
    return dataclasses.replace(cached, images=cached.images[: max_images or None]) if max_images else cached


def load_source(path, name=None):
    """Perturbations to sample from (`.sample(count, seed)`): a method's run folder (`MethodRun.workdir`), a
    NAG training log directory, an exported SavedModel version, a `.npy`, or "pretrained:NAME"."""
    from nag_tf.evaluation import sources

    return sources.load_source(path, name)


@dataclasses.dataclass
class Scores:
    """Perturbations scored on photos: `fooled[k, n]` is whether perturbation k changes photo n's label."""

    fooled: np.ndarray  # bool [K, N]

    @property
    def fooling_rates(self):
        """Each perturbation's fooling rate [K]."""
        return self.fooled.mean(axis=1)

    @property
    def fooling_rate(self):
        """The mean fooling rate over the perturbations."""
        return float(self.fooled.mean())

    @property
    def per_photo(self):
        """Per photo, the share of the perturbations that fool it [N]: what paired differences pair."""
        return self.fooled.mean(axis=0)

    def coverage(self, k=None):
        """The share of photos fooled by at least one of the first k perturbations (all when None)."""
        from nag_tf.evaluation import metrics

        return float(metrics.fooled_by_any(self.fooled[: k or len(self.fooled)]).mean())


def score(perturbations, target, photos, samples=10, seed=0, batch_size=32):
    """Scores perturbations on `photos` (from `read_photos`) against `target`: white-box when it is the
    target they were trained against, transfer otherwise.

    Args:
      perturbations: a source (`load_source`, `MethodRun.source`), whose first `samples` draws with `seed`
        are scored, or an array [K, S, S, 3] on the 0-255 scale.
    Returns:
      Scores.
    """
    import tensorflow as tf

    import keras_apps
    from nag_tf.evaluation import metrics

    clip = getattr(perturbations, "clip", True)
    if hasattr(perturbations, "sample"):
        deltas = perturbations.sample(samples, seed)
    else:
        deltas = tf.convert_to_tensor(np.asarray(perturbations, np.float32))
        if deltas.shape.rank != 4:
            raise NAGError(f"perturbations must be a source or an array [K, S, S, 3] (got shape {deltas.shape})")
    deltas = keras_apps.resize_for(target, deltas)
    _, labels = metrics.fooling_rates(deltas, target, photos, batch_size, clip)
    return Scores(fooled=metrics.fooled_mask(photos.clean_labels, labels))


def paired_difference(a, b):
    """a minus b on the same photos, with a 95% bootstrap interval over the photos: (mean, low, high).
    a and b are Scores (their per-photo shares are paired) or per-photo arrays."""
    from nag_tf.evaluation import stats

    a, b = (x.per_photo if isinstance(x, Scores) else np.asarray(x, np.float64) for x in (a, b))
    if a.shape != b.shape:
        raise NAGError(f"paired_difference pairs photo by photo: the two have {a.shape} and {b.shape} photos")
    return tuple(float(v) for v in stats.paired_difference(a, b))
