"""nag_tf: NAG (Network for Adversary Generation, Mopuri et al., CVPR 2018) in TensorFlow/Keras.

The tree shows the layers; each sub-package imports only those above it in this list:
  choices, errors, signals, flags_util, export_metadata  - shared, TensorFlow-free where they can be
  core        - the generator, the losses, NAGModel (the custom train_step) and TrainConfig, a run typed
  inputs      - photos read and decoded (image folders, tfds), labelled once by the target, batched
  evaluation  - the measures, what is scored (sources), evaluate_lib, reports and plots
  training    - the flags, callbacks, checkpoints, devices and the loop (train_lib)
  pretrained  - the shipped generators (weights and their TrainConfig)
  baselines   - single-perturbation methods (SGD-UAP, SGA, DM-UAP) for the head-to-head
  hardening   - fine-tuning a copy of the target on perturbations, then attacking it
  train, evaluate, harden - the absl binaries: `python -m nag_tf.train --flagfile=...`
  flag_reference - writes docs/flags.md from every binary's flag definitions
"""

from nag_tf.errors import NAGError

__all__ = ["NAGError"]
__version__ = "0.1.0"
