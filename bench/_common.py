"""What the method-comparison benches share: the data flags, the folder choice, the machine's name.

Imported by `bench/compare.py` and `bench/diversity_study.py` (python puts bench/ on the path
when a script in it runs); nag_tf itself comes from the installed package. A helper, not a
bench: it prints nothing (the benches print their figures as a last line of JSON, json.dumps).
"""

import csv
import os
import socket

from _machine import machine  # noqa: F401  (the benches call _common.machine())
from absl import flags

from nag_tf.inputs import data

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
    """(training folder, evaluation folder): --split divided by --holdout, else --train_data and --eval_data.

    The evaluation images never reach training: NAG chooses its best epoch on
    images carved out of the training folder (--selection_images).
    """
    if SPLIT.value:
        return write_split_folders(SPLIT.value, HOLDOUT.value, SPLIT_SEED.value, os.path.join(workdir, "split"))
    return data.training_folder(TRAIN.value), data.evaluation_folder(EVAL.value)


def split_name():
    """Which images were used, for the JSON: the split's folder, fraction and seed, or the two folders."""
    if SPLIT.value:
        return f"{SPLIT.value} holdout={HOLDOUT.value:g} split_seed={SPLIT_SEED.value}"
    return f"train={TRAIN.value} eval={EVAL.value}"


def free_port():
    """A free TCP port on 127.0.0.1, for the servers the benches start (TensorBoard, export.serve)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def short_target(name):
    """'efficientnet_lite1' -> 'lite1': the suffix of the JSON's transfer keys."""
    return name.replace("efficientnet_", "")


def write_split_folders(folder, holdout, seed, out_dir):
    """Splits an image folder into train/ and holdout/ folders under `out_dir` without copying images.

    Each gets a labels.csv listing absolute paths (read_image_folder accepts
    them), so a benchmark can train on one part of a read-only folder and
    evaluate on the other. Returns (train folder, holdout folder).
    """
    records = data.read_image_folder(folder)
    train, held_out = data.split_records(records, holdout, seed)
    folders = []
    for name, part in (("train", train), ("holdout", held_out)):
        directory = os.path.join(out_dir, name)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "labels.csv"), "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file", "class_index"])
            for path, label in zip(part.paths, part.true_labels):
                writer.writerow([os.path.abspath(path), label])
        folders.append(directory)
    return tuple(folders)
