"""The one way to train any attack method: `train(settings, target, photos, budget, seed, ...)`.

Each method is a module of this package (registry.METHODS) with its settings record; this module adds
what is the same for all of them: the budget, the target named once, reuse of a finished run (its
record, `run.json`, says what it cost), resume of a stopped one, a progress bar, a graceful stop
(SIGTERM/SIGINT or the caller's `stop`), and the `MethodRun` the comparisons, the K-sets, hardening and
the binaries all read.
"""

import dataclasses
import json
import os
import tempfile

from nag_tf.errors import NAGError, TrainingStopped
from nag_tf.methods import registry, single
from nag_tf.records import as_json, same_identity

__all__ = ["Budget", "MethodRun", "TargetSpec", "train", "RUN_RECORD"]

RUN_RECORD = "run.json"


@dataclasses.dataclass(frozen=True)
class Budget:
    """Optimisation seconds (only the time inside training steps counts, the same for every method) and/or
    steps; whichever is reached first ends the run. 0 means no limit; at least one must be set."""

    seconds: float = 0.0
    steps: int = 0

    @classmethod
    def of(cls, budget):
        """A Budget from a Budget or a number of seconds."""
        budget = budget if isinstance(budget, Budget) else cls(seconds=float(budget))
        if budget.seconds < 0 or budget.steps < 0 or not (budget.seconds or budget.steps):
            raise NAGError(f"a budget needs positive seconds or steps (got {budget}), e.g. Budget(seconds=60)")
        return budget


@dataclasses.dataclass(frozen=True)
class TargetSpec:
    """The white-box target a method trains against: a registry name or a model file (with its preprocess),
    and its weights ("imagenet", "none" or a weights file: a hardened copy)."""

    name: str = "efficientnet_lite0"
    weights: str = "imagenet"
    preprocess: str = ""

    @property
    def canonical_name(self):
        import keras_apps

        return keras_apps.canonical_target_name(self.name, self.preprocess)

    @classmethod
    def of(cls, target):
        """A TargetSpec from a TargetSpec or a name."""
        if isinstance(target, TargetSpec):
            return target
        if isinstance(target, str) and target:
            return cls(name=target)
        raise NAGError(f"target must be a registry name, a model file or a TargetSpec (got {target!r})")


@dataclasses.dataclass
class MethodRun:
    """A finished run: its perturbation source (`sample(count, seed)`), what it cost, its snapshots."""

    method: str
    name: str
    source: object  # nag_tf.evaluation.sources.PerturbationSource
    steps: int
    seconds: float  # optimisation seconds
    image_passes: int  # images through the target, forward + backward, counted by the method
    snapshots: dict  # mark (s) -> PerturbationSource
    workdir: str

    @property
    def perturbation_file(self):
        """The finished perturbation's .npy, what a fork passes as `start`; None for NAG (a generator)."""
        return None if self.method == "nag" else os.path.join(self.workdir, single.PERTURBATION)


def _identity(method, settings, target, photos, budget, seed, heldout, start):
    # "start" only when given: the records of runs from the method's own start read as before.
    return ({"start": os.path.abspath(start)} if start else {}) | {
        "method": method,
        "settings": as_json(settings),
        "target": dataclasses.asdict(target),
        "photos": os.path.abspath(photos) if os.path.isdir(photos) else photos,
        "heldout": heldout,
        "budget": dataclasses.asdict(budget),
        "seed": seed,
    }


def _record(workdir):
    path = os.path.join(workdir, RUN_RECORD)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def _has_progress(workdir):
    """Whether a stopped run left state to resume from (a baseline's state.npz, NAG's checkpoints)."""
    return any(os.path.exists(os.path.join(workdir, name)) for name in ("state.npz", "checkpoints"))


def _write_record(workdir, record):
    writing = os.path.join(workdir, RUN_RECORD + ".writing")
    with open(writing, "w") as handle:
        json.dump(record, handle, indent=1)
    os.replace(writing, os.path.join(workdir, RUN_RECORD))


def _progress_bar(budget, verbose):
    import keras

    by_time = bool(budget.seconds)
    bar = keras.utils.Progbar(
        budget.seconds if by_time else budget.steps,
        unit_name="s of optimisation" if by_time else "step",
        stateful_metrics=["steps"],
        verbose=1 if verbose else 0,
    )

    def progress(steps, seconds):
        if by_time:
            bar.update(min(seconds, budget.seconds), values=[("steps", steps)])
        else:
            bar.update(min(steps, budget.steps))

    return progress


def train(
    settings,
    target,
    photos,
    budget,
    seed=0,
    workdir=None,
    marks=(),
    on_mark=None,
    stop=None,
    heldout=None,
    name=None,
    verbose=1,
    start=None,
):
    """Trains `settings`' method against `target` on `photos` for `budget`; returns a MethodRun.

    A finished run in `workdir` with the same settings, target, photos, budget and seed is read back as it
    is (nothing is trained); a stopped one resumes. The method counts its own image passes.

    Args:
      settings: a method's settings record (`nag_tf.methods.settings_for(name)`; NAG's is a TrainConfig).
      target: a registry name, a model file or a TargetSpec.
      photos: a folder of photos with labels.csv, or "demo".
      budget: seconds of optimisation, or a Budget (seconds and/or steps).
      seed: the run's seed (data order, start, NAG's generator and latents).
      workdir: where the run lives (default: a new temporary folder).
      marks: seconds of optimisation at which to keep snapshots (learning curves).
      on_mark: on_mark(mark, source), called as each mark is passed.
      stop: stop() -> bool, checked after each step; true ends the run resumably (TrainingStopped).
      heldout: NAG only: photos for its final printout (else its config's holdout share of `photos`).
      name: the sources' name in reports (default: the method's).
      verbose: 1 for a progress bar.
      start: single-perturbation methods only: a perturbation `.npy` to start from instead of the method's own
        start (a fork). A run's `perturbation_file` is continued: its steps, seconds and optimiser state carry
        on (schedules and Adam's moments), with this call's seed for the data order; `budget`, the returned
        steps, seconds and image passes are the fork's own. A bare .npy starts with none of them.

    Raises:
      NAGError: bad settings, target, photos or budget, or a workdir holding another run.
      TrainingStopped: a signal or `stop` ended the run; the same call resumes it.
    """
    from nag_tf.signals import SignalCatcher

    module = registry.method_for(settings)
    settings.validate()
    target, budget = TargetSpec.of(target), Budget.of(budget)
    if not isinstance(photos, str) or not photos:
        raise NAGError(f"photos must be a folder with labels.csv or 'demo' (got {photos!r})")
    marks = sorted(float(mark) for mark in marks)
    name = name or module.NAME
    workdir = workdir or tempfile.mkdtemp(prefix=f"nag_tf_{module.NAME}_")
    if start is not None and (module.NAME == "nag" or not os.path.isfile(str(start))):
        raise NAGError(
            f"start={start!r}: give the .npy of a single-perturbation run (run.source.path) to fork from; "
            "NAG starts from its own initialisation"
        )
    identity = _identity(module.NAME, settings, target, photos, budget, seed, heldout, start)
    record = _record(workdir)
    if record is not None and not same_identity(record.get("identity"), identity, settings):
        if record.get("finished") or _has_progress(workdir):
            raise NAGError(f"{workdir} holds another run ({RUN_RECORD} differs): give another workdir or delete it")
        record = None  # a start that failed before its first step (a bad flag): nothing to keep
    if record is None or not record.get("finished"):
        os.makedirs(workdir, exist_ok=True)
        _write_record(workdir, {"identity": identity, "finished": False})
        with SignalCatcher() as caught:
            loop = dict(
                marks=marks,
                on_mark=on_mark,
                should_stop=lambda: caught.stop_requested() or bool(stop is not None and stop()),
                progress=_progress_bar(budget, verbose),
                start=start,
            )
            steps, seconds, passes, stopped = module.train(
                settings, target, photos, budget, seed, workdir, loop, heldout=heldout
            )
        if stopped:
            raise TrainingStopped(
                f"{caught.received or 'a stop request'} after {steps} steps: {module.NAME}'s state is in {workdir}; "
                "the same call resumes it",
                caught.signal_number,
            )
        record = {"identity": identity, "finished": True, "steps": steps, "seconds": seconds, "image_passes": passes}
        _write_record(workdir, record)
    source, snapshots = module.load(workdir, name, marks)
    return MethodRun(
        method=module.NAME,
        name=name,
        source=source,
        steps=int(record["steps"]),
        seconds=float(record["seconds"]),
        image_passes=int(record["image_passes"]),
        snapshots=snapshots,
        workdir=workdir,
    )
