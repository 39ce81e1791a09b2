"""Generators that ship with nag_tf, trained already: `pretrained:NAME` wherever a source is read.

Each one is a folder here: `config.json` (the TrainConfig it was trained
with), `generator.npz` (its weights as float16 arrays in the generator's
weight order) and `MODEL_CARD.md` / `card.json` (data, budget, machine,
commit and the figures measured on photos of classes it never saw; written by
bench/pretrained_card.py). Weights are float16 to halve the wheel (a Keras
`.weights.h5` holds a float32 model's weights as float32); card.json records
that the float16 generator fools as the float32 one did.
"""

import json
import os

import numpy as np

from nag_tf.errors import NAGError

__all__ = ["PREFIX", "known_pretrained", "pretrained_dir", "load_pretrained", "save_pretrained", "read_card"]

PREFIX = "pretrained:"
_HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS_FILE = "generator.npz"


def known_pretrained():
    return sorted(n for n in os.listdir(_HERE) if os.path.isfile(os.path.join(_HERE, n, WEIGHTS_FILE)))


def pretrained_dir(name):
    """The folder of a shipped generator ('efficientnet_lite0' or 'pretrained:efficientnet_lite0')."""
    name = name[len(PREFIX) :] if name.startswith(PREFIX) else name
    if name not in known_pretrained():
        raise NAGError(f"no shipped generator {name!r}; shipped: {', '.join(known_pretrained()) or 'none'}")
    return os.path.join(_HERE, name)


def read_card(name):
    """The measured figures of a shipped generator (card.json)."""
    with open(os.path.join(pretrained_dir(name), "card.json")) as handle:
        return json.load(handle)


def load_pretrained(name):
    """(TrainConfig, generator with the shipped weights) of a shipped generator."""
    from nag_tf.core.config import TrainConfig, generator_for

    folder = pretrained_dir(name)
    config = TrainConfig.from_logdir(folder)
    generator = generator_for(config)
    with np.load(os.path.join(folder, WEIGHTS_FILE)) as stored:
        arrays = [stored[f"w{i}"] for i in range(len(stored.files))]
    if [a.shape for a in arrays] != [tuple(w.shape) for w in generator.weights]:
        raise NAGError(f"{folder}/{WEIGHTS_FILE} does not fit the generator its config.json describes; reinstall")
    generator.set_weights([a.astype(np.float32) for a in arrays])
    return config, generator


def save_pretrained(generator, config, folder):
    """Writes config.json and the float16 weights of `generator` into `folder` (bench/pretrained_card.py)."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as handle:
        handle.write(config.to_json())
    arrays = {f"w{i}": np.asarray(w.numpy(), np.float16) for i, w in enumerate(generator.weights)}
    np.savez_compressed(os.path.join(folder, WEIGHTS_FILE), **arrays)
