"""NaN from the target, a full disk mid-run, an unwritable log directory."""

import errno
import os

import pytest
import tensorflow as tf

import keras_apps
from nag_tf.errors import NAGError
from nag_tf.training import train_lib

pytestmark = pytest.mark.faults


def _target_that_turns_nan_after(monkeypatch, good_steps):
    """The tiny target, returning NaN logits in training steps after the first `good_steps`.

    A training step calls the target once on [X_A; X_S] (2 x batch 8 = 16 images; tiny_config has lambda = 1); clean
    labels and validation use batches of 8, so only training calls are counted.
    """
    original = keras_apps.registry.load_target

    def load(*args, **kwargs):
        target = original(*args, **kwargs)
        network = target._network
        calls = tf.Variable(0, dtype=tf.int64)

        def poisoned(x, training=False):
            logits = network(x, training=training)
            is_step = tf.shape(x)[0] == 16
            calls.assign_add(tf.cast(is_step, tf.int64))
            bad = is_step & (calls > good_steps)
            return tf.where(bad, tf.fill(tf.shape(logits), float("nan")), logits)

        target._network = poisoned
        return target

    # train_lib loads through keras_apps.load_targets, which calls registry.load_target.
    monkeypatch.setattr(keras_apps.registry, "load_target", load)


def test_persistent_nan_stops_with_a_clear_message_and_the_last_good_checkpoint_intact(tiny_config, monkeypatch):
    _target_that_turns_nan_after(monkeypatch, good_steps=4)  # epoch 1 (4 steps) is fine, then NaN
    config = tiny_config(epochs=4, max_bad_steps=3)
    with pytest.raises(NAGError, match="training stopped at step 7: 3 steps in a row had NaN/Inf"):
        train_lib.train(config)
    checkpoints = os.path.join(config.logdir, "checkpoints")
    assert tf.train.latest_checkpoint(checkpoints).endswith("ckpt-4")  # epoch 1's checkpoint, none after the NaNs
    probe = tf.train.Checkpoint(step=tf.Variable(0, dtype=tf.int64))
    probe.restore(tf.train.latest_checkpoint(checkpoints)).expect_partial()
    assert int(probe.step.numpy()) == 4


def test_full_disk_mid_run_keeps_the_previous_checkpoint(tiny_config, monkeypatch):
    config = tiny_config(epochs=3)
    saves = {"count": 0}
    original = tf.train.CheckpointManager.save

    def save(self, *args, **kwargs):
        saves["count"] += 1
        if saves["count"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(tf.train.CheckpointManager, "save", save)
    with pytest.raises(NAGError, match="could not write a checkpoint .*No space left on device.*ckpt-4 is intact"):
        train_lib.train(config)
    assert tf.train.latest_checkpoint(os.path.join(config.logdir, "checkpoints")).endswith("ckpt-4")


def test_unwritable_log_directory_fails_before_any_work(tiny_config, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(NAGError, match="log directory .* is not writable"):
        train_lib.train(tiny_config(logdir=str(blocker / "run")))
