"""Ways to make K universal perturbations with one single-perturbation method at one total budget B.

K cold starts sharing B is the weakest way to spend a budget on K perturbations (each run starves as K
grows), so the K-set comparison also builds the stronger ones, at the same total compute:

- cold: K runs from the method's own start, B / K seconds each, each with its own seed
  (nag_tf.evaluation.perturbation_sets);
- snapshots: one run of B seconds whose perturbation is kept at K points of its second half,
  B/2 + j B/(2K) for j = 1 .. K (the last is the finished run): one run buys every K;
- forks: one run of B/2 seconds (the trunk), then K continuations from the trunk's perturbation, B/(2K)
  seconds each, each with its own seed (data order), continuing the trunk's schedule and optimiser state;
- joint: one run of B seconds learning K perturbations under one optimiser, each photo's loss taken on the
  member that fools it best, softly (DM-UAP's and SGA's steps with `members=K`; SGD-UAP has no joint form).
  Each step costs K perturbed passes of the batch, counted in its image passes.

Seconds are optimisation seconds and image passes are the method's own count, summed over every run a set
needed (the trunk included), as for NAG and the cold sets. Each way returns {K: MadeSet}.
"""

import dataclasses
import os

from nag_tf import seeds
from nag_tf.errors import NAGError

__all__ = [
    "SET_WAYS",
    "JOINT_METHODS",
    "MadeSet",
    "cold_runs",
    "make_sets",
    "snapshot_marks",
    "parse_set_ways",
    "row_name",
    "supports",
]

SET_WAYS = ("cold", "snapshots", "forks", "joint")
JOINT_METHODS = ("dm_uap", "sga")  # the methods with a joint (members=K) form


@dataclasses.dataclass(frozen=True)
class MadeSet:
    perturbations: list  # K arrays [S, S, 3] on the 0-255 scale
    seconds: float  # optimisation seconds of every run the set needed
    image_passes: int


def parse_set_ways(texts):
    """The --set_methods texts as a tuple in SET_WAYS' order; NAGError naming an unknown one."""
    ways = tuple(dict.fromkeys(texts))
    unknown = [way for way in ways if way not in SET_WAYS]
    if unknown or not ways:
        raise NAGError(f"--set_methods: {unknown or 'none given'}; pick among {', '.join(SET_WAYS)}")
    return tuple(way for way in SET_WAYS if way in ways)


def row_name(method, way):
    """A set's row in tables and JSON keys: the method for cold sets (as in earlier outputs), else method_way."""
    return method if way == "cold" else f"{method}_{way}"


def snapshot_marks(k, budget_s):
    """The K - 1 marks (seconds) at which a K-set's snapshots are kept; the K-th member is the final run."""
    return [budget_s / 2 + j * budget_s / (2 * k) for j in range(1, k)]


def cold_runs(train, method, ks, budget_s, seed, workdir, shard=(0, 1)):
    """{K: [MethodRun]}: the cold K-sets' runs (with a shard, only that share of them), in
    workdir/<method>_sets/k<K>_<i>."""
    from nag_tf.evaluation import perturbation_sets

    def train_one(run):
        print(f"{method}: set K={run.k}, run {run.index + 1}/{run.k}, {run.budget_s:.0f} s", flush=True)
        folder = os.path.join(workdir, f"{method}_sets", f"k{run.k}_{run.index}")
        return train(method, run.budget_s, run.seed, folder, name=f"{method}_k{run.k}_{run.index}")

    return perturbation_sets.train_sets(train_one, ks, budget_s, seed, *shard)


def _cold(train, method, ks, budget_s, seed, workdir):
    return {
        k: MadeSet(
            [run.source.perturbation.numpy() for run in runs],
            sum(run.seconds for run in runs),
            sum(run.image_passes for run in runs),
        )
        for k, runs in cold_runs(train, method, ks, budget_s, seed, workdir).items()
    }


def _snapshots(train, method, ks, budget_s, seed, workdir):
    folder = os.path.join(workdir, f"{method}_snapshots")
    marks = sorted({mark for k in ks for mark in snapshot_marks(k, budget_s)})
    run = train(method, budget_s, seed, os.path.join(folder, "run"), marks=marks, name=f"{method}_snapshots")
    made = {}
    for k in ks:
        wanted = snapshot_marks(k, budget_s)
        missing = [mark for mark in wanted if mark not in run.snapshots]
        if missing:
            raise NAGError(
                f"{method}'s snapshot run in {folder} has no snapshot at {missing[0]:g} s (it finished before that "
                "mark, or was trained with other marks): delete the folder to train it again"
            )
        members = [run.snapshots[mark].perturbation.numpy() for mark in wanted]
        made[k] = MadeSet(members + [run.source.perturbation.numpy()], run.seconds, run.image_passes)
    return made


def _forks(train, method, ks, budget_s, seed, workdir):
    folder = os.path.join(workdir, f"{method}_forks")
    trunk = train(method, budget_s / 2, seed, os.path.join(folder, "trunk"), name=f"{method}_trunk")
    made = {}
    for k in ks:
        forks = [
            train(
                method,
                budget_s / (2 * k),
                seeds.derive(seed, "fork", k, i),
                os.path.join(folder, f"k{k}_{i}"),
                name=f"{method}_fork_k{k}_{i}",
                start=trunk.perturbation_file,
            )
            for i in range(k)
        ]
        made[k] = MadeSet(
            [run.source.perturbation.numpy() for run in forks],
            trunk.seconds + sum(run.seconds for run in forks),
            trunk.image_passes + sum(run.image_passes for run in forks),
        )
    return made


def _joint(train, method, ks, budget_s, seed, workdir):
    if method not in JOINT_METHODS:
        raise NAGError(f"--set_methods=joint: {method} has no joint form; it is built for {', '.join(JOINT_METHODS)}")
    made = {}
    for k in ks:
        folder = os.path.join(workdir, f"{method}_joint", f"k{k}")
        run = train(method, budget_s, seed, folder, name=f"{method}_joint_k{k}", overrides={"members": k})
        made[k] = MadeSet(list(run.source.perturbations.numpy()), run.seconds, run.image_passes)
    return made


def supports(method, way):
    """Whether `method` can make its K-sets `way` (every way but joint works for every single method)."""
    return way != "joint" or method in JOINT_METHODS


_MAKERS = {"cold": _cold, "snapshots": _snapshots, "forks": _forks, "joint": _joint}


def make_sets(train, method, way, ks, budget_s, seed, workdir):
    """{K: MadeSet}: `method`'s K-sets made `way`, each at total budget `budget_s`.

    Args:
      train: train(method, budget_s, seed, workdir, marks=(), name=None, start=None, overrides=None) ->
        MethodRun, e.g. a ComparisonPlan's (finished runs are reused, stopped ones resume).
      method: a single-perturbation method's registry name.
      way: one of SET_WAYS.
      ks: the set sizes.
      budget_s: each K-set's total optimisation seconds.
      seed: the comparison's seed (each run's own seed is derived from it by name).
      workdir: the comparison's folder; the runs go to workdir/<method>_sets (cold, as before) or
        workdir/<method>_<way>.
    """
    return _MAKERS[way](train, method, sorted(ks), budget_s, seed, workdir)
