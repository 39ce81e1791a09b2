"""The table of target classifiers by name: what each is (`TargetSpec`), and the built-in and user modules
that fill it (`register`).

Each entry says how to build the classifier (with logits out, so the softmax is computed in float32 by
us), how it preprocesses 0-255 RGB images, its input size, and which layer the diversity loss reads: the
softmax by default (the paper) and, where the authors' code used one, its intermediate layer; and the mid
layer a feature loss reads by default (the end of the stride-8 stage, as BIA and FG-UAP take it). The
modules that define targets import this one only, so the table has no import cycle.
"""

import dataclasses
import importlib
import os
from collections.abc import Callable

import tensorflow as tf

from keras_apps.errors import NAGError

__all__ = ["LOGITS", "SOFTMAX", "TargetOutputs", "TargetSpec", "known_targets", "registered", "register"]

# Diversity layers that are not layer names.
SOFTMAX = "softmax"
LOGITS = "logits"


@dataclasses.dataclass(frozen=True)
class TargetSpec:
    """How to build and feed one classifier.

    Attributes:
      name: registry key, e.g. "vgg19".
      build: weights ("imagenet" | None | a file path understood by the
        builder) -> keras.Model from preprocessed images to logits.
      preprocess: 0-255 RGB float tensor -> the classifier's input scale.
      image_size: square input side.
      preprocess_mode: "caffe", "tf", "torch", "none", "lite" or (a model file) "scale=A:B", for docs/tests.
      reference_layer: the intermediate layer the authors' code used for the
        diversity loss, if any.
      offline_weights: a callable returning a local weights path (or None),
        for targets whose weights ship with a Python package.
      weights_file_loader: loads a non-Keras weights file into the built model
        (e.g. a PyTorch checkpoint); None means `model.load_weights`.
      build_from_file: path -> keras.Model with those weights, for builders
        whose graph depends on the weights argument (Keras' EfficientNet adds
        an input Rescaling only for "imagenet"); None means build(None) and load.
    """

    name: str
    build: Callable
    preprocess: Callable
    image_size: int
    preprocess_mode: str
    reference_layer: str | None = None
    offline_weights: Callable | None = None
    weights_file_loader: Callable | None = None
    build_from_file: Callable | None = None
    num_classes: int = 1000
    # The mid layer of `--feature_loss=... --feature_layer=default`: the end of the stride-8 stage (BIA: VGG16
    # pool3, ResNet's layer2), where features are generic enough to transfer; None: no default.
    feature_layer: str | None = None
    # A user's model file (keras_apps.model_file): its path, and whether its output was logits, the
    # logits before a final softmax, or log-probabilities (printed in the run's log).
    source_file: str | None = None
    output_kind: str = "logits"


@dataclasses.dataclass(frozen=True)
class TargetOutputs:
    logits: tf.Tensor
    probs: tf.Tensor
    features: tf.Tensor
    # The feature layer's activations (Target's feature_layer), from the same forward pass; None without one.
    mid_features: tf.Tensor | None = None


_REGISTRY = {}


def register(spec):
    """Adds a target to the registry (later entries replace earlier ones)."""
    _REGISTRY[spec.name] = spec
    return spec


_BUILTIN_MODULES = ("keras_apps.applications", "keras_apps.efficientnet_lite")
# Modules of one's own that register more targets when imported (comma-separated, importable names): how a
# lab adds its architectures by name, with their preprocessing and layers (docs/training.md), and how the
# tests add their tiny CNNs (tests/helpers/tiny_targets.py).
TARGET_MODULES_VARIABLE = "NAG_TF_TARGET_MODULES"


def _load_builtin_targets():
    """Registers the built-in targets once (their modules call `register` when imported), then those of the
    modules named in NAG_TF_TARGET_MODULES."""
    extra = [name.strip() for name in os.environ.get(TARGET_MODULES_VARIABLE, "").split(",") if name.strip()]
    for module in _BUILTIN_MODULES + tuple(extra):
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise NAGError(
                f"{TARGET_MODULES_VARIABLE} names {module!r}, which cannot be imported ({error}); put its folder "
                "on PYTHONPATH or fix the name"
            ) from None


def known_targets():
    _load_builtin_targets()
    return sorted(_REGISTRY)


def registered(name):
    """The spec registered as `name` (the built-in targets loaded first), or None."""
    _load_builtin_targets()
    return _REGISTRY.get(name)
