"""nag_tf: NAG (Network for Adversary Generation, Mopuri et al., CVPR 2018) in TensorFlow/Keras.

The tree shows the layers; each sub-package imports only those above it in this list:
  choices, errors, signals, flags_util, export_metadata  - shared, TensorFlow-free where they can be
  core        - the generator, the losses, NAGModel (the custom train_step) and TrainConfig, a run typed
  inputs      - photos read and decoded (image folders, tfds), labelled once by the target, batched
  evaluation  - the measures, what is scored (sources), evaluate_lib, reports and plots
  training    - the flags, callbacks, checkpoints, devices and the loop (train_lib)
  pretrained  - the shipped generators (weights and their TrainConfig)
  baselines   - single-perturbation algorithms (SGD-UAP, SGA, DM-UAP)
  methods     - every attack as one concept: settings records and the one `train` call
  comparison, hardening - the head-to-head and K-sets at equal compute; hardening a copy of the target
  api         - the names below, for a notebook (docs/api.md)
  train, evaluate, compare, sets, harden, harden_compare - the absl binaries: `python -m nag_tf.train ...`
  flag_reference - writes docs/flags.md from every binary's flag definitions

`import nag_tf` stays light (no TensorFlow): the API's names are imported on first use (PEP 562).
"""

import importlib

from nag_tf.errors import NAGError

_API = (
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
    "train",
)
__all__ = ["NAGError", *_API]
__version__ = "0.1.0"


def __getattr__(name):
    if name in _API:
        return getattr(importlib.import_module("nag_tf.api"), name)
    raise AttributeError(f"module 'nag_tf' has no attribute {name!r}")
