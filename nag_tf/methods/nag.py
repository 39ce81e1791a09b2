"""NAG as a method: its settings are a `TrainConfig` (nag_tf.core.config) and its training `train_lib.train`.

The call's target, photos, budget, seed and workdir replace the config's own; the rest (losses,
generator, learning rate, selection images) is the config's. NAG chooses its best epoch on
`selection_images` carved out of the photos; its final printout is on `heldout` photos when given,
else on the config's holdout share of the photos (which it then does not train on).
"""

import dataclasses
import math
import os

NAME = "nag"
TITLE = "NAG (Mopuri et al., CVPR 2018)"
QUICKSTART = "quickstart.flags"
_SNAPSHOTS = "snapshots"


def settings_type():
    from nag_tf.core.config import TrainConfig

    return TrainConfig


def comparison_settings(flagfile=QUICKSTART, flags_after=()):
    """The comparisons' NAG: a training flagfile (the demo's by default) with 64 selection photos (the demo
    flagfile's 32 are coarse) and 2 report samples (the comparison scores every method itself)."""
    from nag_tf.training.train_flags import config_from_flagfile

    settings = config_from_flagfile(flagfile, flags_after=flags_after)
    return dataclasses.replace(settings, selection_images=64, eval_samples=2, verbose=2)


def _snapshot_path(workdir, mark):
    return os.path.join(workdir, _SNAPSHOTS, f"{mark:g}s.weights.h5")


def config_for(settings, target, photos, budget, seed, workdir, heldout=None):
    """The TrainConfig a call trains: the settings with the call's target, photos, budget, seed and workdir."""
    epochs, steps_per_epoch = 10**6, settings.steps_per_epoch
    if budget.steps:  # whole epochs: a step budget is rounded up to the next epoch's end
        steps_per_epoch = steps_per_epoch or min(budget.steps, 100)
        epochs = math.ceil(budget.steps / steps_per_epoch)
    return dataclasses.replace(
        settings,
        target=(target.canonical_name,),
        weights=target.weights,
        data_dir=photos,
        holdout_dir=heldout or settings.holdout_dir,
        tfds_name=None,
        time_budget_s=budget.seconds,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        seed=seed,
        logdir=workdir,
    )


def train(settings, target, photos, budget, seed, workdir, loop, heldout=None):
    """Trains (or resumes) a generator in `workdir`; returns (steps, seconds, image passes, stopped)."""
    from nag_tf.evaluation import sources
    from nag_tf.training import train_lib

    config = config_for(settings, target, photos, budget, seed, workdir, heldout)
    os.makedirs(os.path.join(workdir, _SNAPSHOTS), exist_ok=True)

    def snapshot(mark, model):
        model.prepare_for_inference()
        path = _snapshot_path(workdir, mark)
        model.generator.save_weights(path)
        if loop["on_mark"] is not None:
            loop["on_mark"](mark, sources.weights_source(config, path, f"{NAME}@{mark:g}s"))

    result = train_lib.train(
        config, budget_marks=loop["marks"], on_budget_mark=snapshot, should_stop=loop["should_stop"]
    )
    return result.steps, result.optimisation_seconds, result.target_image_passes, False


def load(workdir, name, marks):
    """(the selected generator's source, {mark: the generator at that mark}) read back from a run's workdir."""
    from nag_tf.core.config import TrainConfig
    from nag_tf.evaluation import sources

    source = sources.load_source(workdir, name)
    config = TrainConfig.from_logdir(workdir)
    snapshots = {
        mark: sources.weights_source(config, _snapshot_path(workdir, mark), f"{name}@{mark:g}s")
        for mark in marks
        if os.path.exists(_snapshot_path(workdir, mark))
    }
    return source, snapshots
