"""Target classifiers for NAG: `keras.applications` models and offline EfficientNet-Lite.

The names below come from `keras_apps.registry`, imported on first use, so
`keras_apps.errors` (which nag_tf's binaries import before parsing flags)
does not pull in Keras and TensorFlow. The registry fills itself with the
built-in targets on its first lookup.
"""

import importlib

__all__ = [
    "EnsembleTarget",
    "Target",
    "TargetOutputs",
    "TargetSpec",
    "canonical_target_name",
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


def __getattr__(name):  # PEP 562: keras_apps.load_target etc. import the registry when first used
    if name in __all__:
        return getattr(importlib.import_module("keras_apps.registry"), name)
    raise AttributeError(f"module 'keras_apps' has no attribute {name!r}")
