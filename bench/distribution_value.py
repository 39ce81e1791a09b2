r"""What a distribution is worth: K universal perturbations from each method at equal total compute.

  python bench/distribution_value.py --target=efficientnet_lite0 --split=../shared/data/imagenet-sample \
      --holdout=0.2 --budget_s=1800
  python bench/distribution_value.py --budget_s=120 --ks=1,2,5 --methods=nag,sga   # a quick look on the demo set

NAG trains once for --budget_s seconds of optimisation and then draws its K-set (its first K samples;
each costs one generator pass). Each single-perturbation method buys a K-set with K runs of
budget_s / K seconds each, with their own seeds (data order, start): the same total compute
(nag_tf.evaluation.perturbation_sets). Seconds are counted as in bench/compare.py (only the time inside
training steps); the JSON also gives every set's target image passes.

On the held-out photos, for every method and K: coverage@K (photos fooled by at least one of the K),
the mean single-perturbation fooling rate, the photos fooled by a majority of the K, the classes
holding 95% of the adversarial predictions, the mean pairwise cosine of the K, and coverage@K on the
black-box --transfer targets; NAG's coverage minus the best baseline's with a paired bootstrap
interval over the photos; the smallest K (and its seconds and passes) reaching coverage 0.95.
The baselines' pairwise cosine is the reference for NAG's: how far apart strong universal
perturbations found independently are. One PNG (coverage@K against K, a panel per target);
a stopped run resumes its finished baseline runs (same --workdir). Last line: JSON.

--shard=i/n trains only every n-th baseline run of each K-set, from the i-th, and scores nothing
(--shard=0/1: all of them): processes on separate cores share the runs; copy their <method>_sets
folders into one --workdir and run once without --shard to train NAG and score every set (a NAG that
has spent its --budget_s there is reused as it is). --merge=a.log,b.log trains nothing: one table,
PNG (in --workdir) and JSON from scorings of one split that scored different K (--ks=50 after 5,10,20).
"""

import json
import os
import tempfile

import _common
import _methods
import _summary
import numpy as np
from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_BUDGET = flags.DEFINE_float("budget_s", 1800.0, "Total optimisation seconds of each method's K-set.")
_KS = flags.DEFINE_list("ks", ["1", "2", "5", "10", "20", "50"], "Set sizes K.")
_METHODS = flags.DEFINE_list("methods", ["nag", "sga", "dm_uap"], "Methods (nag, sgd_uap, sga, dm_uap).")
_TRANSFER = flags.DEFINE_list("transfer", ["efficientnet_lite1", "efficientnet_lite2"], "Black-box targets.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of NAG and of the baselines' runs (the split has --split_seed).")
_GOAL = flags.DEFINE_float("coverage_goal", 0.95, "The coverage whose cost is reported (reach_*).")
_SHARD = flags.DEFINE_string("shard", "", "i/n: train only this process's share of the baseline runs (no scoring).")
_MERGE = flags.DEFINE_list("merge", [], "Earlier outputs of this script on one split to merge (no training).")

# What scorings must share to be merged: the same photos, targets, budget, seed and machine (seconds are its).
_SHARED = ("target", "transfer", "budget_s", "eval_images", "machine", "seed", "split")


def _ks():
    from nag_tf.errors import NAGError

    try:
        ks = sorted({int(k) for k in _KS.value})
    except ValueError:
        ks = []
    if not ks or ks[0] < 1:
        raise NAGError(f"--ks must be positive integers, e.g. --ks=1,2,5,10 (got {_KS.value})")
    return ks


def _shard():
    """(index, count) from --shard=i/n; None without --shard (train and score everything)."""
    from nag_tf.errors import NAGError

    if not _SHARD.value:
        return None
    try:
        index, count = (int(part) for part in _SHARD.value.split("/"))
    except ValueError:
        index, count = -1, 0
    if count < 1 or not 0 <= index < count:
        raise NAGError(f"--shard must be i/n with 0 <= i < n, e.g. --shard=0/2 (got {_SHARD.value})")
    return index, count


def _baseline_sets(trainer, method, ks, workdir, shard=(0, 1)):
    """{K: [MethodRun]}: each K-set bought with K runs of budget / K seconds (finished runs are reused)."""
    from nag_tf.evaluation import perturbation_sets

    folder = os.path.join(workdir, f"{method}_sets")

    def train_one(run):
        out = os.path.join(folder, f"k{run.k}_{run.index}.npy")
        print(
            f"{method}: set K={run.k}, run {run.index + 1}/{run.k}, {run.budget_s:.0f} s, seed {run.seed}", flush=True
        )
        return trainer.train(method, run.budget_s, run.seed, out, name=f"{method}_k{run.k}_{run.index}", reuse=True)

    return perturbation_sets.train_sets(train_one, ks, _BUDGET.value, _SEED.value, *shard)


def _row(result, k, targets, deltas):
    """The set measures of the first k perturbations a source was scored with, on every target."""
    from nag_tf.evaluation import metrics, perturbation_sets

    white = result.per_target[targets[0]]
    row = perturbation_sets.set_measures(white.fooled[:k], white.adversarial_labels[:k])
    row["pairwise_cos"] = metrics.mean_pairwise_cosine(deltas[:k]) if k > 1 else None
    for target in targets[1:]:
        row[f"coverage_{_common.short_target(target)}"] = perturbation_sets.set_measures(
            result.per_target[target].fooled[:k]
        )["coverage"]
    return {key: (round(value, 4) if isinstance(value, float) else value) for key, value in row.items()}


def _main(argv):
    del argv
    from nag_tf.errors import NAGError
    from nag_tf.evaluation import evaluate_lib, metrics, sources, stats

    if _MERGE.value:
        if len(_MERGE.value) < 2:
            raise NAGError("--merge: give two or more bench/distribution_value.py outputs, comma-separated")
        merged = merge([_summary.last_json(path, "--merge") for path in _MERGE.value])
        workdir = _common.WORKDIR.value or os.path.dirname(os.path.abspath(_MERGE.value[0]))
        os.makedirs(workdir, exist_ok=True)
        _report(_rows(merged), merged, workdir)
        return

    methods = list(dict.fromkeys(_METHODS.value))
    unknown = set(methods) - set(_methods.METHODS)
    if unknown or not methods:
        raise NAGError(f"--methods must name one or more of {', '.join(_methods.METHODS)} (got {_METHODS.value})")
    ks = _ks()
    shard = _shard()
    if shard and "nag" in methods:
        raise NAGError(
            "--shard trains the baselines' runs only: train NAG in the run without --shard (drop nag from --methods)"
        )
    workdir = _common.WORKDIR.value or tempfile.mkdtemp(prefix="nag_distribution_")
    train_folder, eval_folder = _common.folders(workdir)
    config = _methods.nag_config(train_folder, eval_folder, workdir, _BUDGET.value, _SEED.value)
    targets = [config.target_text] + [t for t in _TRANSFER.value if t and t != config.target_text]

    if shard:
        trainer = _methods.SingleTrainer(config, train_folder)
        trained = {
            method: {
                str(k): {"runs": len(runs), "seconds": round(sum(run.seconds for run in runs), 1)}
                for k, runs in _baseline_sets(trainer, method, ks, workdir, shard).items()
            }
            for method in methods
        }
        print(json.dumps({"shard": _SHARD.value, "workdir": workdir, "trained": trained}))
        return

    cost = {}  # method -> {K: (seconds, image passes)} of the K-set
    evaluated = []  # (method, source, the set sizes K its first K samples make)
    trainer = None
    for method in methods:
        if method == "nag":
            run = _methods.train_nag(config, workdir)
            evaluated.append(("nag", run.source, ks))
            cost["nag"] = {k: (run.seconds, run.image_passes) for k in ks}  # one run buys every K
            continue
        trainer = trainer or _methods.SingleTrainer(config, train_folder)
        for k, runs in _baseline_sets(trainer, method, ks, workdir).items():
            perturbations = [run.source.perturbation.numpy() for run in runs]
            source = sources.PerturbationSetSource(perturbations, config.xi, f"{method}_k{k}", config.target_text)
            evaluated.append((method, source, [k]))
            cost.setdefault(method, {})[k] = (sum(r.seconds for r in runs), sum(r.image_passes for r in runs))

    report = evaluate_lib.evaluate(
        [source for _, source, _ in evaluated],
        targets,
        eval_folder,
        config.weights,
        white_box_samples=max(ks),
        black_box_samples=max(ks),
        batch_size=config.batch_size,
        seed=_SEED.value,
        interpolation_steps=0,
    )
    rows = {}  # method -> {K: row}
    covered = {}  # target -> method -> {K: per-photo 0/1, fooled by any of the K}
    for (method, source, set_ks), result in zip(evaluated, report.sources):
        deltas = source.sample(max(set_ks), _SEED.value).numpy()
        for k in set_ks:
            rows.setdefault(method, {})[k] = _row(result, k, targets, deltas)
            seconds, passes = cost[method][k]
            rows[method][k].update(seconds=round(seconds, 1), image_passes=int(passes))
            for target in targets:
                fooled_by_any = metrics.fooled_by_any(result.per_target[target].fooled[:k])
                covered.setdefault(target, {}).setdefault(method, {})[k] = fooled_by_any

    summary = {
        "target": config.target_text,
        "transfer": targets[1:],
        "budget_s": _BUDGET.value,
        "ks": ks,
        "eval_images": report.images,
        "machine": _common.machine(),
        "seed": _SEED.value,
        "split": _common.split_name(),
        "by_k": {method: {str(k): row for k, row in by_k.items()} for method, by_k in rows.items()},
    }
    if "nag" in rows and len(rows) > 1:
        # White-box keys as before; a black-box target's keys end in its short name (k5_..._coverage_lite1).
        for target in targets:
            suffix = "" if target == targets[0] else "_" + _common.short_target(target)
            for k in ks:
                per_photo = {m: covered[target][m][k].astype(np.float64) for m in rows}
                paired = stats.paired_to_best(per_photo)
                summary[f"k{k}_best_baseline{suffix}"] = paired["best_baseline"]
                summary[f"k{k}_nag_minus_best_coverage{suffix}"] = paired["nag_minus_best_fr"]
                summary[f"k{k}_nag_minus_best_coverage_ci{suffix}"] = paired["nag_minus_best_ci"]
    summary.update(_set_keys(rows))
    _report(rows, summary, workdir)


def _set_keys(rows):
    """The keys read off every method's rows: the smallest K reaching --coverage_goal (with its seconds and
    passes; None if never) and the baselines' pairwise cosine at their largest K."""
    from nag_tf.evaluation import perturbation_sets

    keys = {}
    for method, by_k in rows.items():
        reach = perturbation_sets.first_k_reaching({k: row["coverage"] for k, row in by_k.items()}, _GOAL.value)
        keys[f"{method}_reach_k"] = reach
        keys[f"{method}_reach_seconds"] = by_k[reach]["seconds"] if reach else None
        keys[f"{method}_reach_image_passes"] = by_k[reach]["image_passes"] if reach else None
    if "nag" in rows and len(rows) > 1:
        keys["baseline_pairwise_cos"] = {m: by_k[max(by_k)]["pairwise_cos"] for m, by_k in rows.items() if m != "nag"}
    return keys


def merge(summaries):
    """One summary from scorings of one split that scored different K (rows, paired keys, reach recomputed);
    NAGError where the runs differ in what they must share (_SHARED) or score one method's K twice."""
    from nag_tf.errors import NAGError

    if any("by_k" not in summary for summary in summaries):
        raise NAGError("--merge: a run has no by_k: pass bench/distribution_value.py outputs (not --shard runs)")
    _summary.require_agreement(summaries, _SHARED, "--merge: the runs", "comparable")
    # NAG's rows of one scoring share one training; other image passes mean a retrained generator or a machine
    # of the same name but another speed (other compute for the same seconds), which "machine" cannot tell.
    nag_passes = sorted({row["image_passes"] for s in summaries for row in s["by_k"].get("nag", {}).values()})
    if len(nag_passes) > 1:
        raise NAGError(f"--merge: NAG's sets come from different trainings (image passes {nag_passes}): report apart")
    merged, by_k = {}, {}
    for summary in summaries:
        for method, rows in summary["by_k"].items():
            for k, row in rows.items():
                if k in by_k.setdefault(method, {}):
                    raise NAGError(f"--merge: {method} K={k} is in two runs; merge runs that scored different K")
                by_k[method][k] = row
        merged.update(summary)  # each run's k<K>_ paired keys
    merged["by_k"] = {m: dict(sorted(rows.items(), key=lambda item: int(item[0]))) for m, rows in by_k.items()}
    merged["ks"] = sorted({int(k) for rows in by_k.values() for k in rows})
    merged.update(_set_keys(_rows(merged)))
    return merged


def _rows(summary):
    """{method: {K: row}} with integer K, from a summary's by_k (JSON keys are strings)."""
    return {method: {int(k): row for k, row in by_k.items()} for method, by_k in summary["by_k"].items()}


def _report(rows, summary, workdir):
    """Draws coverage@K (a panel per target), prints the table, then the summary as the last line."""
    from nag_tf.evaluation import plots

    targets = [summary["target"], *summary["transfer"]]
    short = [_common.short_target(t) for t in targets[1:]]
    panels = {
        target: {m: [(k, row[key]) for k, row in by_k.items()] for m, by_k in rows.items()}
        for target, key in zip(targets, ["coverage"] + [f"coverage_{t}" for t in short])
    }
    images, budget, machine = summary["eval_images"], summary["budget_s"], summary["machine"]
    png = plots.coverage_at_k(
        panels,
        os.path.join(workdir, "coverage_at_k.png"),
        f"{images} held-out photos, {budget:.0f} s per method's set, {machine}",
    )
    print(f"\n{targets[0]} (white-box), {images} held-out photos, {budget:.0f} s a set; {machine}")
    print(
        f"{'method':8s} {'K':>3s} {'coverage':>8s} {'mean fr':>7s} {'majority':>8s} {'cls95':>5s} {'cos':>6s} "
        + " ".join(f"{'cov ' + t:>10s}" for t in short)
        + f" {'seconds':>7s} {'img passes':>10s}"
    )
    for method, by_k in rows.items():
        for k, row in by_k.items():
            cos = "-" if row["pairwise_cos"] is None else f"{row['pairwise_cos']:.3f}"
            print(
                f"{method:8s} {k:3d} {row['coverage']:8.3f} {row['mean_fooling']:7.3f} {row['majority']:8.3f} "
                f"{row['classes95']:5d} {cos:>6s} "
                + " ".join(f"{row['coverage_' + t]:10.3f}" for t in short)
                + f" {row['seconds']:7.0f} {row['image_passes']:10d}"
            )
    print(f"coverage@K: {png}; runs in {workdir}")
    print(json.dumps(summary))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
