"""What a distribution is worth: K universal perturbations from each method at equal total compute.

NAG trains once for the budget and then draws its K-set (its first K samples; each costs one generator
pass). Each single-perturbation method buys a K-set with K runs of budget / K seconds each, with their own
seeds (data order, start): the same total compute (nag_tf.evaluation.perturbation_sets). Seconds are
counted as in the head-to-head (only the time inside training steps); every set's image passes are given
too. On the held-out photos, for every method and K: coverage@K (photos fooled by at least one of the K),
the mean single-perturbation fooling rate, the photos fooled by a majority of the K, classes95, the mean
pairwise cosine of the K, coverage@K on the black-box targets; NAG's coverage minus the best baseline's
with a paired bootstrap interval over the photos; the smallest K reaching the coverage goal. Threat model:
the attacker may apply any one of the K perturbations to a photo (coverage counts a photo fooled by any);
white-box on the target, black-box on the transfer targets.
"""

import json
import os

import numpy as np

from nag_tf.comparison import summary as summaries
from nag_tf.comparison.machine import machine
from nag_tf.comparison.plan import short_target
from nag_tf.errors import NAGError

__all__ = [
    "SHARED",
    "baseline_sets",
    "merge",
    "parse_ks",
    "parse_shard",
    "report",
    "rows_of",
    "score_sets",
]


# Which question each measure answers (printed under every table; docs/evaluation.md says the same).
THREATS = (
    "Threat models: coverage = an attacker who may try all K perturbations on a photo and sees the label "
    "(fooled if any one fools it); mean fr = one perturbation drawn at random (fooled by that one); majority = "
    "a set that fools a photo whichever member is drawn, for most draws (fooled by more than half). White-box "
    "on the target; the cov <target> columns are black-box transfer (trained without access to that model)."
)

# What scorings must share to be merged: the same photos, targets, budget, seed and machine (seconds are its).
SHARED = ("target", "transfer", "budget_s", "eval_images", "machine", "seed", "split")


def parse_ks(texts):
    """Sorted distinct set sizes from the --ks texts; NAGError unless all are positive integers."""
    try:
        ks = sorted({int(k) for k in texts})
    except ValueError:
        ks = []
    if not ks or ks[0] < 1:
        raise NAGError(f"--ks must be positive integers, e.g. --ks=1,2,5,10 (got {list(texts)})")
    return ks


def parse_shard(text):
    """(index, count) from "i/n"; None for "" (train and score everything)."""
    if not text:
        return None
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        index, count = -1, 0
    if count < 1 or not 0 <= index < count:
        raise NAGError(f"--shard must be i/n with 0 <= i < n, e.g. --shard=0/2 (got {text})")
    return index, count


def baseline_sets(plan, method, ks, budget_s, shard=(0, 1)):
    """{K: [MethodRun]}: each cold K-set bought with K runs of budget_s / K seconds under `plan` (finished
    runs are reused, in workdir/<method>_sets/k<K>_<i>); with a shard, only that share of the runs."""
    from nag_tf.comparison import set_ways

    return set_ways.cold_runs(plan.train, method, ks, budget_s, plan.seed, plan.workdir, shard)


def _row(result, k, targets, deltas):
    """The set measures of the first k perturbations a source was scored with, on every target."""
    from nag_tf.evaluation import metrics, perturbation_sets

    white = result.per_target[targets[0]]
    row = perturbation_sets.set_measures(white.fooled[:k], white.adversarial_labels[:k])
    row["pairwise_cos"] = metrics.mean_pairwise_cosine(deltas[:k]) if k > 1 else None
    for target in targets[1:]:
        row[f"coverage_{short_target(target)}"] = perturbation_sets.set_measures(result.per_target[target].fooled[:k])[
            "coverage"
        ]
    return {key: (round(value, 4) if isinstance(value, float) else value) for key, value in row.items()}


def score_sets(plan, ks, budget_s, goal=0.95, ways=("cold",)):
    """Trains every method's K-sets under `plan` (NAG once; each baseline in each of `ways`,
    nag_tf.comparison.set_ways) and scores them on the held-out photos.

    Returns:
      The summary (the JSON line): by_k rows per set (a method, or method_way), the paired coverage keys
      (NAG minus the best of all the baselines' sets), reach_* keys.
    """
    from nag_tf.comparison import set_ways
    from nag_tf.evaluation import evaluate_lib, metrics, sources, stats

    config, targets = plan.nag_config, plan.targets
    cost = {}  # method -> {K: (seconds, image passes)} of the K-set
    evaluated = []  # (method, source, the set sizes K its first K samples make)
    for method in plan.methods:
        if method == "nag":
            run = plan.train("nag", budget_s, plan.seed, os.path.join(plan.workdir, "nag"))
            evaluated.append(("nag", run.source, ks))
            cost["nag"] = {k: (run.seconds, run.image_passes) for k in ks}  # one run buys every K
            continue
        for way in ways:
            if not set_ways.supports(method, way):
                print(f"{method}: no {way} sets (built for {', '.join(set_ways.JOINT_METHODS)})", flush=True)
                continue
            row = set_ways.row_name(method, way)
            for k, made in set_ways.make_sets(plan.train, method, way, ks, budget_s, plan.seed, plan.workdir).items():
                source = sources.PerturbationSetSource(made.perturbations, config.xi, f"{row}_k{k}", plan.target)
                evaluated.append((row, source, [k]))
                cost.setdefault(row, {})[k] = (made.seconds, made.image_passes)
    scored = evaluate_lib.evaluate(
        [source for _, source, _ in evaluated],
        targets,
        plan.eval_folder,
        config.weights,
        white_box_samples=max(ks),
        black_box_samples=max(ks),
        batch_size=config.batch_size,
        seed=plan.seed,
        interpolation_steps=0,
    )
    rows = {}  # method -> {K: row}
    covered = {}  # target -> method -> {K: per-photo 0/1, fooled by any of the K}
    for (method, source, set_ks), result in zip(evaluated, scored.sources):
        deltas = source.sample(max(set_ks), plan.seed).numpy()
        for k in set_ks:
            rows.setdefault(method, {})[k] = _row(result, k, targets, deltas)
            seconds, passes = cost[method][k]
            rows[method][k].update(seconds=round(seconds, 1), image_passes=int(passes))
            for target in targets:
                fooled_by_any = metrics.fooled_by_any(result.per_target[target].fooled[:k])
                covered.setdefault(target, {}).setdefault(method, {})[k] = fooled_by_any
    measure_of = {
        target: "coverage" if target == targets[0] else f"coverage_{short_target(target)}" for target in targets
    }
    found = {
        "target": plan.target,
        "transfer": targets[1:],
        "budget_s": budget_s,
        "ks": ks,
        "eval_images": scored.images,
        "machine": machine(),
        "seed": plan.seed,
        "split": plan.split,
        "set_methods": list(ways),
        "by_k": {method: {str(k): row for k, row in by_k.items()} for method, by_k in rows.items()},
        # Photo by photo, fooled by any of the K (0/1): what --pool pairs over runs (splits x seeds).
        "per_photo": {
            measure_of[target]: {
                method: {str(k): fooled.astype(int).tolist() for k, fooled in by_k.items()}
                for method, by_k in covered[target].items()
            }
            for target in targets
        },
    }
    if "nag" in rows and len(rows) > 1:
        # White-box keys as before; a black-box target's keys end in its short name (k5_..._coverage_lite1).
        for target in targets:
            suffix = "" if target == targets[0] else "_" + short_target(target)
            for k in ks:
                paired = stats.difference_to_best({m: covered[target][m][k].astype(np.float64) for m in rows}, "nag")
                found[f"k{k}_best_baseline{suffix}"] = paired["best"]
                found[f"k{k}_nag_minus_best_coverage{suffix}"] = paired["difference"][0]
                found[f"k{k}_nag_minus_best_coverage_ci{suffix}"] = paired["difference"][1:]
    found.update(_set_keys(rows, goal))
    return found


def _set_keys(rows, goal):
    """The keys read off every method's rows: the smallest K reaching coverage `goal` (with its seconds and
    passes; None if never) and the baselines' pairwise cosine at their largest K."""
    from nag_tf.evaluation import perturbation_sets

    keys = {}
    for method, by_k in rows.items():
        reach = perturbation_sets.first_k_reaching({k: row["coverage"] for k, row in by_k.items()}, goal)
        keys[f"{method}_reach_k"] = reach
        keys[f"{method}_reach_seconds"] = by_k[reach]["seconds"] if reach else None
        keys[f"{method}_reach_image_passes"] = by_k[reach]["image_passes"] if reach else None
    if "nag" in rows and len(rows) > 1:
        keys["baseline_pairwise_cos"] = {m: by_k[max(by_k)]["pairwise_cos"] for m, by_k in rows.items() if m != "nag"}
    return keys


def merge(found, goal=0.95):
    """One summary from scorings of one split that scored different K (rows, paired keys, reach recomputed);
    NAGError where the runs differ in what they must share (SHARED) or score one method's K twice."""
    if any("by_k" not in summary for summary in found):
        raise NAGError("--merge: a run has no by_k: pass nag_tf.sets outputs (not --shard runs)")
    summaries.require_agreement(found, SHARED, "--merge: the runs", "comparable")
    # NAG's rows of one scoring share one training; other image passes mean a retrained generator or a machine
    # of the same name but another speed (other compute for the same seconds), which "machine" cannot tell.
    nag_passes = sorted({row["image_passes"] for s in found for row in s["by_k"].get("nag", {}).values()})
    if len(nag_passes) > 1:
        raise NAGError(f"--merge: NAG's sets come from different trainings (image passes {nag_passes}): report apart")
    merged, by_k = {}, {}
    for summary in found:
        for method, rows in summary["by_k"].items():
            for k, row in rows.items():
                if k in by_k.setdefault(method, {}):
                    raise NAGError(f"--merge: {method} K={k} is in two runs; merge runs that scored different K")
                by_k[method][k] = row
        merged.update({key: value for key, value in summary.items() if key != "per_photo"})  # k<K>_ paired keys
        for measure, methods in summary.get("per_photo", {}).items():
            for method, lists in methods.items():
                merged.setdefault("per_photo", {}).setdefault(measure, {}).setdefault(method, {}).update(lists)
    merged["by_k"] = {m: dict(sorted(rows.items(), key=lambda item: int(item[0]))) for m, rows in by_k.items()}
    merged["ks"] = sorted({int(k) for rows in by_k.values() for k in rows})
    merged.update(_set_keys(rows_of(merged), goal))
    return merged


def rows_of(found):
    """{method: {K: row}} with integer K, from a summary's by_k (JSON keys are strings)."""
    return {method: {int(k): row for k, row in by_k.items()} for method, by_k in found["by_k"].items()}


def report(found, workdir):
    """Draws coverage@K (a panel per target), prints the table, then the summary as the last line."""
    from nag_tf.evaluation import plots

    rows = rows_of(found)
    targets = [found["target"], *found["transfer"]]
    short = [short_target(t) for t in targets[1:]]
    panels = {
        target: {m: [(k, row[key]) for k, row in by_k.items()] for m, by_k in rows.items()}
        for target, key in zip(targets, ["coverage"] + [f"coverage_{t}" for t in short])
    }
    images, budget, where = found["eval_images"], found["budget_s"], found["machine"]
    png = plots.coverage_at_k(
        panels,
        os.path.join(workdir, "coverage_at_k.png"),
        f"{images} held-out photos, {budget:.0f} s per method's set, {where}",
    )
    print(f"\n{targets[0]} (white-box), {images} held-out photos, {budget:.0f} s a set; {where}")
    print(
        f"{'set':17s} {'K':>3s} {'coverage':>8s} {'mean fr':>7s} {'majority':>8s} {'cls95':>5s} {'cos':>6s} "
        + " ".join(f"{'cov ' + t:>10s}" for t in short)
        + f" {'seconds':>7s} {'img passes':>10s}"
    )
    for method, by_k in rows.items():
        for k, row in by_k.items():
            cos = "-" if row["pairwise_cos"] is None else f"{row['pairwise_cos']:.3f}"
            print(
                f"{method:17s} {k:3d} {row['coverage']:8.3f} {row['mean_fooling']:7.3f} {row['majority']:8.3f} "
                f"{row['classes95']:5d} {cos:>6s} "
                + " ".join(f"{row['coverage_' + t]:10.3f}" for t in short)
                + f" {row['seconds']:7.0f} {row['image_passes']:10d}"
            )
    for suffix, where in [("", targets[0]), *((f"_{t}", t) for t in short)]:
        for k in found["ks"]:
            if f"k{k}_nag_minus_best_coverage_ci{suffix}" in found:
                low, high = found[f"k{k}_nag_minus_best_coverage_ci{suffix}"]
                print(
                    f"K={k}, {where}: NAG's coverage minus the best baseline's "
                    f"({found[f'k{k}_best_baseline{suffix}']}): {found[f'k{k}_nag_minus_best_coverage{suffix}']:+.4f} "
                    f"(95% {low:+.4f} to {high:+.4f})"
                )
    print(THREATS)
    print(f"coverage@K: {png}; runs in {workdir}")
    print(json.dumps(found))
