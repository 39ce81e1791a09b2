"""What the studies in bench/ share: the data flags, the folder choice, the machine's name, a free port.

Imported by `bench/diversity_study.py`, `bench/pretrained_card.py` and others (python puts bench/ on the path
when a script in it runs); nag_tf itself comes from the installed package. A helper, not a
bench: it prints nothing (the benches print their figures as a last line of JSON, json.dumps).
"""

import socket

from absl import flags

from nag_tf.comparison.machine import machine  # noqa: F401  (the benches call _common.machine())
from nag_tf.comparison.plan import photo_folders

TARGET = flags.DEFINE_string("target", "efficientnet_lite0", "Target (white-box).")
TRAIN = flags.DEFINE_string(
    "train_data", "demo", "Training images (folder with labels.csv, or demo = the demo set's train/)."
)
SPLIT = flags.DEFINE_string(
    "split",
    None,
    "Instead of --train_data/--eval_data: split this folder (e.g. ../shared/data/imagenet-sample) by --holdout.",
)
HOLDOUT = flags.DEFINE_float("holdout", 0.2, "With --split: the held-out fraction (or count).")
SPLIT_SEED = flags.DEFINE_integer(
    "split_seed", 0, "With --split: the split's seed (fixed, so runs with other --seed share images)."
)
EVAL = flags.DEFINE_string(
    "eval_data", "demo", "Held-out evaluation images (folder with labels.csv, or demo = the demo set's holdout/)."
)
SAMPLES = flags.DEFINE_integer("samples", 10, "Sampled perturbations in the evaluation.")
WORKDIR = flags.DEFINE_string("workdir", None, "Where runs go (default: a temporary folder).")


def folders(workdir):
    """(training folder, evaluation folder): --split divided by --holdout, else --train_data and --eval_data
    (nag_tf.comparison.plan.photo_folders, as the package's comparisons choose them)."""
    return photo_folders(SPLIT.value, HOLDOUT.value, SPLIT_SEED.value, TRAIN.value, EVAL.value, workdir)[:2]


def free_port():
    """A free TCP port on 127.0.0.1, for the servers the benches start (TensorBoard, export.serve)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
