"""The flags every baseline binary shares (target, data, budget, output) and their typed form.

Each binary calls `define_shared_flags()` beside its own method's flags, then, in its `main`,
`run_from_flags(FLAGS, method)`: the one place these flags are read (the library, `run_lib`, takes the
`BaselineRun`).
"""

import dataclasses

from absl import flags

from nag_tf import choices
from nag_tf.baselines.run_lib import BaselineRun

__all__ = ["define_shared_flags", "run_from_flags"]


def define_shared_flags(flag_values=flags.FLAGS):
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
    flags.DEFINE_float(
        "xi", 10.0, "Budget on the 0-255 scale: L-inf, or the L2 radius with --norm=l2.", flag_values=flag_values
    )
    flags.DEFINE_enum(
        "norm",
        "linf",
        list(choices.NORMS),
        "Budget norm: linf (signed steps, clip) or l2 (normalised steps, projection onto the ball).",
        flag_values=flag_values,
    )
    flags.DEFINE_bool("clip", True, "Clip x + v to [0, 255] (as NAG's --clip).", flag_values=flag_values)
    flags.DEFINE_integer("steps", 200, "Training steps.", flag_values=flag_values)
    flags.DEFINE_float(
        "time_budget_s", 0.0, "Stop after this many seconds of optimisation (0: no limit).", flag_values=flag_values
    )
    flags.DEFINE_integer("seed", 0, "Seed of the data order.", flag_values=flag_values)
    flags.DEFINE_string("out", None, "Output .npy path (default: runs/METHOD/uap.npy).", flag_values=flag_values)
    flags.DEFINE_integer("verbose", 1, "1: a progress bar with ETA; 0: quiet.", flag_values=flag_values)


def run_from_flags(flag_values, method):
    """The validated BaselineRun of parsed shared flags (NAGError names a bad value)."""
    # Every field is a flag of the same name, except these three, set here.
    derived = ("method", "out", "verbose")
    values = {f.name: flag_values[f.name].value for f in dataclasses.fields(BaselineRun) if f.name not in derived}
    return BaselineRun(
        method=method,
        out=flag_values["out"].value or f"runs/{method}/uap.npy",
        verbose=bool(flag_values["verbose"].value),
        **values,
    ).validate()
