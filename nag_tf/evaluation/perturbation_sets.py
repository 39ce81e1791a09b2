"""What a set of K universal perturbations is worth, and how a single-perturbation method buys one.

NAG pays for one training run and then draws each perturbation for one generator pass; SGA, SGD-UAP
and DM-UAP pay one run per perturbation. At equal compute T, a K-set of theirs is K runs of T / K
seconds each, with their own seeds (data order, start), and NAG's K-set is its first K samples.
The measures read a [K, N] mask of which perturbation fools which photo, so every method's set is
scored the same way (bench/distribution_value.py).
"""

import dataclasses

import numpy as np

from nag_tf import seeds

__all__ = ["SetRun", "run_plan", "shard", "train_sets", "set_measures", "first_k_reaching"]


@dataclasses.dataclass(frozen=True)
class SetRun:
    """One single-perturbation run of a K-set: the i-th of K, its budget and seed."""

    k: int
    index: int
    budget_s: float
    seed: int


def run_plan(ks, budget_s, seed):
    """The runs that buy each K-set at total budget `budget_s`: K runs of budget_s / K each.

    Seeds differ across every run of every set (the "set_run" stream, indexed by K and i), so no two runs share a data
    order, and the sets are independent of one another (a K-set is not a prefix of a larger one).
    """
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"set sizes must be positive integers (got {ks})")
    if budget_s <= 0:
        raise ValueError(f"the total budget must be positive (got {budget_s})")
    return [SetRun(k, i, budget_s / k, seeds.derive(seed, "set_run", k, i)) for k in ks for i in range(k)]


def shard(runs, index, count):
    """The runs that process `index` of `count` trains: every count-th run of each K-set.

    A K-set's runs are independent, so processes on separate cores or machines can share them;
    each trains its share (the same seeds and budgets as in one process), and a later unsharded
    run with the same --workdir reuses them all. Striding within each K-set splits every set's
    compute evenly over the processes.
    """
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard {index} of {count}: need 0 <= index < count")
    return [run for run in runs if run.index % count == index]


def train_sets(train_one, ks, budget_s, seed, shard_index=0, shard_count=1):
    """{K: [train_one(run) for each run of the K-set]}, in run_plan's order (only this shard's runs)."""
    sets = {}
    for run in shard(run_plan(ks, budget_s, seed), shard_index, shard_count):
        sets.setdefault(run.k, []).append(train_one(run))
    return sets


def set_measures(fooled, adversarial_labels=None):
    """The measures of one set, from fooled: bool [K, N] (perturbation k fools photo n).

    coverage: photos fooled by at least one of the K; mean_fooling: the mean single-perturbation
    fooling rate; majority: photos fooled by more than half of the K (a set that still fools when
    some of its members are defended against); classes95: the fewest classes holding 95% of the
    adversarial predictions (the labels of fooled pairs, with adversarial_labels [K, N]).
    """
    from nag_tf.evaluation.evaluate_lib import classes_covering
    from nag_tf.evaluation.metrics import fooled_by_any

    covered = fooled_by_any(fooled)  # checks the mask's shape
    fooled = np.asarray(fooled, bool)
    share = fooled.mean(axis=0)
    measures = {
        "coverage": float(covered.mean()),
        "mean_fooling": float(share.mean()),
        "majority": float((share > 0.5).mean()),
    }
    if adversarial_labels is not None:
        labels = np.asarray(adversarial_labels)[fooled]
        measures["classes95"] = classes_covering(np.bincount(labels)) if labels.size else 0
    return measures


def first_k_reaching(coverage_by_k, goal=0.95):
    """The smallest K whose coverage reaches `goal`, or None if none does; coverage_by_k: {K: coverage}."""
    return next((k for k in sorted(coverage_by_k) if coverage_by_k[k] >= goal), None)
