"""Where the photos come from: image folders (with or without labels.csv), the demo set, splits, tfds,
and decoding to the target's square input (resize the shorter side + centre crop, uint8).

Corrupt or unusable images are skipped and counted, never a crash. What is done with the decoded photos
(clean labels computed once, batches) is `nag_tf.inputs.batches`.
"""

import collections
import csv
import dataclasses
import os

import numpy as np
import tensorflow as tf

from nag_tf.choices import RESIZE_MODES
from nag_tf.errors import NAGError

__all__ = [
    "ImageRecords",
    "read_image_folder",
    "split_records",
    "resize_to_square",
    "decode_records",
    "read_tfds",
    "training_folder",
    "evaluation_folder",
    "RESIZE_MODES",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# `--data_dir=demo` names the bundled demo set (192 training + 64 held-out ImageNet photos).
DEMO = "demo"
DEMO_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "demo_data")


def resolve_folders(data_dir, holdout_dir):
    """Maps `demo` to the bundled demo set's train/ and holdout/ folders; other paths pass through."""
    if data_dir == DEMO:
        return os.path.join(DEMO_DIR, "train"), holdout_dir or os.path.join(DEMO_DIR, "holdout")
    return data_dir, holdout_dir


def training_folder(name):
    """A training folder: `demo` is the demo set's train/ part."""
    return resolve_folders(name, None)[0]


def evaluation_folder(name):
    """An evaluation folder: `demo` is the demo set's holdout/ part, never its training photos."""
    return resolve_folders(name, None)[1] if name == DEMO else name


# An image whose shorter side is below this fraction of the crop would be
# upscaled more than 2x: more blur than photo. It is skipped and counted.
MIN_SIDE_FRACTION = 0.5


@dataclasses.dataclass
class ImageRecords:
    """Image files with their ground-truth class index (-1 where unknown)."""

    paths: list
    true_labels: list
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def __len__(self):
        return len(self.paths)

    def subset(self, indices):
        return ImageRecords(
            [self.paths[i] for i in indices], [self.true_labels[i] for i in indices], collections.Counter()
        )


def read_image_folder(directory, num_classes=None):
    """Lists a folder's images and labels.

    Accepted layouts: a `labels.csv` with at least the columns `file` and
    `class_index` (like ../shared/data/imagenet-sample); class sub-folders
    (labels are the sorted folder names' ranks); or a flat folder of images
    (labels unknown). Missing files and duplicate rows are skipped and
    counted; an unknown class index is counted and its image kept unlabelled.

    Raises:
      NAGError: the folder does not exist, has no images, or labels.csv lacks a column.
    """
    if not os.path.isdir(directory):
        raise NAGError(f"data folder {directory!r} does not exist; check --data_dir")
    csv_path = os.path.join(directory, "labels.csv")
    skipped = collections.Counter()
    paths, labels = [], []
    if os.path.exists(csv_path):
        with open(csv_path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"file", "class_index"} - set(reader.fieldnames or [])
            if missing:
                raise NAGError(
                    f"{csv_path} lacks the column(s) {', '.join(sorted(missing))}; "
                    "expected a header like 'file,class_index[,class_name]'"
                )
            seen = set()
            for row in reader:
                name = (row.get("file") or "").strip()
                if name in seen:
                    skipped["duplicate row in labels.csv"] += 1
                    continue
                seen.add(name)
                path = os.path.join(directory, name)
                if not name or not os.path.isfile(path):
                    skipped["file listed in labels.csv is missing"] += 1
                    continue
                try:
                    label = int(row["class_index"])
                except (TypeError, ValueError):
                    label = -1
                if label < 0 or (num_classes is not None and label >= num_classes):
                    # NAG never needs the ground truth: keep the image, drop the label.
                    skipped["unknown class index in labels.csv (image kept, label ignored)"] += 1
                    label = -1
                paths.append(path)
                labels.append(label)
    else:
        entries = sorted(os.listdir(directory))
        class_dirs = [e for e in entries if os.path.isdir(os.path.join(directory, e))]
        if class_dirs:
            for label, class_dir in enumerate(class_dirs):
                for name in sorted(os.listdir(os.path.join(directory, class_dir))):
                    if name.lower().endswith(IMAGE_EXTENSIONS):
                        paths.append(os.path.join(directory, class_dir, name))
                        labels.append(label)
        else:
            for name in entries:
                if name.lower().endswith(IMAGE_EXTENSIONS):
                    paths.append(os.path.join(directory, name))
                    labels.append(-1)
    if not paths:
        raise NAGError(
            f"no usable image listed in {directory!r}; expected labels.csv (file,class_index), "
            "class sub-folders, or image files (.jpg/.png)"
        )
    return ImageRecords(paths, labels, skipped)


def split_records(records, holdout, seed=0):
    """Splits records into (train, held-out) reproducibly.

    Args:
      records: ImageRecords.
      holdout: a fraction in (0, 1) or a count >= 1 of held-out images.
      seed: seed of the split's permutation.
    """
    count = len(records)
    n_holdout = int(round(holdout * count)) if holdout < 1 else int(holdout)
    if not 0 < n_holdout < count:
        raise NAGError(f"cannot hold out {holdout} of {count} images; pick a fraction in (0, 1) or a smaller count")
    order = np.random.default_rng(seed).permutation(count)
    return records.subset(sorted(order[n_holdout:])), records.subset(sorted(order[:n_holdout]))


def resize_to_square(images, image_size, resize="crop"):
    """0-255 RGB image(s) [H, W, 3] or [N, H, W, 3] -> uint8 [(N,) S, S, 3]: the one preprocessing path.

    "crop" resizes the shorter side to S (antialiased) and takes the centre
    S x S; "stretch" (the reference code) resizes straight to S x S. Training,
    evaluation and the exported `perturb` signature all call this, so the
    endpoint's adversarial image is the one evaluation scored.
    """
    image = tf.cast(images, tf.float32)
    shape = tf.shape(image)
    height, width = shape[-3], shape[-2]
    if resize == "stretch":
        image = tf.image.resize(image, [image_size, image_size], antialias=True)
    else:
        scale = image_size / tf.cast(tf.minimum(height, width), tf.float32)
        new_height = tf.maximum(image_size, tf.cast(tf.round(tf.cast(height, tf.float32) * scale), tf.int32))
        new_width = tf.maximum(image_size, tf.cast(tf.round(tf.cast(width, tf.float32) * scale), tf.int32))
        image = tf.image.resize(image, [new_height, new_width], antialias=True)
        top = (new_height - image_size) // 2
        left = (new_width - image_size) // 2
        image = image[..., top : top + image_size, left : left + image_size, :]
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def _decode_and_crop(contents, image_size, resize):
    """Decodes bytes to RGB and brings it to uint8 [S, S, 3] with `resize_to_square`."""
    image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    shape = tf.shape(image)
    big_enough = tf.cast(tf.minimum(shape[0], shape[1]), tf.float32) >= MIN_SIDE_FRACTION * image_size
    return tf.ensure_shape(resize_to_square(image, image_size, resize), [image_size, image_size, 3]), big_enough


def decode_records(records, image_size, resize="crop"):
    """tf.data of (uint8 image, true label, record index); unusable images are dropped.

    Decoding errors are dropped by `ignore_errors`; which files they were is
    recovered afterwards from the missing indices (see `cache_with_clean_labels`).
    """
    if resize not in RESIZE_MODES:
        raise NAGError(f"unknown resize mode {resize!r}; expected one of {RESIZE_MODES}")

    def load(path, label, index):
        image, big_enough = _decode_and_crop(tf.io.read_file(path), image_size, resize)
        return image, label, index, big_enough

    dataset = tf.data.Dataset.from_tensor_slices(
        (records.paths, np.asarray(records.true_labels, np.int32), np.arange(len(records), dtype=np.int64))
    )
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.ignore_errors()
    dataset = dataset.filter(lambda image, label, index, big_enough: big_enough)
    return dataset.map(lambda image, label, index, big_enough: (image, label, index))


def why_unusable(path, image_size):
    """Names why a file was dropped (only called for the few files that were)."""
    try:
        contents = tf.io.read_file(path)
    except (tf.errors.OpError, OSError):
        return "unreadable file"
    if int(tf.strings.length(contents)) == 0:
        return "empty file"
    try:
        image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    except (tf.errors.OpError, ValueError):
        return "corrupt or not an image"
    if min(image.shape[0], image.shape[1]) < MIN_SIDE_FRACTION * image_size:
        return f"smaller than {int(MIN_SIDE_FRACTION * image_size)} px"
    return "could not be decoded"


def read_tfds(name, split, image_size, data_dir=None, max_images=None, per_class=None, resize="crop"):
    """tf.data of (uint8 image, label, index) from a tfds image-classification dataset.

    Args:
      name: tfds name, e.g. "imagenet2012" (needs its manual download dir) or "imagenette".
      split: tfds split, e.g. "train" or "validation[:1000]".
      image_size: crop side.
      data_dir: tfds data directory.
      max_images: stop after this many images.
      per_class: keep at most this many images per class (the paper: 10).
    """
    import tensorflow_datasets as tfds  # imported here: it is slow to import and optional for folders

    try:
        dataset = tfds.load(
            name, split=split, data_dir=data_dir, shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()}
        )
    except Exception as error:  # tfds raises many types (download, missing manual dir, unknown name)
        raise NAGError(
            f"could not load tfds dataset {name!r} split {split!r}: {type(error).__name__}: "
            f"{str(error).splitlines()[0][:200] if str(error) else ''}"
        ) from None

    def selected():
        counts = collections.Counter()
        kept = 0
        for example in dataset.as_numpy_iterator():
            label = int(example["label"])
            if per_class is not None and counts[label] >= per_class:
                continue
            counts[label] += 1
            yield example["image"], label, kept
            kept += 1
            if max_images is not None and kept >= max_images:
                return

    encoded = tf.data.Dataset.from_generator(
        selected,
        output_signature=(
            tf.TensorSpec([], tf.string),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.int64),
        ),
    )

    def load(contents, label, index):
        image, big_enough = _decode_and_crop(contents, image_size, resize)
        return image, label, index, big_enough

    decoded = encoded.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors()
    decoded = decoded.filter(lambda image, label, index, big_enough: big_enough)
    return decoded.map(lambda image, label, index, big_enough: (image, label, index))
