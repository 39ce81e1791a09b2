"""Trains a NAG generator from a `TrainConfig`: data, model, checkpoints, TensorBoard, final score.

Re-running with the same config and logdir resumes from the last complete
checkpoint: the step counter, optimizer, RNG, best score and the optimisation
seconds spent continue (a time-budgeted run spends only what is left of its
budget), and the data batches are a function of the step, so the run goes on
as if it had never stopped.

Long (over 300 lines) because `train()` is told here as its named phases (inputs, restore, callbacks,
fit, report), each a short function in the order they run; the pieces with a job of their own live in
their modules (checkpoints, batches, monitoring, callbacks).
"""

import dataclasses
import os
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
from absl import logging

import keras_apps
from nag_tf import seeds
from nag_tf.core.config import generator_for
from nag_tf.core.model import NAGModel
from nag_tf.errors import NAGError, TrainingStopped
from nag_tf.evaluation import metrics, stats
from nag_tf.inputs import batches, data
from nag_tf.signals import SignalCatcher
from nag_tf.training import callbacks as nag_callbacks
from nag_tf.training import checkpoints, distribute, monitoring

__all__ = ["TrainResult", "Datasets", "train", "load_datasets", "build_model"]

BEST_WEIGHTS = "best.weights.h5"
FINAL_WEIGHTS = "final.weights.h5"


@dataclasses.dataclass
class TrainResult:
    steps: int
    # Measured on the held-out (report) images, which played no part in choosing the generator:
    # mean over eval_samples sampled perturbations (targeted: success rate).
    heldout_fooling_rate: float
    heldout_fooling_rate_std: float
    heldout_images: int
    heldout_interval: tuple  # 95% bootstrap interval over the photos of that mean (nag_tf.evaluation.stats)
    per_target: dict  # ensemble member -> its rate (empty for one target)
    rate_name: str  # "fooling_rate" or "targeted_success_rate"
    pairwise_cosine: float  # mean pairwise cosine of those perturbations
    best_weights: str
    best_is_diverse: bool  # False: no epoch met --select_max_cosine, the most fooling one was kept
    # Both over the whole run, every resumed process included:
    optimisation_seconds: float  # time inside training steps (validation, pictures, checkpoints excluded)
    target_image_passes: int  # images sent through the target (forward + backward) by the training steps
    history: dict


class Datasets(NamedTuple):
    """train: optimised on; selection: carved out of the training images, chooses the best epoch;
    report: the held-out images the final figure is measured on (never read while training)."""

    train: batches.CachedImages
    selection: batches.CachedImages
    report: batches.CachedImages


def load_datasets(config, target):
    """Datasets(train, selection, report), decoded once, clean labels computed once.

    The selection images are --selection_images training images set aside
    (seeded): choosing the best epoch on them keeps the held-out images,
    on which the result is reported, out of every decision.
    """
    size = target.image_size
    if config.data_dir:
        data_dir, holdout_dir = data.resolve_folders(config.data_dir, config.holdout_dir)
        records = data.read_image_folder(data_dir, target.num_classes)
        if config.max_images:
            records = records.subset(range(min(config.max_images, len(records))))
        if holdout_dir:
            train_records = records
            holdout_records = data.read_image_folder(holdout_dir, target.num_classes)
        else:
            train_records, holdout_records = data.split_records(records, config.holdout, config.seed)
            train_records.skipped = records.skipped
        train_ds = data.decode_records(train_records, size, config.resize)
        holdout_ds = data.decode_records(holdout_records, size, config.resize)
    else:
        limit = config.max_images or None
        per_class = config.per_class or None
        train_records = holdout_records = None
        train_ds = data.read_tfds(
            config.tfds_name,
            config.tfds_split,
            size,
            data_dir=config.tfds_data_dir,
            max_images=limit,
            per_class=per_class,
            resize=config.resize,
        )
        if not config.tfds_holdout_split:
            raise NAGError("with --tfds_name, also give --tfds_holdout_split (e.g. 'validation[:1000]')")
        holdout_ds = data.read_tfds(
            config.tfds_name, config.tfds_holdout_split, size, data_dir=config.tfds_data_dir, resize=config.resize
        )
    train = batches.cache_with_clean_labels(train_ds, target, config.batch_size, train_records, "training images")
    report = batches.cache_with_clean_labels(holdout_ds, target, config.batch_size, holdout_records, "held-out images")
    if config.selection_images + config.batch_size > len(train):
        raise NAGError(
            f"--selection_images={config.selection_images} leaves fewer than --batch_size={config.batch_size} of the "
            f"{len(train)} usable training images to train on; lower --selection_images"
        )
    train, selection = batches.carve(train, config.selection_images, config.seed)
    return Datasets(train, selection, report)


def build_model(config, target):
    """The generator for the target's input size and the NAGModel around both, compiled."""
    generator = generator_for(config, seed=config.seed)
    model = NAGModel(
        generator,
        target,
        config.loss_config(),
        seed=config.seed,
        calibration_batch=config.batch_size // config.images_per_perturbation,
    )
    # Under mixed_float16 Keras wraps the optimizer in a LossScaleOptimizer.
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        jit_compile=config.jit_compile,
        steps_per_execution=config.steps_per_execution,
    )
    # Built up front: the step applies gradients inside a tf.cond (NaN guard),
    # where the optimizer cannot create its slot variables.
    model.optimizer.build(generator.trainable_variables)
    return model


def _for_strategy(dataset, strategy):
    """Across workers, each takes its share of every global batch (the data is not in files to shard)."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        dataset = dataset.with_options(options)
    return dataset


def _summary_text(config):
    rows = "\n".join(f"| {key} | {value} |" for key, value in sorted(dataclasses.asdict(config).items()))
    return "| flag | value |\n|---|---|\n" + rows


class _RunState(NamedTuple):
    """What a run resumes: the model and the checkpointed selection state."""

    model: NAGModel
    checkpoint: tf.train.Checkpoint
    manager: tf.train.CheckpointManager
    best_fooling_rate: tf.Variable
    best_is_diverse: tf.Variable
    optimisation_seconds: tf.Variable  # the time budget spent so far, over every process that ran it


def _load_inputs(config, strategy, logdir):
    """Target and datasets; a failed start leaves no empty log directory behind."""
    created_logdir = not os.path.exists(logdir)
    checkpoints.check_logdir_writable(logdir)
    try:
        with strategy.scope():
            target = keras_apps.load_targets(
                config.target,
                config.weights,
                config.diversity_layer,
                config.target_weights,
                config.feature_layer if config.feature_loss != "none" else None,
            )
        datasets = load_datasets(config, target)
    except NAGError:
        if created_logdir and not os.listdir(logdir):
            os.rmdir(logdir)
        raise
    print(
        f"{len(datasets.train)} training images, {len(datasets.selection)} selection images (choose the best epoch), "
        f"{len(datasets.report)} held-out images (report), target {target.name} at {target.image_size} px, "
        f"{strategy.num_replicas_in_sync} replica(s)"
    )
    for member, _ in target.members:
        if member.spec.source_file is not None:
            print(
                f"model file {member.spec.source_file}: {member.num_classes} classes at {member.image_size} px, "
                f"preprocessing {member.spec.preprocess_mode}, trained on its {member.spec.output_kind}"
            )
    return target, datasets


def _restore_or_start(config, strategy, target, logdir):
    """The model, its checkpoint and manager; restored from the chief's latest checkpoint when there is one."""
    with strategy.scope():
        model = build_model(config, target)
        best_fooling_rate = tf.Variable(-1.0, trainable=False, name="best_fooling_rate")
        best_is_diverse = tf.Variable(False, trainable=False, name="best_is_diverse")
        # -1: not known yet (a new run, or a checkpoint from before the seconds were saved).
        optimisation_seconds = tf.Variable(-1.0, dtype=tf.float64, trainable=False, name="optimisation_seconds")
        saved_since_the_start = dict(
            generator=model.generator,
            optimizer=model.optimizer,
            step=model.step,
            skipped_steps=model.skipped_steps,
            perturbation_diversity_weight=model.perturbation_diversity_weight,
            best_fooling_rate=best_fooling_rate,
            best_is_diverse=best_is_diverse,
        )
        checkpoint = tf.train.Checkpoint(**saved_since_the_start, optimisation_seconds=optimisation_seconds)
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(logdir, "checkpoints"), max_to_keep=3)
    # Every worker resumes from the chief's checkpoint (the others only write to throw-away folders).
    restored = checkpoints.restore_newest_complete(
        tf.train.Checkpoint(**saved_since_the_start),
        os.path.join(config.logdir, "checkpoints"),
        added_later={"optimisation_seconds": optimisation_seconds},
    )
    if float(optimisation_seconds.numpy()) < 0:
        optimisation_seconds.assign(_seconds_not_saved(config) if restored else 0.0)
    if restored:
        print(
            f"resumed from {restored} at step {int(model.step.numpy())} "
            f"({float(optimisation_seconds.numpy()):.0f} s of optimisation done)"
        )
    return _RunState(model, checkpoint, manager, best_fooling_rate, best_is_diverse, optimisation_seconds)


def _seconds_not_saved(config):
    """The optimisation seconds of a run whose checkpoint predates their saving: final weights are written
    only when training ends on its epochs or its budget, so a budgeted run that has them spent its budget
    (rerunning it must not buy another); one stopped midway counts from 0 (it spends more than its budget)."""
    # The chief's folder: every worker restored the chief's checkpoint and asks the same question of it.
    finished = os.path.exists(os.path.join(config.logdir, FINAL_WEIGHTS))
    if finished and config.time_budget_s:
        logging.warning("a finished run from an older nag_tf: its --time_budget_s counts as spent")
        return float(config.time_budget_s)
    if config.time_budget_s:
        logging.warning("a run from an older nag_tf: its --time_budget_s is counted again from 0 at this resume")
    return 0.0


def _callbacks(config, state, datasets, logdir, chief, budget, total_steps):
    """Budget first (it times the steps alone), then the learning rate, the NaN guard, calibration before
    validation, and on the chief TensorBoard, the collapse check and the best-epoch choice; checkpoints last."""
    model = state.model
    guard = nag_callbacks.StopOnPersistentNaN(model.consecutive_skipped, config.max_bad_steps)
    callbacks = [
        budget,
        guard,
        keras.callbacks.LambdaCallback(on_test_begin=lambda logs: model.prepare_for_inference()),
    ]

    def progress():
        """The run's progress p in [0, 1]: the larger of steps done / planned and seconds spent / budgeted."""
        by_steps = int(model.step.numpy()) / total_steps
        return min(1.0, max(by_steps, budget.spent / budget.seconds) if budget.seconds else by_steps)

    if config.learning_rate_schedule == "cosine":
        callbacks.insert(1, nag_callbacks.AnnealLearningRate(config.learning_rate, progress))
    if config.dynamic_pairs:
        # DM-UAP's curriculum: the pairs' radii grow linearly with the run's progress (this step's share).
        callbacks.insert(
            1,
            keras.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: model.pair_ramp.assign(progress())),
        )
    if chief:
        selection = datasets.selection
        board = monitoring.NAGTensorBoard(
            logdir,
            model,
            config.xi,
            sample_images=selection.images[:4],
            config_text=_summary_text(config),
            image_every_steps=config.image_every_steps,
        )
        collapse = nag_callbacks.CollapseDetector(
            model,
            config.image_every_steps,
            holdout_images=(selection.images[:32], selection.clean_labels[:32]),
            writer=board.train_writer,
        )
        callbacks += [
            board,
            collapse,
            nag_callbacks.KeepBestGenerator(
                model.generator,
                os.path.join(logdir, BEST_WEIGHTS),
                state.best_fooling_rate,
                state.best_is_diverse,
                monitor=f"val_{model.rate_name}",
                max_cosine=config.resolved_select_max_cosine(),
                cosine_fn=collapse.pairwise_cosine,
            ),
        ]
    callbacks.append(nag_callbacks.CheckpointEveryEpoch(state.manager, model.step, guard))
    return callbacks, guard


def _fit(config, state, datasets, strategy, logdir, chief, budget, stop):
    """Runs Keras fit from the current step to the last epoch; returns its history.

    A run resumed in the middle of an epoch (stopped by a signal) first
    finishes that epoch with a fit of the remaining steps, so every epoch
    boundary (validation, best-epoch choice, checkpoint) falls on the same
    step as in an uninterrupted run, and so does the final generator.
    """
    model = state.model
    steps_per_epoch = config.steps_per_epoch or batches.steps_per_epoch(datasets.train, config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    if int(model.step.numpy()) >= total_steps:
        print(f"already trained for {int(model.step.numpy())} steps ({config.epochs} epochs); nothing to do")
        return {}
    if budget.exhausted:
        print(
            f"already trained for {int(model.step.numpy())} steps, the whole --time_budget_s "
            f"({budget.spent:.0f} s of {budget.seconds:g} s); nothing to do"
        )
        return {}
    callbacks, guard = _callbacks(
        config, state, datasets, logdir=logdir, chief=chief, budget=budget, total_steps=total_steps
    )
    callbacks.insert(1, stop)  # right after the budget, which must stay first
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Keras 3.15 builds a model under a strategy by all-reducing a data batch, which
        # MultiWorkerMirroredStrategy cannot do for a nested batch; the model is already
        # built, so let fit take the strategy from the enclosing scope instead.
        model._distribute_strategy = None
        model.logs_as_vectors = True
    # The datasets' image variables are made outside the strategy scope: they stay plain CPU variables.
    selection_batches = _for_strategy(
        batches.evaluation_batches(datasets.selection, config.batch_size, config.latent_dim, config.seed), strategy
    )
    history = {}
    while int(model.step.numpy()) < total_steps:
        step = int(model.step.numpy())
        epoch, done_in_epoch = divmod(step, steps_per_epoch)
        train_batches = _for_strategy(
            batches.training_batches(datasets.train, config.batch_size, config.seed, step, config.latent_dim), strategy
        )
        with strategy.scope():
            fit = model.fit(
                train_batches,
                epochs=epoch + 1 if done_in_epoch else config.epochs,
                initial_epoch=epoch,
                steps_per_epoch=steps_per_epoch - done_in_epoch,
                validation_data=selection_batches,
                callbacks=callbacks,
                verbose=config.verbose,
                shuffle=False,  # batches are already a seeded function of the step
            )
        for key, values in fit.history.items():
            history.setdefault(key, []).extend(values)
        if model.stop_training:  # the budget, the NaN guard or a signal ended it early
            break
    if guard.failed:
        raise NAGError(
            f"training stopped at step {int(model.step.numpy())}: {config.max_bad_steps} steps in a row had NaN/Inf "
            f"({int(model.skipped_steps.numpy())} skipped in all); the last good checkpoint is in "
            f"{state.manager.directory}. Check the data and lower --learning_rate"
        )
    return history


def _report(config, model, target, report_images):
    """Fooling rate (mean, std over sampled deltas), per-member rates and pairwise cosine on the report images."""
    perturbations = metrics.sample_perturbations(model.generator, config.eval_samples, config.report_seed)
    target_class = model.loss_config.target_class
    rates, labels = metrics.fooling_rates(
        perturbations, target, report_images, batch_size=config.batch_size, clip=config.clip, target_class=target_class
    )
    per_target = {}
    if labels.ndim == 3:  # an ensemble: one column of labels per member
        for index, (member, _) in enumerate(target.members):
            member_labels = labels[..., index]  # [K, N]: each sampled delta on every image
            clean = np.broadcast_to(report_images.clean_labels[:, index], member_labels.shape)
            per_target[member.name] = float(metrics.attack_rate(clean, member_labels, target_class))
    cosine = metrics.mean_pairwise_cosine(perturbations.numpy()) if config.eval_samples > 1 else float("nan")
    interval = stats.bootstrap_interval(stats.per_image_attack(report_images.clean_labels, labels, target_class))
    return rates, per_target, cosine, interval


def train(config, budget_marks=(), on_budget_mark=None, should_stop=None):
    """Trains (or resumes) a generator; returns a TrainResult.

    `budget_marks`/`on_budget_mark`: on_budget_mark(seconds, model) is
    called as each mark of optimisation seconds is passed (learning curves).
    `should_stop()`, checked after each step, ends training as a signal does: the epoch is checkpointed
    and TrainingStopped raised (the same call resumes).

    Raises:
      NAGError: bad config, data, weights or log directory; persistent NaNs.
    """
    config.validate()
    # A signal before the first step or after the last (loading, tracing, the final report) stops at once,
    # cleanly; inside training StopOnSignal takes over and ends the step and its epoch first.
    with SignalCatcher(interrupt="outside a training step: run the same command to resume"):
        return _train(config, budget_marks, on_budget_mark, should_stop)


def _train(config, budget_marks, on_budget_mark, should_stop):
    strategy = distribute.make_strategy(config.strategy)
    chief = distribute.is_chief(strategy)
    logdir = distribute.worker_logdir(config.logdir, strategy)
    keras.utils.set_random_seed(seeds.derive(config.seed, "keras_global"))
    keras.mixed_precision.set_global_policy(config.mixed_precision or "float32")
    target, datasets = _load_inputs(config, strategy, logdir)
    if chief:
        with open(os.path.join(logdir, "config.json"), "w") as handle:
            handle.write(config.to_json())
    state = _restore_or_start(config, strategy, target, logdir)
    model = state.model
    budget = nag_callbacks.StopAfterSeconds(
        config.time_budget_s,
        budget_marks,
        on_mark=None if on_budget_mark is None else lambda mark: on_budget_mark(mark, model),
        spent_variable=state.optimisation_seconds,
    )
    stop = nag_callbacks.StopOnSignal(should_stop=should_stop)
    history = _fit(config, state, datasets, strategy=strategy, logdir=logdir, chief=chief, budget=budget, stop=stop)
    if stop.received:
        # The epoch in progress was ended and checkpointed; no final weights: the run is not finished.
        raise TrainingStopped(
            f"{stop.received} at step {int(model.step.numpy())}: checkpoint written to {state.manager.directory}; "
            "run the same command to resume",
            signal_number=stop.signal_number,
        )
    model.prepare_for_inference()
    if chief:
        nag_callbacks.save_weights_atomically(model.generator, os.path.join(logdir, FINAL_WEIGHTS))

    best_path = os.path.join(logdir, BEST_WEIGHTS)
    if os.path.exists(best_path):
        model.generator.load_weights(best_path)
    best_is_diverse = bool(state.best_is_diverse.numpy())
    if not best_is_diverse and config.resolved_select_max_cosine() < 1.0:
        logging.warning(
            "no epoch had sampled perturbations with pairwise cosine <= %.2f (--select_max_cosine); kept the most "
            "fooling one",
            config.resolved_select_max_cosine(),
        )
    rates, per_target, cosine, interval = _report(config, model, target, datasets.report)
    steps = int(model.step.numpy())
    return TrainResult(
        steps=steps,
        heldout_fooling_rate=float(np.mean(rates)),
        heldout_fooling_rate_std=float(np.std(rates)),
        heldout_images=len(datasets.report),
        heldout_interval=interval,
        per_target=per_target,
        rate_name=model.rate_name,
        pairwise_cosine=cosine,
        best_weights=best_path,
        best_is_diverse=best_is_diverse,
        optimisation_seconds=budget.spent,
        target_image_passes=round(steps * config.batch_size * model.target_images_per_step),
        history=history,
    )
