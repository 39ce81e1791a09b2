"""Bad data: each kind of broken file is skipped and counted; training goes on; nothing usable is a clear error."""

import collections
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_train_config, write_image_folder

import keras_apps
from nag_tf.errors import NAGError
from nag_tf.inputs import batches, data
from nag_tf.training import train_lib

pytestmark = pytest.mark.faults


def _broken_folder(directory):
    write_image_folder(directory, 24, size=48)
    with open(os.path.join(directory, "img000.jpg"), "rb") as handle:
        good = handle.read()
    rgba = np.concatenate([np.full([48, 48, 3], 120, np.uint8), np.full([48, 48, 1], 128, np.uint8)], axis=-1)
    files = {
        "truncated.jpg": good[: len(good) // 3],
        "alpha.png": tf.io.encode_png(rgba).numpy(),
        "grey.jpg": tf.io.encode_jpeg(np.full([48, 48, 1], 90, np.uint8)).numpy(),
        "tiny.png": tf.io.encode_png(np.zeros([1, 1, 3], np.uint8)).numpy(),
        "empty.jpg": b"",
        "text.jpg": b"this is not an image\n",
    }
    for name, content in files.items():
        with open(os.path.join(directory, name), "wb") as handle:
            handle.write(content)
    with open(os.path.join(directory, "labels.csv"), "a") as handle:
        for name in files:
            handle.write(f"{name},n0,1,x\n")
        handle.write("missing.jpg,n0,1,x\n")  # listed, not on disk
        handle.write("img001.jpg,n0,1,x\n")  # duplicate row
        handle.write("img002x.jpg,n0,notanumber,x\n")  # missing file with a bad index
    return directory


def test_each_broken_kind_is_skipped_and_counted(tmp_path):
    folder = _broken_folder(str(tmp_path / "broken"))
    target = keras_apps.load_target("tiny_cnn", "none")
    records = data.read_image_folder(folder, target.spec.num_classes)
    cached = batches.cache_with_clean_labels(data.decode_records(records, 32), target, 8, records)
    assert cached.skipped == collections.Counter(
        {
            "file listed in labels.csv is missing": 2,
            "duplicate row in labels.csv": 1,
            "corrupt or not an image": 2,  # truncated JPEG, text named .jpg
            "empty file": 1,
            "smaller than 16 px": 1,  # the 1x1 image
        }
    )
    # The alpha PNG and the grey-scale JPEG are usable: decoded to RGB.
    assert len(cached) == 24 + 2
    kept = {os.path.basename(p) for p in cached.paths}
    assert {"alpha.png", "grey.jpg"} <= kept and "truncated.jpg" not in kept
    assert cached.images.shape[1:] == (32, 32, 3)


def test_unknown_class_index_keeps_the_image_without_its_label(tmp_path):
    folder = write_image_folder(str(tmp_path / "unknown"), 4)
    with open(os.path.join(folder, "labels.csv"), "a") as handle:
        handle.write("img000.jpg,n0,5000,x\n")  # duplicate of a listed file: counted as duplicate
    records = data.read_image_folder(folder, num_classes=3)  # classes 3.. are unknown to a 3-class target
    assert records.skipped["unknown class index in labels.csv (image kept, label ignored)"] == 1  # index 3
    assert records.true_labels.count(-1) == 1 and len(records) == 4


def test_training_proceeds_on_the_good_images(tmp_path):
    folder = _broken_folder(str(tmp_path / "broken"))
    result = train_lib.train(
        tiny_train_config(folder, tmp_path / "run", holdout=6, selection_images=4, epochs=1, eval_samples=2)
    )
    assert result.steps == (26 - 6 - 4) // 8


def test_a_folder_without_one_usable_image_is_a_clear_error(tmp_path):
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"")
    (folder / "b.jpg").write_text("nope")
    target = keras_apps.load_target("tiny_cnn", "none")
    records = data.read_image_folder(str(folder))
    with pytest.raises(NAGError, match="no usable image among the training images"):
        batches.cache_with_clean_labels(data.decode_records(records, 32), target, 8, records, "training images")
