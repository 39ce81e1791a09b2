"""One baseline run, given its typed settings: load the target and photos, train, save the perturbation.

The binaries (`sgd_uap`, `sga`, `dm_uap`) read their flags in `main` (`baseline_flags.run_from_flags` for
the shared ones) and pass a `BaselineRun` and their method's train function here; nothing here reads a flag.
"""

import dataclasses

from nag_tf.errors import NAGError

__all__ = ["BaselineRun", "run_baseline"]


@dataclasses.dataclass(frozen=True)
class BaselineRun:
    """What every baseline run shares: target, photos, budget and output."""

    method: str
    target: str = "efficientnet_lite0"
    weights: str = "imagenet"
    preprocess: str = ""  # a model-file target's input scale (keras_apps.model_file)
    data_dir: str = "demo"
    xi: float = 10.0
    norm: str = "linf"
    clip: bool = True
    steps: int = 200
    time_budget_s: float = 0.0
    seed: int = 0
    out: str = ""
    verbose: bool = True

    def validate(self):
        """Raises NAGError naming the first bad value and its fix; returns self."""
        if not 0 < self.xi <= (255 if self.norm == "linf" else 1e6):
            raise NAGError(
                f"--xi={self.xi} is outside (0, 255]"
                if self.norm == "linf"
                else f"--xi={self.xi} must be a positive L2 radius"
            )
        if self.steps < 1 or self.time_budget_s < 0:
            raise NAGError(f"--steps={self.steps} must be positive and --time_budget_s={self.time_budget_s} >= 0")
        if not self.out.endswith(".npy"):
            raise NAGError(f"--out={self.out!r} must end with .npy")
        return self

    def train_arguments(self, progress, should_stop):
        """The keyword arguments every baseline's train function shares (its own settings come beside them)."""
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


def run_baseline(run, train, batch_size):
    """Trains with `train(target, cached, **run.train_arguments(progress, should_stop))`, which returns
    (perturbation, steps, seconds), and saves it where `nag_tf.evaluate --sources=...` reads it.
    `progress(steps, seconds)` drives a progress bar over the time budget (or the steps); `batch_size` is
    the batch the clean labels are computed in.

    SIGTERM/SIGINT: the step in progress ends, the perturbation so far goes to `<out>.stopped.npy` (its
    .json says which signal, after how many steps), `<out>` is left as it was, and TrainingStopped says so.

    Raises:
      NAGError: a bad target, weights or data folder.
    """
    import keras

    import keras_apps
    from nag_tf.baselines import sgd_uap_lib
    from nag_tf.inputs import batches, data
    from nag_tf.signals import SignalCatcher

    target = keras_apps.load_target(keras_apps.canonical_target_name(run.target, run.preprocess), run.weights)
    cached = batches.load_folder(data.training_folder(run.data_dir), target, batch_size, "training images")
    by_time = bool(run.time_budget_s)
    bar = keras.utils.Progbar(
        run.time_budget_s if by_time else run.steps,
        unit_name="s of optimisation" if by_time else "step",
        stateful_metrics=["steps"],
        verbose=1 if run.verbose else 0,
    )

    def progress(steps, seconds):
        bar.update(
            min(seconds, run.time_budget_s) if by_time else steps, values=[("steps", steps)] if by_time else None
        )

    with SignalCatcher() as caught:
        perturbation, steps, seconds = train(target, cached, **run.train_arguments(progress, caught.stop_requested))
    # Stopped by a signal: the perturbation so far goes apart, marked incomplete; `out` is not touched.
    path = run.out[:-4] + ".stopped.npy" if caught.received else run.out
    extra = {"complete": False, "stopped_by": caught.received, "steps": steps} if caught.received else None
    sources.save_perturbation(
        perturbation, path, run.xi, target.name, run.norm, method=run.method, clip=run.clip, extra=extra
    )
    caught.check(f"after {steps} steps: the perturbation so far is in {path}; {run.out} was not written")
    print(f"{run.method}: {steps} steps in {seconds:.0f} s of optimisation; saved {run.out}")
