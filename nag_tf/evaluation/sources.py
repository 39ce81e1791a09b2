"""Perturbation sources: anything that yields perturbations, with the choices it was trained under.

A source is a trained generator (a training log directory), an exported
SavedModel version, or one universal perturbation saved as `.npy` (SGD-UAP,
SGA). Each carries what evaluation must honour to score it as it was trained:
whether x + delta is clipped to [0, 255], how images are brought to the
target's size, and the target class of a targeted generator.
"""

import json
import os
import warnings

import numpy as np
import tensorflow as tf
from absl import logging

from nag_tf import export_metadata, pretrained
from nag_tf.core.config import TrainConfig, generator_for
from nag_tf.errors import NAGError
from nag_tf.evaluation import metrics

# An interpolation runs between sample numbers seed + 1000 and seed + 1001: two z apart from the samples
# a report draws (numbers seed .. seed + count - 1) for any count up to 1000.
INTERPOLATION_ENDS = 1000

__all__ = [
    "PerturbationSource",
    "GeneratorSource",
    "FixedPerturbationSource",
    "PerturbationSetSource",
    "ExportedSource",
    "load_source",
    "save_perturbation",
    "weights_source",
    "load_saved_model",
    "load_generator_weights",
]


class PerturbationSource:
    """Yields perturbations on the 0-255 scale for a given image size.

    Attributes:
      name: the row's name in a report.
      xi: the budget it was trained under.
      target_name: the target(s) it was trained against, comma-separated: evaluation there is white-box.
      clip: whether x + delta is clipped to [0, 255] (the reference code does not).
      resize: how images reach the target's size ("crop" or "stretch").
      target_class: a targeted source's class (then the rate is the targeted success rate), else None.
      distinct_samples: at most this many different perturbations (None: no limit).
    """

    name = "source"
    xi = 10.0
    target_name = None
    clip = True
    resize = "crop"
    target_class = None
    distinct_samples = None
    norm = "linf"
    config = None  # the TrainConfig it was trained with, where known (a log directory, a shipped generator)

    def sample(self, count, seed):
        raise NotImplementedError

    def interpolate(self, steps, seed):
        """Perturbations along a line between two latent points; None for a single perturbation."""
        return None


class GeneratorSource(PerturbationSource):
    def __init__(
        self, generator, xi, name="nag", target_name=None, clip=True, resize="crop", target_class=None, shape=None
    ):
        """`shape`: (image size, latent size) where `generator` is a plain function, not a Keras model."""
        self.generator = generator
        self.xi = float(xi)
        self.name = name
        self.target_name = target_name
        self.clip, self.resize, self.target_class = clip, resize, target_class
        self.image_size, self.latent_dim = shape or (int(generator.output_shape[1]), int(generator.input_shape[-1]))

    def _latents(self, count, seed):
        """z number seed .. seed + count - 1: sample k of seed 0 is the exported `sample` signature's seed k."""
        return metrics.sample_latents(count, self.latent_dim, seed)

    def sample(self, count, seed):
        return self.generator(self._latents(count, seed), training=False)

    def interpolate(self, steps, seed):
        """z(t) = (1 - t) z0 + t z1 for t in linspace(0, 1, steps): the paper's interpolation experiment."""
        ends = self._latents(2, seed + INTERPOLATION_ENDS)
        t = tf.linspace(0.0, 1.0, steps)[:, tf.newaxis]
        return self.generator((1.0 - t) * ends[0] + t * ends[1], training=False), ends


class PerturbationSetSource(PerturbationSource):
    """K universal perturbations from K runs of a single-perturbation method, scored as one set:
    sample(count) is the first `count` of them, so a set of K is evaluated on exactly its K members."""

    def __init__(self, perturbations, xi, name="uap_set", target_name=None, clip=True):
        self.perturbations = tf.convert_to_tensor(np.stack([np.asarray(p) for p in perturbations]), tf.float32)
        self.distinct_samples = int(self.perturbations.shape[0])
        self.xi = float(xi)
        self.name = name
        self.target_name = target_name
        self.clip = clip
        self.image_size = int(self.perturbations.shape[1])

    def sample(self, count, seed):
        del seed  # the set is what it is: its members in the order their runs were made
        return self.perturbations[:count]


class FixedPerturbationSource(PerturbationSetSource):
    """One universal perturbation (e.g. SGD-UAP): every sample is the same delta (evaluated once)."""

    def __init__(self, perturbation, xi, name="uap", target_name=None, clip=True):
        super().__init__([perturbation], xi, name, target_name, clip)
        self.perturbation = self.perturbations[0]

    def sample(self, count, seed):
        return tf.repeat(self.perturbation[tf.newaxis], count, axis=0)


def _first_line(problem):
    return (str(problem).strip().splitlines() or [type(problem).__name__])[0][:300]


def load_saved_model(version_dir):
    """tf.saved_model.load, with a damaged version (a variables file missing, truncated or garbage; a
    corrupt graph) turned into one NAGError naming the folder, for the binaries and the server alike.

    TensorFlow reads the variables when loading, so a version that loads has every variable intact.
    """
    try:
        return tf.saved_model.load(version_dir)
    # Any exception: damage surfaces as OpError, OSError, IndexError ("Read less bytes than requested"),
    # protobuf's DecodeError, ValueError... depending on which byte is wrong.
    except Exception as problem:  # noqa: BLE001
        raise NAGError(
            f"SavedModel {version_dir} is damaged and cannot be loaded ({_first_line(problem)}); "
            "export it again (python -m export.saved_model)"
        ) from None


def load_generator_weights(generator, weights_path):
    """generator.load_weights, with a truncated, garbage or other-architecture file as one NAGError naming it."""
    try:
        with warnings.catch_warnings():
            # Keras only warns when parts of the file match no layer ("Skipping ... will retain their
            # freshly-initialized weights"): a half-loaded generator must not pass as the trained one.
            warnings.filterwarnings("error", message=".*(Skipping|freshly-initialized|could not be loaded)")
            generator.load_weights(weights_path)
    except Exception as problem:  # noqa: BLE001 -- h5py and Keras raise OSError, ValueError, KeyError... by damage
        raise NAGError(
            f"{weights_path} cannot be loaded into this run's generator ({_first_line(problem)}): the file is "
            "damaged or from another architecture (its config.json must be the one it was trained with)"
        ) from None


class ExportedSource(GeneratorSource):
    """An exported SavedModel version (export.saved_model): its `serving_default` signature is the generator,
    scored under the choices its metadata records (nag_tf.export_metadata)."""

    def __init__(self, version_dir, name=None):
        try:
            metadata = export_metadata.read_metadata(version_dir)
        except (OSError, ValueError, KeyError) as problem:
            raise NAGError(
                f"{version_dir} has no readable assets/{export_metadata.METADATA_ASSET} ({_first_line(problem)}); "
                "export it with python -m export.saved_model"
            ) from None
        signature = load_saved_model(version_dir).signatures["serving_default"]
        super().__init__(
            generator=lambda z, training=False: signature(z=tf.convert_to_tensor(z, tf.float32))["perturbation"],
            xi=metadata.xi,
            name=name or f"{os.path.basename(os.path.dirname(os.path.normpath(version_dir)))}_v{metadata.version}",
            target_name=metadata.target,
            clip=metadata.clip,
            resize=metadata.resize,
            target_class=metadata.target_class,
            shape=(metadata.image_size, metadata.latent_dim),
        )
        self.norm = metadata.norm


def save_perturbation(perturbation, path, xi, target_name, norm="linf", method="sgd_uap", clip=True, extra=None):
    """Writes the perturbation as .npy plus a .json with xi, norm, clip, the target (and `extra`), each atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    writing = path + ".writing.npy"
    np.save(writing, perturbation.astype(np.float32))
    os.replace(writing, path)
    meta = {"xi": float(xi), "norm": norm, "target": target_name, "method": method, "clip": bool(clip), **(extra or {})}
    with open(path[:-4] + ".json.writing", "w") as handle:
        json.dump(meta, handle)
    os.replace(path[:-4] + ".json.writing", path[:-4] + ".json")
    return path


def _load_fixed(path, name):
    if not os.path.exists(path):
        raise NAGError(f"perturbation file {path!r} does not exist")
    perturbation = np.load(path, allow_pickle=False)
    image = perturbation.shape[-3:]
    if perturbation.ndim not in (3, 4) or image[-1] != 3 or image[0] != image[1] or 0 in perturbation.shape:
        raise NAGError(
            f"{path} holds an array of shape {perturbation.shape}; expected [S, S, 3] (one perturbation) or "
            "[K, S, S, 3] (a set learnt jointly)"
        )
    meta = {}
    meta_path = path[:-4] + ".json"
    if os.path.exists(meta_path):
        with open(meta_path) as handle:
            meta = json.load(handle)
    if meta.get("complete") is False:
        logging.warning("%s was saved when training stopped (%s) after %s steps: not a finished perturbation",
                        path, meta.get("stopped_by"), meta.get("steps"))  # fmt: skip
    xi = float(meta.get("xi", np.max(np.abs(perturbation))))
    name = name or os.path.basename(path)[:-4]
    if perturbation.ndim == 4:
        return PerturbationSetSource(list(perturbation), xi, name, meta.get("target"), meta.get("clip", True))
    return FixedPerturbationSource(perturbation, xi, name, meta.get("target"), meta.get("clip", True))


def _load_run(path, name):
    if not os.path.exists(os.path.join(path, "config.json")):
        raise NAGError(
            f"{path!r} is neither a training log directory (no config.json), an exported version (no saved_model.pb) "
            "nor a .npy perturbation"
        )
    weights = next(
        (
            os.path.join(path, f)
            for f in ("best.weights.h5", "final.weights.h5")
            if os.path.exists(os.path.join(path, f))
        ),
        None,
    )
    if weights is None:
        raise NAGError(f"{path!r} has no best.weights.h5 or final.weights.h5; train first")
    return weights_source(TrainConfig.from_logdir(path), weights, name or os.path.basename(os.path.normpath(path)))


def weights_source(config, weights_path, name):
    """A generator of `config` with the weights at `weights_path` (a run's best/final weights, or a snapshot
    taken while it trained), scored as its training config says."""
    generator = generator_for(config)
    load_generator_weights(generator, weights_path)
    return _trained_source(config, generator, name)


def _trained_source(config, generator, name):
    """A generator scored as its training config says: its xi, target(s), clip, resize and target class."""
    source = GeneratorSource(
        generator,
        config.xi,
        name=name,
        target_name=config.target_text,
        clip=config.clip,
        resize=config.resize,
        target_class=config.target_class,
    )
    source.norm, source.config = config.norm, config
    return source


def _load_pretrained(path, name):
    config, generator = pretrained.load_pretrained(path)
    return _trained_source(config, generator, name or path.replace(":", "_"))


def load_source(path, name=None):
    """A generator from a training log directory (config.json + best/final weights), an exported
    SavedModel version directory, a shipped generator (`pretrained:NAME`, nag_tf.pretrained), a
    `.npy` perturbation, or a single-perturbation method's run folder (nag_tf.methods: perturbation.npy).

    Raises:
      NAGError: the path is neither, or its files are missing or inconsistent.
    """
    if path.startswith(pretrained.PREFIX):
        return _load_pretrained(path, name)
    if path.endswith(".npy"):
        return _load_fixed(path, name)
    if os.path.exists(os.path.join(path, "perturbation.npy")):  # a single-perturbation method's run folder
        return _load_fixed(os.path.join(path, "perturbation.npy"), name or os.path.basename(os.path.normpath(path)))
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return ExportedSource(path, name)
    return _load_run(path, name)
