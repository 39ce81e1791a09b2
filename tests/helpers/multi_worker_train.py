"""One worker of a 2-worker MultiWorkerMirroredStrategy run (TF_CONFIG comes from the environment).

Usage: python multi_worker_train.py IMAGE_FOLDER LOGDIR EPOCHS
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import keras  # noqa: E402

keras.config.disable_traceback_filtering()
from nag_tf.core.config import TrainConfig  # noqa: E402
from nag_tf.training import train_lib  # noqa: E402

config = TrainConfig(
    target="tiny_cnn",
    weights="none",
    data_dir=sys.argv[1],
    holdout=8,
    selection_images=8,
    batch_size=8,
    epochs=int(sys.argv[3]),
    steps_per_epoch=3,
    latent_dim=4,
    generator="light",
    logdir=sys.argv[2],
    eval_samples=2,
    verbose=0,
    strategy="multi_worker",
)
result = train_lib.train(config)
print(f"done: steps={result.steps}", flush=True)
