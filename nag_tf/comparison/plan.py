"""What one comparison holds fixed for every method: the photos it trains and scores on, the target, each
method's settings, the seed, the scoring; and the one way it trains a method (nag_tf.methods.train).

A `ComparisonPlan` is built by `comparison_flags.plan_from_flags` (the binaries) or directly (Python).
The baselines take NAG's xi, norm and clip, so every method answers the same threat model: a universal
perturbation of L-inf (or L2) size xi added to any photo, clipped to the pixel range, against the white-box
target (and transferred to the black-box ones).
"""

import dataclasses
import os

from nag_tf import methods
from nag_tf.inputs import data, splits

__all__ = ["ComparisonPlan", "photo_folders", "short_target"]


@dataclasses.dataclass(frozen=True)
class ComparisonPlan:
    """Args of every comparison: see the fields."""

    target: str  # the white-box target's registry name
    train_folder: str  # every method trains on these photos (NAG carves its selection photos out of them)
    eval_folder: str  # scored on these, which choose nothing
    split: str  # how the photos were chosen, for the JSON (runs are merged and pooled on it)
    settings: dict  # method -> its settings record (NAG's: a TrainConfig)
    seed: int = 0
    samples: int = 10  # sampled perturbations per source in the scoring
    transfer: tuple = ()  # black-box targets
    workdir: str = "runs/compare"

    @property
    def methods(self):
        return tuple(self.settings)

    @property
    def nag_config(self):
        """NAG's settings, or the comparisons' default NAG when it is not compared (its xi, batch, weights)."""
        return self.settings.get("nag") or methods.settings_for("nag")

    @property
    def targets(self):
        return [self.target] + [t for t in self.transfer if t and t != self.target]

    def train(self, method, budget_s, seed, workdir, marks=(), name=None, start=None, overrides=None):
        """One run of `method` under this plan (reused when finished in `workdir`, resumed when stopped);
        `start`: a single-perturbation run's .npy to fork from; `overrides`: {setting: value} for this run."""
        return methods.train(
            dataclasses.replace(self.settings[method], **(overrides or {})),
            methods.TargetSpec(self.target, self.nag_config.weights),
            self.train_folder,
            budget_s,
            seed=seed,
            workdir=workdir,
            marks=marks,
            # Only NAG prints a held-out report; a baseline's run record stays free of the scoring photos.
            heldout=self.eval_folder if method == "nag" else None,
            name=name or method,
            verbose=1,
            start=start,
        )


def photo_folders(split_folder, holdout, split_seed, train_data, eval_data, workdir):
    """(training folder, evaluation folder, the split's description): `split_folder` divided by `holdout`
    with `split_seed` (written under workdir/split), else `train_data` and `eval_data` as they are."""
    if split_folder:
        train, held_out = splits.write_split_folders(split_folder, holdout, split_seed, os.path.join(workdir, "split"))
        return train, held_out, f"{split_folder} holdout={holdout:g} split_seed={split_seed}"
    return data.training_folder(train_data), data.evaluation_folder(eval_data), f"train={train_data} eval={eval_data}"


def short_target(name):
    """'efficientnet_lite1' -> 'lite1': the suffix of the JSON's transfer keys."""
    return name.replace("efficientnet_", "")
