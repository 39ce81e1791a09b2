"""Target classifiers for NAG: `keras.applications` models and offline EfficientNet-Lite.

Importing this package fills the registry.
"""

from keras_apps import applications  # noqa: F401  (registers the keras.applications targets)
from keras_apps import efficientnet_lite  # noqa: F401  (registers the offline EfficientNet-Lite targets)
from keras_apps.registry import (
    EnsembleTarget,
    Target,
    TargetOutputs,
    TargetSpec,
    ensemble_image_size,
    get_spec,
    known_targets,
    load_target,
    load_targets,
    parse_target_names,
    parse_target_weights,
    register,
    resize_for,
)

__all__ = [
    "EnsembleTarget",
    "Target",
    "TargetOutputs",
    "TargetSpec",
    "ensemble_image_size",
    "get_spec",
    "known_targets",
    "load_target",
    "load_targets",
    "parse_target_names",
    "parse_target_weights",
    "register",
    "resize_for",
]
