"""Trains the tiny target on one device and under MirroredStrategy over 2 logical CPUs; prints JSON.

Run in its own process: logical devices must be configured before TensorFlow starts.
Usage: python mirrored_check.py IMAGE_FOLDER WORKDIR
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from nag_tf.training import distribute

distribute.use_logical_cpus(2)

import numpy as np  # noqa: E402

from nag_tf.core.config import TrainConfig  # noqa: E402
from nag_tf.core.generator import build_generator  # noqa: E402
from nag_tf.training import train_lib  # noqa: E402


def run(strategy, logdir):
    import tensorflow as tf

    if strategy == "mirrored":
        original = distribute.make_strategy
        distribute.make_strategy = lambda name: tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    try:
        config = TrainConfig(
            target="tiny_cnn",
            weights="none",
            data_dir=sys.argv[1],
            holdout=8,
            selection_images=8,
            batch_size=8,
            epochs=1,
            steps_per_epoch=4,
            latent_dim=4,
            generator="light",
            diversity_weight=0.0,
            logdir=logdir,
            eval_samples=2,
            verbose=0,
            strategy=strategy,
        )
        result = train_lib.train(config)
    finally:
        if strategy == "mirrored":
            distribute.make_strategy = original
    generator = build_generator(32, 4, 10.0, "light")
    generator.load_weights(os.path.join(logdir, "final.weights.h5"))
    return (
        result,
        [w.numpy() for w in generator.trainable_weights],
        [w.numpy() for w in generator.non_trainable_weights],
    )


single, single_weights, single_stats = run("default", os.path.join(sys.argv[2], "single"))
mirrored, mirrored_weights, mirrored_stats = run("mirrored", os.path.join(sys.argv[2], "mirrored"))
print(
    json.dumps(
        {
            "single_loss": single.history["loss"],
            "mirrored_loss": mirrored.history["loss"],
            "single_fooling": single.history["fooling_loss"],
            "mirrored_fooling": mirrored.history["fooling_loss"],
            "max_weight_difference": float(max(np.abs(a - b).max() for a, b in zip(single_weights, mirrored_weights))),
            "fraction_equal_weights": float(
                np.mean(
                    np.concatenate([(np.abs(a - b) < 1e-4).ravel() for a, b in zip(single_weights, mirrored_weights)])
                )
            ),
            "max_weight": float(max(np.abs(a).max() for a in single_weights)),
            "max_statistics_difference": float(max(np.abs(a - b).max() for a, b in zip(single_stats, mirrored_stats))),
            "steps": [single.steps, mirrored.steps],
        }
    )
)
