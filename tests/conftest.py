"""Shared fixtures: small synthetic image folders and a tiny training config."""

import os

from helpers.cli import CHILD_PYTHONPATH

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The tests' tiny targets (tests/helpers/tiny_targets.py) join the registry as a user's own target module would,
# here and in every binary a test starts (tests/ is on their PYTHONPATH).
os.environ["NAG_TF_TARGET_MODULES"] = "helpers.tiny_targets"
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [CHILD_PYTHONPATH, os.environ.get("PYTHONPATH")]))

import numpy as np
import pytest
import tensorflow as tf

SHARED_SAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "imagenet-sample")


def write_image_folder(directory, count, size=48, seed=0, labels=True):
    """Writes `count` JPEGs of smooth random colour patterns plus a labels.csv; returns the folder."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    rows = ["file,wnid,class_index,class_name"]
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(count):
        phases = rng.uniform(0, 2 * np.pi, size=3)
        freqs = rng.uniform(1, 6, size=(3, 2))
        image = np.stack(
            [127.5 + 127.5 * np.sin(2 * np.pi * (f[0] * xx + f[1] * yy) + p) for f, p in zip(freqs, phases)], axis=-1
        )
        name = f"img{i:03d}.jpg"
        tf.io.write_file(os.path.join(directory, name), tf.io.encode_jpeg(image.astype(np.uint8)))
        rows.append(f"{name},n{i:08d},{i % 10},class{i % 10}")
    if labels:
        with open(os.path.join(directory, "labels.csv"), "w") as handle:
            handle.write("\n".join(rows) + "\n")
    return str(directory)


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("images"), 48)


def tiny_train_config(image_folder, logdir, **overrides):
    """A TrainConfig for the tiny test target on a synthetic folder: a few seconds of training."""
    from nag_tf.core.config import TrainConfig

    values = dict(
        target="tiny_cnn",
        weights="none",
        data_dir=image_folder,
        holdout=8,
        selection_images=8,
        batch_size=8,
        epochs=2,
        learning_rate=1e-3,
        latent_dim=4,
        generator="light",
        logdir=str(logdir),
        image_every_steps=3,
        eval_samples=3,
        verbose=0,
    )
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture
def tiny_config(image_folder, tmp_path):
    return lambda **overrides: tiny_train_config(image_folder, overrides.pop("logdir", tmp_path / "run"), **overrides)
