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

`import nag_tf` stays light: the API module imports TensorFlow only inside its functions.
"""

from nag_tf import api
from nag_tf.api import *  # noqa: F403  (the API's names: nag_tf.api.__all__, declared there once)
from nag_tf.errors import NAGError

__all__ = ["NAGError", *api.__all__]
__version__ = "0.1.0"
