"""Target classifiers for NAG: `keras.applications` models and offline EfficientNet-Lite.

Importing this package fills the registry.
"""

from keras_apps import applications  # noqa: F401  (registers the keras.applications targets)
from keras_apps import efficientnet_lite  # noqa: F401  (registers the offline EfficientNet-Lite targets)
from keras_apps.registry import Target, TargetOutputs, TargetSpec, get_spec, known_targets, load_target, register

__all__ = ["Target", "TargetOutputs", "TargetSpec", "get_spec", "known_targets", "load_target", "register"]
