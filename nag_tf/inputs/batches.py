"""Photos with the target's clean labels, computed once, and the batches training and evaluation draw.

NAG needs, per image, the label c the *target* gives the clean image. That label never changes during
training, so `cache_with_clean_labels` decodes every image once (`nag_tf.inputs.data`), runs the target once,
and keeps both in memory. Training batches are then a pure function of (seed, global step):
`training_batches` draws epoch e's order from a stateless permutation seeded by (seed, e), so a resumed
run sees exactly the batches an uninterrupted run would have seen.

The paper trains on 10,000 images (10 per class): 1.5 GB as uint8 at 224 px, comfortably in memory.
"""

import collections
import dataclasses

import numpy as np
import tensorflow as tf
from absl import logging

from nag_tf import seeds
from nag_tf.core import latent
from nag_tf.errors import NAGError
from nag_tf.inputs import data

__all__ = [
    "CachedImages",
    "cache_with_clean_labels",
    "carve",
    "load_folder",
    "training_batches",
    "evaluation_batches",
    "steps_per_epoch",
]


@dataclasses.dataclass
class CachedImages:
    """Decoded images with the target's clean labels, ready for training or evaluation."""

    images: np.ndarray  # uint8 [N, S, S, 3], 0-255 RGB
    clean_labels: np.ndarray  # int32 [N], the target's top-1 on the clean image
    true_labels: np.ndarray  # int32 [N], ground truth where known, else -1
    paths: list
    skipped: collections.Counter

    def __len__(self):
        return len(self.images)


def cache_with_clean_labels(dataset, target, batch_size=32, records=None, description="images"):
    """Decodes every image once and labels it with the target's top-1 on the clean image.

    Args:
      dataset: tf.data of (uint8 image, true label, index) from `decode_records` or `read_tfds`.
      target: a keras_apps.Target.
      batch_size: inference batch size.
      records: the ImageRecords behind `dataset`, to name why files were skipped.
      description: what the images are, for log lines.

    Returns:
      CachedImages.

    Raises:
      NAGError: no usable image at all.
    """
    predict = target.predict_labels
    images, clean, truth, indices = [], [], [], []
    for batch_images, batch_truth, batch_index in dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE):
        images.append(batch_images.numpy())
        clean.append(predict(tf.cast(batch_images, tf.float32)).numpy())
        truth.append(batch_truth.numpy())
        indices.append(batch_index.numpy())
    skipped = collections.Counter(records.skipped if records is not None else {})
    kept = np.concatenate(indices) if indices else np.zeros([0], np.int64)
    if records is not None:
        for missing in sorted(set(range(len(records))) - set(kept.tolist())):
            skipped[data.why_unusable(records.paths[missing], target.image_size)] += 1
    if skipped:
        details = ", ".join(f"{count} {reason}" for reason, count in sorted(skipped.items()))
        logging.warning("skipped %d of the %s: %s", sum(skipped.values()), description, details)
    if not images:
        raise NAGError(
            f"no usable image among the {description} ({sum(skipped.values())} skipped); check the data folder"
        )
    return CachedImages(
        images=np.concatenate(images),
        clean_labels=np.concatenate(clean).astype(np.int32),
        true_labels=np.concatenate(truth).astype(np.int32),
        paths=[records.paths[i] for i in kept] if records is not None else [],
        skipped=skipped,
    )


def carve(cached, count, seed):
    """Splits CachedImages into (the rest, `count` images picked by the run seed's "selection_photos"
    stream), both in original order."""
    if not 0 < count < len(cached):
        raise NAGError(f"cannot set {count} of {len(cached)} images aside; lower the count")
    order = np.random.default_rng(seeds.derive(seed, "selection_photos")).permutation(len(cached))

    def take(indices):
        indices = np.sort(indices)
        return CachedImages(
            images=cached.images[indices],
            clean_labels=cached.clean_labels[indices],
            true_labels=cached.true_labels[indices],
            paths=[cached.paths[i] for i in indices] if cached.paths else [],
            skipped=cached.skipped,
        )

    return take(order[count:]), take(order[:count])


def load_folder(folder, target, batch_size=32, description="images", resize="crop"):
    """An image folder decoded for `target`, with its clean labels (read_image_folder + decode + cache)."""
    records = data.read_image_folder(folder, target.num_classes)
    return cache_with_clean_labels(
        data.decode_records(records, target.image_size, resize), target, batch_size, records, description
    )


def _on_cpu_variable(array):
    # A CPU variable, not a constant: a graph constant over 2 GB would not
    # serialise, and tf.data functions may capture a resource handle.
    with tf.device("/CPU:0"):
        return tf.Variable(array, trainable=False)


def training_batches(cached, batch_size, seed, start_step=0, latent_dim=None):
    """An endless tf.data of batches, batch i a pure function of (run seed, i).

    Each epoch is a stateless permutation of the images keyed by the run
    seed's "training_order" stream and the epoch, cut into len // batch_size
    batches (the remainder is left out of that epoch). With `latent_dim`,
    each batch also carries its latent vectors z ~ U[-1, 1]^d ("training_z")
    and a pairing seed for the diversity loss ("training_pairing"), keyed by
    the step: a resumed run, or one split over several devices or
    workers, sees exactly the numbers of an uninterrupted single-device run.
    Elements are single examples batched by `batch`, so tf.distribute can
    split a global batch across replicas.

    Returns:
      tf.data of (uint8 images [B, S, S, 3], int32 clean labels [B]); with
      latent_dim, of ({"images", "z": float32 [B, d], "shuffle_seed": int32
      [B, 2]}, clean labels): Keras' (x, y) layout, which it expects when it
      builds a model under a distribution strategy.
    """
    count = len(cached)
    if batch_size > count:
        raise NAGError(f"batch size {batch_size} is larger than the {count} training images; lower --batch_size")
    steps_per_epoch = count // batch_size
    images = _on_cpu_variable(cached.images)
    labels = _on_cpu_variable(cached.clean_labels)
    order_key, z_key, pairing_key = (
        tf.constant(seeds.derive(seed, stream), tf.int64)
        for stream in ("training_order", "training_z", "training_pairing")
    )

    def examples_of_step(step):
        epoch = step // steps_per_epoch
        position = step % steps_per_epoch
        order = tf.argsort(tf.random.stateless_uniform([count], seed=tf.stack([order_key, epoch])))
        indices = order[position * batch_size : (position + 1) * batch_size]
        if latent_dim is None:
            return tf.data.Dataset.from_tensor_slices(indices)
        z = latent.stateless([batch_size, latent_dim], tf.stack([z_key, step]))
        shuffle_seed = tf.tile(tf.cast(tf.stack([pairing_key, step]), tf.int32)[tf.newaxis], [batch_size, 1])
        return tf.data.Dataset.from_tensor_slices((indices, z, shuffle_seed))

    def example(index, *randomness):
        if not randomness:
            return tf.gather(images, index), tf.gather(labels, index)
        return {"images": tf.gather(images, index), "z": randomness[0], "shuffle_seed": randomness[1]}, tf.gather(
            labels, index
        )

    dataset = tf.data.Dataset.counter(start=start_step).flat_map(examples_of_step)
    dataset = dataset.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def evaluation_batches(cached, batch_size, latent_dim=None, seed=0):
    """A finite tf.data of (uint8 images, clean labels) in a fixed order (with z: as `training_batches`).

    With `latent_dim`, image i always gets the same z (keyed by the run
    seed's "selection_z" stream and i) and pairing seed ("selection_pairing"),
    so every evaluation during training scores the generator on the same
    latent vectors: a fair comparison between epochs.
    """
    z_key, pairing_key = (tf.constant(seeds.derive(seed, s), tf.int64) for s in ("selection_z", "selection_pairing"))
    images = _on_cpu_variable(cached.images)
    labels = _on_cpu_variable(cached.clean_labels)
    count = len(cached)

    def example(index):
        if latent_dim is None:
            return tf.gather(images, index), tf.gather(labels, index)
        z = latent.stateless([latent_dim], tf.stack([z_key, index]))
        shuffle_seed = tf.cast(tf.stack([pairing_key, index]), tf.int32)
        return {"images": tf.gather(images, index), "z": z, "shuffle_seed": shuffle_seed}, tf.gather(labels, index)

    dataset = tf.data.Dataset.range(count).map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(cached, batch_size):
    return len(cached) // batch_size
