"""Choosing the generator: never on the images a figure is reported on; never a collapsed epoch over a diverse one."""

import os
import shutil

import numpy as np
import tensorflow as tf

import keras_apps
from nag_tf.core.generator import build_generator
from nag_tf.training import callbacks as nag_callbacks
from nag_tf.training import train_lib


def _keeper(tmp_path, max_cosine, cosines):
    generator = build_generator(32, latent_dim=4, xi=10.0, variant="light", seed=0)
    best = tf.Variable(-1.0)
    diverse = tf.Variable(False)
    path = str(tmp_path / "best.weights.h5")
    keeper = nag_callbacks.KeepBestGenerator(
        generator, path, best, diverse, max_cosine=max_cosine, cosine_fn=lambda: cosines.pop(0)
    )
    return generator, keeper, best, diverse, path


def _saved_kernel(path):
    generator = build_generator(32, latent_dim=4, xi=10.0, variant="light", seed=1)
    generator.load_weights(path)
    return generator.get_layer("fc").kernel.numpy()


def test_a_collapsed_epoch_is_not_kept_over_a_diverse_one_with_the_same_fooling_rate(tmp_path):
    # Epoch 0: diverse (cosine 0.2), fooling 0.75. Epoch 1: collapsed (0.99), also 0.75. Epoch 2: collapsed, 0.875.
    generator, keeper, best, diverse, path = _keeper(tmp_path, 0.5, [0.2, 0.99, 0.99])
    keeper.on_epoch_end(0, {"val_fooling_rate": 0.75})
    kept = _saved_kernel(path)
    fc = generator.get_layer("fc")
    fc.kernel.assign(fc.kernel + 1.0)  # the generator of epoch 1 differs
    keeper.on_epoch_end(1, {"val_fooling_rate": 0.75})
    keeper.on_epoch_end(2, {"val_fooling_rate": 0.875})
    np.testing.assert_array_equal(_saved_kernel(path), kept)
    assert float(best.numpy()) == 0.75 and bool(diverse.numpy())


def test_a_diverse_epoch_replaces_a_collapsed_one_even_when_it_fools_less(tmp_path):
    generator, keeper, best, diverse, _ = _keeper(tmp_path, 0.5, [0.99, 0.3, 0.4])
    keeper.on_epoch_end(0, {"val_fooling_rate": 0.875})
    assert not bool(diverse.numpy())  # nothing diverse yet: the most fooling is kept
    keeper.on_epoch_end(1, {"val_fooling_rate": 0.625})
    assert float(best.numpy()) == 0.625 and bool(diverse.numpy())
    keeper.on_epoch_end(2, {"val_fooling_rate": 0.6875})  # diverse and better
    assert float(best.numpy()) == 0.6875


def test_a_tie_goes_to_the_later_epoch(tmp_path):
    generator, keeper, best, _, path = _keeper(tmp_path, 0.5, [0.2, 0.3, 0.9])
    keeper.on_epoch_end(0, {"val_fooling_rate": 0.75})
    fc = generator.get_layer("fc")
    fc.kernel.assign(fc.kernel + 1.0)
    keeper.on_epoch_end(1, {"val_fooling_rate": 0.75})  # as good on the selection images, trained longer
    later = _saved_kernel(path)
    np.testing.assert_array_equal(later, fc.kernel.numpy())
    keeper.on_epoch_end(2, {"val_fooling_rate": 0.75})  # a tie, but collapsed: not kept
    np.testing.assert_array_equal(_saved_kernel(path), later)


def test_without_a_threshold_the_most_fooling_epoch_wins(tmp_path):
    _, keeper, best, _, _ = _keeper(tmp_path, 1.0, [])
    for epoch, value in enumerate([0.5, 0.75, 0.625]):
        keeper.on_epoch_end(epoch, {"val_fooling_rate": value})
    assert float(best.numpy()) == 0.75


def test_selection_images_come_from_the_training_images_and_never_from_the_report_images(tiny_config, image_folder):
    config = tiny_config()
    datasets = train_lib.load_datasets(config, keras_apps.load_target("tiny_cnn", "none"))
    train, selection, report = (set(d.paths) for d in datasets)
    assert (
        len(selection) == config.selection_images
        and not selection & train
        and not selection & report
        and not train & report
    )


def test_the_report_images_do_not_change_which_generator_is_chosen(tiny_config, image_folder, tmp_path):
    # Same training folder, two different held-out folders: every choice made during training (validation
    # history, the best generator) is identical, so the held-out images are read for the final figure only.
    other_holdout = tmp_path / "other_holdout"
    other_holdout.mkdir()
    with open(os.path.join(image_folder, "labels.csv")) as handle:
        rows = handle.read().splitlines()
    header, first, second = rows[0], rows[1:9], rows[9:17]
    for name, chosen in (("holdout_a", first), ("holdout_b", second)):
        folder = tmp_path / name
        folder.mkdir()
        for row in chosen:
            shutil.copy(os.path.join(image_folder, row.split(",")[0]), folder)
        (folder / "labels.csv").write_text("\n".join([header, *chosen]) + "\n")
    runs = []
    for name in ("holdout_a", "holdout_b"):
        config = tiny_config(
            holdout_dir=str(tmp_path / name), logdir=str(tmp_path / f"run_{name}"), epochs=2, select_max_cosine=1.0
        )
        runs.append(train_lib.train(config))
    assert runs[0].history["val_fooling_rate"] == runs[1].history["val_fooling_rate"]
    a, b = (_all_weights(run.best_weights) for run in runs)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def _all_weights(path):
    generator = build_generator(32, latent_dim=4, xi=10.0, variant="light", seed=1)
    generator.load_weights(path)
    return generator.get_weights()
