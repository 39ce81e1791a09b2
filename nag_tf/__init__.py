"""nag_tf: NAG (Network for Adversary Generation, Mopuri et al., CVPR 2018) in TensorFlow/Keras.

Modules, one responsibility each:
  generator  - the Keras generator z -> delta with ||delta||_inf <= xi
  losses     - fooling and diversity losses (pure functions)
  model      - NAGModel, the custom train_step against a frozen target
  data       - tf.data pipelines (image folders, tfds) with clean labels cached once
  config     - the typed, validated training configuration
  train_lib  - training loop: checkpoints, TensorBoard, best generator
  train      - the absl binary: `python -m nag_tf.train --flagfile=...`
"""

from nag_tf.errors import NAGError

__all__ = ["NAGError"]
__version__ = "0.1.0"
