"""What the baseline binaries share: the data, budget and output flags, their checks, and the run.

A baseline binary defines only its own method's flags and a `train(target, cached, common)`
function; `run_baseline` loads the target and images, checks the shared flags, trains and
saves the perturbation where `nag_tf.evaluate --sources=...` can read it.
"""

import dataclasses

from absl import flags

from nag_tf import choices

__all__ = ["CommonOptions", "run_baseline"]

_TARGET = flags.DEFINE_string("target", "efficientnet_lite0", "Target classifier.")
_WEIGHTS = flags.DEFINE_string("weights", "imagenet", "'imagenet', 'none' or a weights file.")
_PREPROCESS = flags.DEFINE_string(
    "preprocess",
    "",
    "For a --target that is a .keras file or SavedModel directory: caffe | tf | torch | lite | "
    "none | scale=A,B (required there; registered targets know theirs).",
)
_DATA_DIR = flags.DEFINE_string("data_dir", "demo", "Training image folder ('demo' = the bundled demo set).")
_XI = flags.DEFINE_float("xi", 10.0, "Budget on the 0-255 scale: L-inf, or the L2 radius with --norm=l2.")
_NORM = flags.DEFINE_enum(
    "norm",
    "linf",
    list(choices.NORMS),
    "Budget norm: linf (signed steps, clip) or l2 (normalised steps, projection onto the ball).",
)
_CLIP = flags.DEFINE_bool("clip", True, "Clip x + v to [0, 255] (as NAG's --clip).")
_STEPS = flags.DEFINE_integer("steps", 200, "Training steps.")
_BUDGET = flags.DEFINE_float("time_budget_s", 0.0, "Stop after this many seconds of optimisation (0: no limit).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the data order.")
_OUT = flags.DEFINE_string("out", None, "Output .npy path (default: runs/METHOD/uap.npy).")
_VERBOSE = flags.DEFINE_integer("verbose", 1, "1: a progress bar with ETA; 0: quiet.")


@dataclasses.dataclass(frozen=True)
class CommonOptions:
    target: str
    xi: float
    norm: str
    clip: bool
    steps: int
    time_budget_s: float
    seed: int

    def train_arguments(self, progress, should_stop):
        """The keyword arguments every baseline's train function shares (its own flags come beside them)."""
        return dict(
            xi=self.xi,
            steps=self.steps,
            time_budget_s=self.time_budget_s,
            seed=self.seed,
            clip=self.clip,
            norm=self.norm,
            progress=progress,
            should_stop=should_stop,
        )


def run_baseline(method, train, batch_size):
    """Checks the shared flags, trains with `train(target, cached, options, progress, should_stop)`, which
    returns (perturbation, steps, seconds), saves. `progress(steps, seconds)` drives a progress bar over
    the time budget (or the steps).

    SIGTERM/SIGINT: the step in progress ends, the perturbation so far goes to `<out>.stopped.npy` (its
    .json says which signal, after how many steps), `<out>` is left as it was, and TrainingStopped says so.

    Raises:
      NAGError: a bad flag value, target, weights or data folder.
    """
    from nag_tf.errors import NAGError
    from nag_tf.signals import SignalCatcher

    if not 0 < _XI.value <= (255 if _NORM.value == "linf" else 1e6):
        raise NAGError(
            f"--xi={_XI.value} is outside (0, 255]"
            if _NORM.value == "linf"
            else f"--xi={_XI.value} must be a positive L2 radius"
        )
    if _STEPS.value < 1 or _BUDGET.value < 0:
        raise NAGError(f"--steps={_STEPS.value} must be positive and --time_budget_s={_BUDGET.value} >= 0")
    out = _OUT.value or f"runs/{method}/uap.npy"
    if not out.endswith(".npy"):
        raise NAGError(f"--out={out!r} must end with .npy")
    import keras_apps
    from nag_tf import data
    from nag_tf.baselines import sgd_uap_lib

    target = keras_apps.load_target(keras_apps.canonical_target_name(_TARGET.value, _PREPROCESS.value), _WEIGHTS.value)
    cached = data.load_folder(data.training_folder(_DATA_DIR.value), target, batch_size, "training images")
    import keras

    options = CommonOptions(
        target=target.name,
        xi=_XI.value,
        norm=_NORM.value,
        clip=_CLIP.value,
        steps=_STEPS.value,
        time_budget_s=_BUDGET.value,
        seed=_SEED.value,
    )
    by_time = bool(_BUDGET.value)
    bar = keras.utils.Progbar(
        _BUDGET.value if by_time else _STEPS.value,
        unit_name="s of optimisation" if by_time else "step",
        stateful_metrics=["steps"],
        verbose=1 if _VERBOSE.value else 0,
    )

    def progress(steps, seconds):
        bar.update(min(seconds, _BUDGET.value) if by_time else steps, values=[("steps", steps)] if by_time else None)

    with SignalCatcher() as caught:
        perturbation, steps, seconds = train(target, cached, options, progress, caught.stop_requested)
    # Stopped by a signal: the perturbation so far goes apart, marked incomplete; `out` is not touched.
    path = out[:-4] + ".stopped.npy" if caught.received else out
    extra = {"complete": False, "stopped_by": caught.received, "steps": steps} if caught.received else None
    sgd_uap_lib.save_perturbation(
        perturbation, path, _XI.value, target.name, _NORM.value, method=method, clip=_CLIP.value, extra=extra
    )
    caught.check(f"after {steps} steps: the perturbation so far is in {path}; {out} was not written")
    print(f"{method}: {steps} steps in {seconds:.0f} s of optimisation; saved {out}")
