"""The flags of a baseline binary (sgd_uap, sga, dm_uap): the run's (target, photos, budget, output) and
the method's own, defined from its settings record, and their one conversion into a `BaselineJob`.

Each binary calls `define_flags(method)` at import and, in its `main`, `job_from_flags(FLAGS, method)`.
"""

import dataclasses

from absl import flags

from nag_tf import record_flags
from nag_tf.errors import NAGError
from nag_tf.methods import registry

__all__ = ["BaselineJob", "define_flags", "job_from_flags"]

# The flags this module defines are its caller's (a binary's): absl then lists them in the binary's --help.
flags.disclaim_key_flags()


@dataclasses.dataclass(frozen=True)
class BaselineJob:
    """A baseline binary's call of nag_tf.methods.train, and where its perturbation goes."""

    settings: object
    target: object  # nag_tf.methods.TargetSpec
    photos: str
    budget: object  # nag_tf.methods.Budget
    seed: int
    out: str
    workdir: str
    verbose: bool


def define_flags(method, flag_values=flags.FLAGS):
    """The run's flags, then one flag a field of the method's settings record (defaults: the record's)."""
    flags.DEFINE_string("target", "efficientnet_lite0", "Target classifier.", flag_values=flag_values)
    flags.DEFINE_string("weights", "imagenet", "'imagenet', 'none' or a weights file.", flag_values=flag_values)
    flags.DEFINE_string(
        "preprocess",
        "",
        "For a --target that is a .keras file or SavedModel directory: caffe | tf | torch | lite | "
        "none | scale=A,B (required there; registered targets know theirs).",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "data_dir", "demo", "Training image folder ('demo' = the bundled demo set).", flag_values=flag_values
    )
    flags.DEFINE_integer("steps", 200, "Training steps (with --time_budget_s: at most).", flag_values=flag_values)
    flags.DEFINE_float(
        "time_budget_s", 0.0, "Stop after this many seconds of optimisation (0: no limit).", flag_values=flag_values
    )
    flags.DEFINE_integer("seed", 0, "Seed of the data order (and of DM-UAP's start).", flag_values=flag_values)
    flags.DEFINE_string("out", None, "Output .npy path (default: runs/METHOD/uap.npy).", flag_values=flag_values)
    flags.DEFINE_string(
        "workdir",
        None,
        "Where the run lives (run.json; a stopped run's state, resumed by the same command). Default: OUT_run/.",
        flag_values=flag_values,
    )
    flags.DEFINE_integer("verbose", 1, "1: a progress bar with ETA; 0: quiet.", flag_values=flag_values)
    record_flags.define_settings_flags(registry.module_of(method).settings_type()(), flag_values)


def job_from_flags(flag_values, method):
    """The validated BaselineJob of parsed flags (NAGError names a bad value by its flag)."""
    from nag_tf.methods.run import Budget, TargetSpec

    steps, seconds = flag_values["steps"].value, flag_values["time_budget_s"].value
    if steps < 1 or seconds < 0:
        raise NAGError(f"--steps={steps} must be positive and --time_budget_s={seconds} >= 0")
    out = flag_values["out"].value or f"runs/{method}/uap.npy"
    if not out.endswith(".npy"):
        raise NAGError(f"--out={out!r} must end with .npy")
    defaults = registry.module_of(method).settings_type()()
    return BaselineJob(
        settings=record_flags.settings_from_flags(defaults, flag_values),
        target=TargetSpec(flag_values["target"].value, flag_values["weights"].value, flag_values["preprocess"].value),
        photos=flag_values["data_dir"].value,
        budget=Budget(seconds=seconds, steps=steps),
        seed=flag_values["seed"].value,
        out=out,
        workdir=flag_values["workdir"].value or out[:-4] + "_run",
        verbose=bool(flag_values["verbose"].value),
    )
