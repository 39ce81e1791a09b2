"""Keras callbacks for a NAG run: checkpoints, the best generator, the collapse check, budgets, NaN guard.

What a run shows in TensorBoard is `nag_tf.training.monitoring`.

Long (over 300 lines) because it holds every callback a run uses, each a short class with one job;
they are kept together because train_lib's order among them (the budget first, the checkpoint last)
is a contract between them that one file shows.
"""

import os
import signal
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from nag_tf.choices import LEARNING_RATE_SCHEDULES
from nag_tf.core.model import perturb
from nag_tf.errors import NAGError
from nag_tf.evaluation import metrics
from nag_tf.signals import SignalCatcher

__all__ = [
    "LEARNING_RATE_SCHEDULES",
    "AnnealLearningRate",
    "CollapseDetector",
    "StopAfterSeconds",
    "StopOnSignal",
    "CheckpointEveryEpoch",
    "KeepBestGenerator",
    "StopOnPersistentNaN",
    "save_weights_atomically",
]


def save_weights_atomically(model, path):
    """Writes Keras weights to a temporary file, then renames it: a crash never leaves half a file."""
    temporary = path[: -len(".weights.h5")] + ".partial.weights.h5"
    model.save_weights(temporary)
    os.replace(temporary, path)


class CollapseDetector(keras.callbacks.Callback):
    """Watches for a generator that ignores z (a single perturbation instead of a distribution).

    Every `every_steps` steps it samples `samples` perturbations from fixed z
    (inference mode, batch norm calibrated) and measures their mean pairwise
    cosine similarity and, when held-out images are given, the spread (std)
    of their fooling rates. After `patience` checks in a row above
    `threshold` it warns in the terminal. Values go to TensorBoard under
    diversity/ when a writer is given.
    """

    def __init__(
        self,
        nag_model,
        every_steps=100,
        threshold=0.95,
        patience=3,
        samples=8,
        holdout_images=None,
        writer=None,
        seed=0,
    ):
        super().__init__()
        self.nag = nag_model
        self.every_steps, self.threshold, self.patience = every_steps, threshold, patience
        self.fixed_z = metrics.sample_latents(samples, nag_model.latent_dim, seed)
        self.holdout = None if holdout_images is None else (tf.convert_to_tensor(holdout_images[0]), holdout_images[1])
        self.writer = writer
        self.streak = 0
        self.warned = False
        self.history = []

    def sample(self):
        """The perturbations of the fixed z, generator in inference mode (batch norm calibrated)."""
        self.nag.prepare_for_inference()
        return self.nag.generator(self.fixed_z, training=False)

    def pairwise_cosine(self):
        """Mean pairwise cosine of the fixed z's perturbations (no image is read)."""
        return metrics.mean_pairwise_cosine(self.sample().numpy())

    def check(self):
        """One measurement; returns (pairwise cosine, fooling-rate std or None)."""
        delta = self.sample()
        cosine = metrics.mean_pairwise_cosine(delta.numpy())
        spread = None
        if self.holdout is not None:
            images, clean = self.holdout
            rates = [
                metrics.attack_rate(
                    clean,
                    self.nag.target.predict_labels(perturb(images, d[tf.newaxis], self.nag.loss_config.clip)).numpy(),
                    self.nag.loss_config.target_class,
                )
                for d in delta
            ]
            spread = float(np.std(rates))
        self.history.append((cosine, spread))
        self.streak = self.streak + 1 if cosine > self.threshold else 0
        if self.streak >= self.patience and not self.warned:
            self.warned = True
            logging.warning(
                "the generator has collapsed: sampled perturbations have mean pairwise cosine %.3f (> %.2f for %d "
                "checks); "
                "it has become one universal perturbation. Try --perturbation_diversity_weight=3 "
                "--perturbation_cosine_margin=0.3 "
                "(see bench/diversity_study.py), a larger --diversity_weight, or --latent_dim=100",
                cosine,
                self.threshold,
                self.streak,
            )
        return cosine, spread

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.nag.step.numpy())
        if step % self.every_steps:
            return
        cosine, spread = self.check()
        if self.writer is not None:
            with self.writer.as_default(step=step):
                tf.summary.scalar("diversity/pairwise_cosine", cosine)
                if spread is not None:
                    tf.summary.scalar("diversity/fooling_rate_std_over_z", spread)


class StopAfterSeconds(keras.callbacks.Callback):
    """Stops training once a budget of *optimisation* seconds is spent (Keras 3 ships no time-limit callback).

    Only the time inside training steps counts (from the first callback's
    batch begin to its batch end: put this callback first), not validation,
    batch-norm calibration, pictures or checkpoints, so a method with more
    bookkeeping is not charged for it when methods are compared at one budget.
    `spent` is the run's, not the process's: it starts from `spent_variable`
    (restored from the checkpoint) and is written back at each epoch end, before
    the checkpoint (the last callback) saves it, so a resumed run spends only the
    rest of its budget and a finished one nothing.
    `on_mark(seconds)` is called once as each of `marks` (seconds of
    optimisation) is passed: a learning curve from one run (marks already passed
    before a resume are not called again).
    The epoch in progress is cut short, so its validation and checkpoint still run.
    """

    clock = staticmethod(time.perf_counter)  # a seam: tests give steps a known duration

    def __init__(self, seconds, marks=(), on_mark=None, spent_variable=None):
        super().__init__()
        self.seconds = seconds
        self.spent_variable = spent_variable
        self.spent = 0.0 if spent_variable is None else float(spent_variable.numpy())
        self.marks = [mark for mark in sorted(marks) if mark > self.spent]
        self.on_mark = on_mark
        self._batch_start = None

    @property
    def exhausted(self):
        return bool(self.seconds) and self.spent >= self.seconds

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_start = self.clock()

    def on_train_batch_end(self, batch, logs=None):
        self.spent += self.clock() - self._batch_start
        while self.marks and self.spent >= self.marks[0]:
            mark = self.marks.pop(0)
            if self.on_mark is not None:
                self.on_mark(mark)
        if self.exhausted:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.spent_variable is not None:
            self.spent_variable.assign(self.spent)


class AnnealLearningRate(keras.callbacks.Callback):
    """Sets the optimizer's learning rate before every step by the cosine schedule of the run's progress.

    base * (1 + cos(pi * p)) / 2, from the base rate to 0 at p = 1, where `progress()` gives p: the
    larger of steps done / steps planned and seconds spent / seconds budgeted, so a run stopped by a
    time budget anneals too. Keras' own schedules are functions of the step alone, and its
    LearningRateScheduler changes the rate once an epoch: neither knows a time budget, hence this
    callback. ("constant", the other schedule, needs no callback.)
    """

    def __init__(self, base, progress):
        super().__init__()
        self.base = float(base)
        self.progress = progress

    def rate(self, progress):
        return self.base * 0.5 * (1.0 + np.cos(np.pi * min(max(progress, 0.0), 1.0)))

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.rate(self.progress())


class StopOnSignal(keras.callbacks.Callback):
    """SIGTERM or SIGINT (a scheduler's polite stop, Ctrl-C): finish the current step, end the epoch
    (so its checkpoint is written), then stop. `received` names the signal afterwards.

    Keras ships no such callback; the handling itself is `signals.SignalCatcher`, active from
    the start of training to its end.
    """

    def __init__(self, signals=(signal.SIGTERM, signal.SIGINT), should_stop=None):
        super().__init__()
        self._catcher = SignalCatcher(signals)
        self._should_stop = should_stop  # a caller's own stop request (a library call's `stop`), checked alike
        self._asked = False

    @property
    def received(self):
        return self._catcher.received or ("a stop request" if self._asked else None)

    @property
    def signal_number(self):
        return self._catcher.signal_number

    def on_train_begin(self, logs=None):
        self._catcher.__enter__()

    def on_train_batch_end(self, batch, logs=None):
        self._asked = self._asked or bool(self._should_stop is not None and self._should_stop())
        if self._catcher.stop_requested() or self._asked:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self._catcher.__exit__(None, None, None)


class CheckpointEveryEpoch(keras.callbacks.Callback):
    """Saves generator, optimizer, step and RNG at each epoch end with a tf.train.CheckpointManager.

    TensorFlow writes checkpoint data to temporary files and renames them, and
    the manager's index is replaced atomically, so a kill mid-write leaves the
    previous checkpoint valid.
    """

    def __init__(self, manager, step_variable, guard=None):
        super().__init__()
        self.manager = manager
        self.step_variable = step_variable
        self.guard = guard

    def on_epoch_end(self, epoch, logs=None):
        if self.guard is not None and self.guard.failed:
            return
        try:
            self.manager.save(checkpoint_number=int(self.step_variable.numpy()))
        except (OSError, tf.errors.OpError) as error:
            previous = self.manager.latest_checkpoint
            kept = f"the previous checkpoint {previous} is intact" if previous else "no earlier checkpoint exists"
            reason = getattr(error, "strerror", None) or str(error).splitlines()[0][:160]
            raise NAGError(
                f"could not write a checkpoint to {self.manager.directory} ({reason}); {kept}. Free disk space and "
                "run again to resume"
            ) from None


class KeepBestGenerator(keras.callbacks.Callback):
    """Keeps the best epoch's generator as `best.weights.h5`, choosing on the selection images only.

    Best = the highest `monitor` (the fooling rate, or the targeted success
    rate, on the selection images) among epochs whose sampled perturbations
    have a mean pairwise cosine of at most `max_cosine` (`cosine_fn()`
    measures it); a diverse epoch always beats a collapsed one, however much
    the collapsed one fools; among equals the later epoch wins. If no epoch is
    diverse enough, the most fooling one is kept and `diverse` stays False
    (train_lib warns).
    """

    def __init__(
        self,
        generator,
        path,
        best_variable,
        diverse_variable,
        monitor="val_fooling_rate",
        max_cosine=1.0,
        cosine_fn=None,
    ):
        super().__init__()
        self.generator = generator
        self.path = path
        # tf.Variables, checkpointed so a resumed run remembers them.
        self.best = best_variable
        self.diverse = diverse_variable
        self.monitor = monitor
        self.max_cosine = max_cosine
        self.cosine_fn = cosine_fn

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        value = float(value)
        diverse = self.max_cosine >= 1.0 or self.cosine_fn is None or self.cosine_fn() <= self.max_cosine
        best_diverse = bool(self.diverse.numpy())
        # A tie goes to the later epoch: the same score on the (small) selection set, more training.
        better = (diverse and not best_diverse) or (diverse == best_diverse and value >= float(self.best.numpy()))
        if better or not os.path.exists(self.path):
            self.best.assign(value)
            self.diverse.assign(diverse)
            save_weights_atomically(self.generator, self.path)


class StopOnPersistentNaN(keras.callbacks.Callback):
    """Stops training when `max_bad_steps` steps in a row had NaN/Inf (each was skipped)."""

    def __init__(self, consecutive_variable, max_bad_steps):
        super().__init__()
        self.consecutive = consecutive_variable
        self.max_bad_steps = max_bad_steps
        self.failed = False

    def on_train_batch_end(self, batch, logs=None):
        if int(self.consecutive.numpy()) >= self.max_bad_steps:
            self.failed = True
            self.model.stop_training = True
