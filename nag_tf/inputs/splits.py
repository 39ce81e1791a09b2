"""A photo folder split into train/ and holdout/ folders, written as labels.csv files that point at the photos.

Every method takes its photos as a folder (nag_tf.methods.train); a comparison or a hardening run that
splits one read-only folder writes the two parts here (no photo is copied), so every method trains on the
same part and nothing it trains on is scored.
"""

import csv
import os
import tempfile

from nag_tf.inputs import data

__all__ = ["write_split_folders"]


def write_split_folders(folder, holdout, seed, out_dir, max_images=0):
    """Splits an image folder into `out_dir`/train and `out_dir`/holdout by `data.split_records`.

    Args:
      folder: a folder with labels.csv, or "demo".
      holdout: a fraction in (0, 1) or a count of held-out photos.
      seed: the split's seed.
      out_dir: where the two folders go (each a labels.csv of absolute paths, which read_image_folder accepts).
      max_images: as TrainConfig.max_images: only the first photos (0: all).

    Returns:
      (train folder, holdout folder).
    """
    records = data.read_image_folder(data.training_folder(folder))
    if max_images:
        records = records.subset(range(min(max_images, len(records))))
    train, held_out = data.split_records(records, holdout, seed)
    folders = []
    for name, part in (("train", train), ("holdout", held_out)):
        directory = os.path.join(out_dir, name)
        os.makedirs(directory, exist_ok=True)
        # A unique staging name: comparisons on two cores share one workdir and may write the same split at
        # once; with one fixed name, one process's rename took the other's half-written file from under it.
        descriptor, writing = tempfile.mkstemp(prefix="labels.csv.", suffix=".writing", dir=directory)
        with os.fdopen(descriptor, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file", "class_index"])
            for path, label in zip(part.paths, part.true_labels):
                writer.writerow([os.path.abspath(path), label])
        os.replace(writing, os.path.join(directory, "labels.csv"))
        folders.append(directory)
    return tuple(folders)
