"""Trains a NAG generator from a `TrainConfig`: data, model, checkpoints, TensorBoard, final score.

Re-running with the same config and logdir resumes from the last complete
checkpoint: the step counter, optimizer, RNG and best score continue, and the
data batches are a function of the step, so the run goes on as if it had
never stopped.
"""

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

import keras_apps
from nag_tf import callbacks as nag_callbacks
from nag_tf import data, distribute, metrics
from nag_tf.errors import NAGError
from nag_tf.config import generator_for
from nag_tf.model import NAGModel

__all__ = ["TrainResult", "train", "load_datasets", "build_model", "check_logdir_writable"]

BEST_WEIGHTS = "best.weights.h5"
FINAL_WEIGHTS = "final.weights.h5"


@dataclasses.dataclass
class TrainResult:
    steps: int
    heldout_fooling_rate: float  # mean over eval_samples sampled perturbations (targeted: success rate)
    heldout_fooling_rate_std: float
    per_target: dict  # ensemble member -> its rate (empty for one target)
    rate_name: str  # "fooling_rate" or "targeted_success_rate"
    pairwise_cosine: float  # mean pairwise cosine of those perturbations
    best_weights: str
    history: dict


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


def load_datasets(config, target):
    """Returns (train CachedImages, held-out CachedImages), decoded once, clean labels computed once."""
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
        train_ds = data.read_tfds(config.tfds_name, config.tfds_split, size, config.tfds_data_dir, limit, per_class, config.resize)
        if not config.tfds_holdout_split:
            raise NAGError("with --tfds_name, also give --tfds_holdout_split (e.g. 'validation[:1000]')")
        holdout_ds = data.read_tfds(config.tfds_name, config.tfds_holdout_split, size, config.tfds_data_dir, None, None, config.resize)
    train = data.cache_with_clean_labels(train_ds, target, config.batch_size, train_records, "training images")
    holdout = data.cache_with_clean_labels(holdout_ds, target, config.batch_size, holdout_records, "held-out images")
    return train, holdout


def build_model(config, target):
    """The generator for the target's input size and the NAGModel around both, compiled."""
    generator = generator_for(config, seed=config.seed)
    model = NAGModel(generator, target, config.loss_config(), seed=config.seed)
    # Under mixed_float16 Keras wraps the optimizer in a LossScaleOptimizer.
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=config.jit_compile, steps_per_execution=config.steps_per_execution)
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


def train(config):
    """Trains (or resumes) a generator; returns a TrainResult.

    Raises:
      NAGError: bad config, data, weights or log directory; persistent NaNs.
    """
    config.validate()
    strategy = distribute.make_strategy(config.strategy)
    chief = distribute.is_chief(strategy)
    logdir = distribute.worker_logdir(config.logdir, strategy)
    created_logdir = not os.path.exists(logdir)
    check_logdir_writable(logdir)
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(config.mixed_precision or "float32")
    try:
        with strategy.scope():
            target = keras_apps.load_targets(config.target, config.weights, config.diversity_layer, config.target_weights)
        train_images, holdout_images = load_datasets(config, target)
        if config.batch_size > len(train_images):
            raise NAGError(f"--batch_size={config.batch_size} is larger than the {len(train_images)} usable training images")
    except NAGError:
        if created_logdir and not os.listdir(logdir):
            os.rmdir(logdir)  # a failed start leaves nothing behind
        raise
    print(f"{len(train_images)} training images, {len(holdout_images)} held-out images, target {target.name} at {target.image_size} px, "
          f"{strategy.num_replicas_in_sync} replica(s)")
    if chief:
        with open(os.path.join(logdir, "config.json"), "w") as handle:
            handle.write(config.to_json())

    with strategy.scope():
        model = build_model(config, target)
        best_fooling_rate = tf.Variable(-1.0, trainable=False, name="best_fooling_rate")
        checkpoint = tf.train.Checkpoint(
            generator=model.generator,
            optimizer=model.optimizer,
            step=model.step,
            skipped_steps=model.skipped_steps,
            best_fooling_rate=best_fooling_rate,
        )
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(logdir, "checkpoints"), max_to_keep=3)
    # Every worker resumes from the chief's checkpoint (the others only write to throw-away folders).
    latest = tf.train.latest_checkpoint(os.path.join(config.logdir, "checkpoints"))
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
        print(f"resumed from {latest} at step {int(model.step.numpy())}")

    steps_per_epoch = config.steps_per_epoch or data.steps_per_epoch(train_images, config.batch_size)
    start_step = int(model.step.numpy())
    total_steps = config.epochs * steps_per_epoch
    best_path = os.path.join(logdir, BEST_WEIGHTS)
    history = {}
    if start_step < total_steps:
        guard = nag_callbacks.StopOnPersistentNaN(model.consecutive_skipped, config.max_bad_steps)
        callbacks = [
            guard,
            keras.callbacks.LambdaCallback(on_test_begin=lambda logs: model.prepare_for_inference()),
            nag_callbacks.CheckpointEveryEpoch(manager, model.step, guard),
        ]
        if chief:
            board = nag_callbacks.NAGTensorBoard(logdir, model, config.xi, holdout_images.images[:4], _summary_text(config), config.image_every_steps)
            callbacks[2:2] = [
                board,
                nag_callbacks.CollapseDetector(
                    model, config.image_every_steps, holdout_images=(holdout_images.images[:32], holdout_images.clean_labels[:32]), writer=board.train_writer
                ),
                nag_callbacks.KeepBestGenerator(model.generator, best_path, best_fooling_rate, monitor=f"val_{model.rate_name}"),
            ]
        if config.time_budget_s:
            callbacks.insert(0, nag_callbacks.StopAfterSeconds(config.time_budget_s))
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3.15 builds a model under a strategy by all-reducing a data batch, which
            # MultiWorkerMirroredStrategy cannot do for a nested batch; the model is already
            # built, so let fit take the strategy from the enclosing scope instead.
            model._distribute_strategy = None
            model.logs_as_vectors = True
        # The datasets' image variables are made outside the strategy scope: they stay plain CPU variables.
        train_batches = _for_strategy(data.training_batches(train_images, config.batch_size, config.seed, start_step, config.latent_dim), strategy)
        holdout_batches = _for_strategy(data.evaluation_batches(holdout_images, config.batch_size, config.latent_dim, config.seed + 1), strategy)
        with strategy.scope():
            fit = model.fit(
                train_batches,
                epochs=config.epochs,
                initial_epoch=start_step // steps_per_epoch,
                steps_per_epoch=steps_per_epoch,
                validation_data=holdout_batches,
                callbacks=callbacks,
                verbose=config.verbose,
                shuffle=False,  # batches are already a seeded function of the step
            )
        history = fit.history
        if guard.failed:
            raise NAGError(
                f"training stopped at step {int(model.step.numpy())}: {config.max_bad_steps} steps in a row had NaN/Inf "
                f"({int(model.skipped_steps.numpy())} skipped in all); the last good checkpoint is in "
                f"{manager.directory}. Check the data and lower --learning_rate"
            )
    else:
        print(f"already trained for {start_step} steps ({config.epochs} epochs); nothing to do")
    model.prepare_for_inference()
    if chief:
        nag_callbacks.save_weights_atomically(model.generator, os.path.join(logdir, FINAL_WEIGHTS))

    if os.path.exists(best_path):
        model.generator.load_weights(best_path)
    perturbations = metrics.sample_perturbations(model.generator, config.eval_samples, config.seed + 7)
    target_class = model.loss_config.target_class
    rates, labels = metrics.fooling_rates(perturbations, target, holdout_images, config.batch_size, config.clip, target_class)
    per_target = {}
    if labels.ndim == 3:  # an ensemble: one column of labels per member
        for index, (member, _) in enumerate(target.members):
            member_labels = labels[..., index]  # [K, N]: each sampled delta on every image
            clean = np.broadcast_to(holdout_images.clean_labels[:, index], member_labels.shape)
            per_target[member.name] = float(metrics.attack_rate(clean, member_labels, target_class))
    cosine = metrics.mean_pairwise_cosine(perturbations.numpy()) if config.eval_samples > 1 else float("nan")
    return TrainResult(
        steps=int(model.step.numpy()),
        heldout_fooling_rate=float(np.mean(rates)),
        heldout_fooling_rate_std=float(np.std(rates)),
        per_target=per_target,
        rate_name=model.rate_name,
        pairwise_cosine=cosine,
        best_weights=best_path,
        history=history,
    )
