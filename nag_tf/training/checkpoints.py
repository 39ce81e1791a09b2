"""Resumable runs: the log directory checked before any work, and the newest checkpoint that reads back whole.

A run's checkpoints (tf.train.CheckpointManager in train_lib) are written every epoch; a damaged one
(half-copied, truncated) is skipped with a warning naming it, and a folder where none reads back stops
the run instead of silently starting again from step 0.
"""

import glob
import os

import tensorflow as tf
from absl import logging

from nag_tf.errors import NAGError

__all__ = ["check_logdir_writable", "checkpoints_newest_first", "restore_newest_complete"]


def check_logdir_writable(logdir):
    """Fails before any work if the log directory cannot be created or written."""
    try:
        os.makedirs(logdir, exist_ok=True)
        probe = os.path.join(logdir, ".write_probe")
        with open(probe, "w") as handle:
            handle.write("ok")
        os.remove(probe)
    except OSError as error:
        raise NAGError(f"log directory {logdir!r} is not writable ({error.strerror}); pick another --logdir") from None


def checkpoints_newest_first(directory):
    """Every checkpoint in the folder, newest first, found by its index file (a damaged 'checkpoint'
    state file must not hide the older complete ones)."""
    prefixes = {path[: -len(".index")] for path in glob.glob(os.path.join(directory, "ckpt-*.index"))}
    numbered = [prefix for prefix in prefixes if prefix.rsplit("-", 1)[1].isdigit()]
    return sorted(numbered, key=lambda prefix: int(prefix.rsplit("-", 1)[1]), reverse=True)


def restore_newest_complete(checkpoint, directory, added_later=None):
    """Restores the newest checkpoint that reads back whole; returns its prefix, or None when there is none.

    A truncated or garbage checkpoint (half-copied between disks, say) is
    skipped with a warning naming it, never silently: training falls back to
    the previous complete one. If checkpoints exist but none reads back, this
    raises instead of starting again from zero, and nothing is overwritten.

    `added_later` ({name: tf.Variable}): variables saved beside `checkpoint`'s objects by a newer
    nag_tf. They are restored from the same checkpoint when it has them; one written before they
    existed still resumes (the whole-checkpoint check would call it damaged), the variable keeps its
    starting value (the caller decides what that means) and a warning says so.
    """
    candidates = checkpoints_newest_first(directory)
    damaged = []
    for prefix in candidates:
        try:
            checkpoint.restore(prefix).assert_existing_objects_matched()
        # TensorFlow reports a damaged file in several ways (DataLossError, IndexError "Read less bytes", ...).
        except (tf.errors.OpError, ValueError, AssertionError, IndexError, OSError, RuntimeError) as error:
            reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
            logging.warning("checkpoint %s is damaged (%s); falling back to the previous one", prefix, reason)
            damaged.append(os.path.basename(prefix))
            continue
        _restore_added_later(prefix, added_later or {})
        return prefix
    if damaged:
        raise NAGError(
            f"every checkpoint in {directory} is damaged ({', '.join(damaged)}); nothing was overwritten. "
            "Restore a copy, or move the folder away to start again from step 0"
        )
    return None


def _restore_added_later(prefix, variables):
    saved = {name.split("/", 1)[0] for name, _ in tf.train.list_variables(prefix)}
    for name, variable in variables.items():
        if name in saved:
            tf.train.Checkpoint(**{name: variable}).restore(prefix).expect_partial()
        else:
            logging.warning("checkpoint %s has no %s (written by an older nag_tf)", prefix, name)
