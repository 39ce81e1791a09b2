r"""The data split behind the shipped generator (nag_tf/pretrained/): which photos trained it, which report on it.

  python bench/pretrained_data.py --split=../shared/data/imagenet-sample --out=/tmp/pretrained_data

The report set is the demo set's 64 held-out photos (so a fresh install can re-check the model
card on photos the package ships) plus a seeded --holdout share of the other photos; every
other photo trains. The sample holds one photo per class, so no report photo shares a class
with a training photo. Writes train/ and report/ folders of labels.csv with absolute paths
(no image is copied); the last line is JSON with the counts.
"""

import csv
import json
import os

import numpy as np
from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit
from nag_tf.inputs import data

_SPLIT = flags.DEFINE_string("split", "../shared/data/imagenet-sample", "The photo folder to divide.")
_HOLDOUT = flags.DEFINE_float("holdout", 0.2, "Share of the non-demo photos that joins the report set.")
_SEED = flags.DEFINE_integer("split_seed", 0, "Seed of that share.")
_OUT = flags.DEFINE_string("out", None, "Where train/ and report/ go.", required=True)


def _write(folder, paths, labels):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "labels.csv"), "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "class_index"])
        for path, label in zip(paths, labels):
            writer.writerow([os.path.abspath(path), label])


def _main(argv):
    del argv
    records = data.read_image_folder(_SPLIT.value)
    demo_holdout = {os.path.basename(p) for p in data.read_image_folder(data.evaluation_folder(data.DEMO)).paths}
    in_demo = np.array([os.path.basename(p) in demo_holdout for p in records.paths])
    others = np.flatnonzero(~in_demo)
    order = np.random.default_rng(_SEED.value).permutation(len(others))
    n_report = int(round(_HOLDOUT.value * len(others)))
    report = sorted(np.concatenate([np.flatnonzero(in_demo), others[order[:n_report]]]).tolist())
    train = sorted(others[order[n_report:]].tolist())
    for name, indices in (("train", train), ("report", report)):
        part = records.subset(indices)
        _write(os.path.join(_OUT.value, name), part.paths, part.true_labels)
    summary = {
        "split": _SPLIT.value,
        "holdout": _HOLDOUT.value,
        "split_seed": _SEED.value,
        "train_photos": len(train),
        "report_photos": len(report),
        "demo_holdout_in_report": int(in_demo.sum()),
        "out": os.path.abspath(_OUT.value),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
