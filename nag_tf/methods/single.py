"""What every single-perturbation method (SGD-UAP, SGA, DM-UAP) shares: the budget's common settings, the
photos and target loaded once, the resumable state, the saved perturbation and its snapshots.

A method module gives its optimiser (`optimise(settings, target, cached, budget, seed, **loop)`, calling
its `nag_tf.baselines.*_lib` trainer) and its image passes a step; `train_single` does the rest, the
same way for each, so a stopped run resumes and a finished one is read back identically.
"""

import dataclasses
import functools
import os

import numpy as np

from nag_tf import choices
from nag_tf.records import check, setting

__all__ = ["UniversalSettings", "train_single", "load_single", "PERTURBATION"]

PERTURBATION = "perturbation.npy"  # the finished run's perturbation in its workdir (+ .json)
_STATE = "state.npz"  # a stopped run's perturbation, steps and seconds
_SNAPSHOTS = "snapshots"


@dataclasses.dataclass(frozen=True)
class UniversalSettings:
    """The threat model every single-perturbation method shares with NAG: the budget xi, its norm, clipping."""

    xi: float = setting(10.0, "Budget on the 0-255 scale: L-inf, or the L2 radius with norm=l2.")
    norm: str = setting("linf", "Budget norm: linf (signed steps, clip) or l2 (normalised steps, projection).")
    clip: bool = setting(True, "Clip x + v to [0, 255] (as NAG's --clip).")

    def validate(self):
        """Raises NAGError naming the first bad value and its fix; returns self."""
        check(
            (
                (self.norm in choices.NORMS, f"norm={self.norm!r} is not one of {', '.join(choices.NORMS)}"),
                (
                    0 < self.xi <= (255 if self.norm == "linf" else 1e6),
                    f"xi={self.xi} is outside (0, 255]" if self.norm == "linf" else f"xi={self.xi} must be positive",
                ),
            )
        )
        return self


@functools.lru_cache(maxsize=2)
def _target_and_photos(target, photos):
    """The target and the decoded photos with their clean labels, kept for the next run on the same ones
    (a K-set trains K runs on them: decoding and labelling once is what makes small budgets fair)."""
    import keras_apps
    from nag_tf.inputs import batches, data

    loaded = keras_apps.load_target(target.canonical_name, target.weights)
    return loaded, batches.load_folder(data.training_folder(photos), loaded, 32, "training images")


def _snapshot_path(workdir, mark):
    return os.path.join(workdir, _SNAPSHOTS, f"{mark:g}s.npy")


def _save(perturbation, path, settings, target, method, extra=None):
    from nag_tf.evaluation import sources

    return sources.save_perturbation(
        perturbation, path, settings.xi, target, settings.norm, method=method, clip=settings.clip, extra=extra
    )


def _start(workdir, fork_from):
    """A stopped run's state; else, for a fork, the perturbation it starts from with no steps or seconds
    spent; else None (the method's own start)."""
    from nag_tf.baselines.sgd_uap_lib import StartState

    path = os.path.join(workdir, _STATE)
    if os.path.exists(path):
        with np.load(path) as state:
            return StartState(state["perturbation"], int(state["steps"]), float(state["seconds"]))
    if fork_from is not None:
        from nag_tf.evaluation import sources  # reads and checks the .npy (an [S, S, 3] array)

        return StartState(sources.load_source(fork_from, "fork").perturbation.numpy(), 0, 0.0)
    return None


def _save_state(workdir, perturbation, steps, seconds):
    writing = os.path.join(workdir, _STATE + ".writing.npz")
    np.savez(writing, perturbation=perturbation, steps=steps, seconds=seconds)
    os.replace(writing, os.path.join(workdir, _STATE))


def train_single(method, optimise, passes_per_step, settings, target, photos, budget, seed, workdir, loop):
    """Trains (or resumes) one perturbation into `workdir`; returns (steps, seconds, image passes, stopped).
    A single-perturbation method prints no held-out report: its modules' `train` ignore `heldout`.

    Args:
      method: the method's registry name, written into the perturbation's .json.
      optimise: (settings, loaded target, cached photos, budget, seed, **loop arguments) -> (perturbation,
        steps, seconds), a `nag_tf.baselines` trainer.
      passes_per_step: (settings, photo count) -> images through the target per step.
      loop: marks, on_mark(mark, source), should_stop(), progress(steps, seconds) and start (a .npy to
        fork from, or None).
    """
    from nag_tf.evaluation import sources

    loaded, cached = _target_and_photos(target, photos)
    start = _start(workdir, loop.get("start"))

    def snapshot(mark, perturbation):
        path = _save(perturbation, _snapshot_path(workdir, mark), settings, loaded.name, method)
        if loop["on_mark"] is not None:
            loop["on_mark"](mark, sources.load_source(path, f"{method}@{mark:g}s"))

    perturbation, steps, seconds = optimise(
        settings,
        loaded,
        cached,
        budget,
        seed,
        marks=loop["marks"],
        on_mark=snapshot,
        progress=loop["progress"],
        should_stop=loop["should_stop"],
        start=start,
    )
    stopped = loop["should_stop"]()
    if stopped:
        _save_state(workdir, perturbation, steps, seconds)
    else:
        _save(perturbation, os.path.join(workdir, PERTURBATION), settings, loaded.name, method)
    return steps, seconds, int(steps * passes_per_step(settings, len(cached))), stopped


def load_single(workdir, name, marks):
    """(the finished perturbation's source, {mark: snapshot source}) read back from a run's workdir."""
    from nag_tf.evaluation import sources

    snapshots = {
        mark: sources.load_source(_snapshot_path(workdir, mark), f"{name}@{mark:g}s")
        for mark in marks
        if os.path.exists(_snapshot_path(workdir, mark))
    }
    return sources.load_source(os.path.join(workdir, PERTURBATION), name), snapshots
