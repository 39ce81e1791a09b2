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
from nag_tf.errors import NAGError
from nag_tf.records import check, setting

__all__ = ["UniversalSettings", "train_single", "load_single", "PERTURBATION"]

PERTURBATION = "perturbation.npy"  # the finished run's perturbation in its workdir (+ .json)
_STATE = "state.npz"  # a stopped run's perturbation, steps, seconds and optimiser variables
# A finished run's steps, seconds and optimiser variables beside its perturbation: what a fork continues
# (a continuation, not a restart: DM-UAP's ramp and AdamW moments, SGD-UAP's step decay carry on).
_CONTINUATION = "continuation.npz"
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


def _read_state(path, perturbation=None):
    """A RunState from a state or continuation file (`perturbation` replaces the file's, if given)."""
    from nag_tf.baselines.sgd_uap_lib import RunState

    with np.load(path) as state:
        count = int(state["optimizer_count"]) if "optimizer_count" in state else 0  # older state: none saved
        optimizer = tuple(state[f"optimizer_{i}"] for i in range(count))
        return RunState(
            state["perturbation"] if perturbation is None else perturbation,
            int(state["steps"]),
            float(state["seconds"]),
            optimizer,
        )


def _write_state(path, trained):
    writing = path + ".writing.npz"
    optimizer = {f"optimizer_{i}": value for i, value in enumerate(trained.optimizer)}
    np.savez(
        writing,
        perturbation=trained.perturbation,
        steps=trained.steps,
        seconds=trained.seconds,
        optimizer_count=len(trained.optimizer),
        **optimizer,
    )
    os.replace(writing, path)


def fork_origin(fork_from):
    """Where the run a fork continues stood when it finished (RunState), read from the .npy `fork_from`
    and, when it is a run's perturbation, the continuation file beside it; a bare .npy (no run beside it)
    starts with no steps, seconds or optimiser state."""
    from nag_tf.baselines.sgd_uap_lib import RunState
    from nag_tf.evaluation import sources  # reads and checks the .npy (an [S, S, 3] array)

    source = sources.load_source(fork_from, "fork")
    if not isinstance(source, sources.FixedPerturbationSource):
        raise NAGError(f"start={fork_from!r} holds a set of {source.distinct_samples} perturbations; fork from one")
    perturbation = source.perturbation.numpy()
    continuation = os.path.join(os.path.dirname(os.path.abspath(fork_from)), _CONTINUATION)
    if os.path.exists(continuation):
        return _read_state(continuation, perturbation)
    return RunState(perturbation, 0, 0.0)


def _counted_on(budget, origin):
    """The budget a run continuing from `origin` runs to: its own seconds and steps on top of the origin's
    (the trainers count on from where the origin stood, so their schedules carry on)."""
    return dataclasses.replace(
        budget,
        seconds=budget.seconds + origin.seconds if budget.seconds else 0.0,
        steps=budget.steps + origin.steps if budget.steps else 0,
    )


def train_single(method, optimise, passes_per_step, settings, target, photos, budget, seed, workdir, loop):
    """Trains (or resumes) one perturbation into `workdir`; returns (steps, seconds, image passes, stopped),
    a fork's own (what it spent beyond the run it continues). A single-perturbation method prints no held-out
    report: its modules' `train` ignore `heldout`.

    Args:
      method: the method's registry name, written into the perturbation's .json.
      optimise: (settings, loaded target, cached photos, budget, seed, **loop arguments) -> RunState, a
        `nag_tf.baselines` trainer.
      passes_per_step: (settings, photo count) -> images through the target per step.
      loop: marks, on_mark(mark, source), should_stop(), progress(steps, seconds) and start (a .npy to
        fork from, or None).
    """
    from nag_tf.baselines.sgd_uap_lib import RunState
    from nag_tf.evaluation import sources

    loaded, cached = _target_and_photos(target, photos)
    forked = loop.get("start") is not None
    origin = fork_origin(loop["start"]) if forked else RunState(None, 0, 0.0)
    start = origin if forked else None
    state_path = os.path.join(workdir, _STATE)
    if os.path.exists(state_path):  # a stopped run (a fork's counts on from its origin's)
        start = _read_state(state_path)
    progress = loop["progress"]

    def snapshot(mark, perturbation):
        path = _save(perturbation, _snapshot_path(workdir, mark), settings, loaded.name, method)
        if loop["on_mark"] is not None:
            loop["on_mark"](mark, sources.load_source(path, f"{method}@{mark:g}s"))

    trained = optimise(
        settings,
        loaded,
        cached,
        _counted_on(budget, origin),
        seed,
        marks=[mark + origin.seconds for mark in loop["marks"]],
        on_mark=lambda mark, perturbation: snapshot(mark - origin.seconds, perturbation),
        progress=None
        if progress is None
        else lambda steps, seconds: progress(steps - origin.steps, seconds - origin.seconds),
        should_stop=loop["should_stop"],
        start=start,
    )
    stopped = loop["should_stop"]()
    if stopped:
        _write_state(state_path, trained)
    else:
        _save(trained.perturbation, os.path.join(workdir, PERTURBATION), settings, loaded.name, method)
        _write_state(os.path.join(workdir, _CONTINUATION), trained)
    steps, seconds = trained.steps - origin.steps, trained.seconds - origin.seconds
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
