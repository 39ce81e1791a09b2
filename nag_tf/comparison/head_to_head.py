"""The head-to-head: each method trained once under one plan for the same optimisation seconds, then one
evaluation of all of them on the held-out photos (same photos, same sampled z, same count).

Budget: seconds of *optimisation* per method, counted the same way for all (only the time inside training
steps; NAG's validation on its selection photos, calibration, pictures and checkpoints are not charged,
and the baselines have none); the JSON also gives each method's steps and target image passes, so the
methods can be compared at equal compute in either unit. Curves: each method's perturbation at `marks`
seconds (NAG: its current generator; at the budget: the one it selected), scored on the white-box target.
"""

import math
import os

from nag_tf.comparison import summary as summaries
from nag_tf.comparison.machine import machine
from nag_tf.comparison.plan import short_target

__all__ = ["head_to_head", "print_table"]


def _rounded(rates):
    return round(float(rates.mean()), 4), round(float(rates.std()), 4)


def head_to_head(plan, budget_s, marks=()):
    """Trains every method of `plan` for `budget_s` optimisation seconds (snapshots at `marks`) and scores them.

    Returns:
      (summary, curves PNG path, report paths): the summary is the JSON line (per method: fooling rate and
      its std, coverage, classes95, cost, per-photo lists for pairing, transfer; the curves, crossings and
      NAG minus the best baseline with its paired bootstrap interval).
    """
    from nag_tf.evaluation import evaluate_lib, plots, report

    marks = sorted(float(m) for m in marks if 0 < float(m) < budget_s)
    runs = [
        plan.train(method, budget_s, plan.seed, os.path.join(plan.workdir, method), marks) for method in plan.methods
    ]
    config, targets = plan.nag_config, plan.targets

    def score(sources, target_names):
        return evaluate_lib.evaluate(
            sources,
            target_names,
            plan.eval_folder,
            config.weights,
            white_box_samples=plan.samples,
            black_box_samples=plan.samples,
            batch_size=config.batch_size,
            seed=plan.seed,
            interpolation_steps=0,
        )

    evaluation = score([run.source for run in runs], targets)
    paths = report.write_report(evaluation, os.path.join(plan.workdir, "evaluation"), [run.source for run in runs])
    results = {run.name: result for run, result in zip(runs, evaluation.sources)}
    curve = {run.name: [] for run in runs}
    snapshot_sources = [source for run in runs for source in run.snapshots.values()]
    if snapshot_sources:
        scored = score(snapshot_sources, [plan.target])
        by_name = {s.name: s.per_target[plan.target].fooling_rates for s in scored.sources}
        for run in runs:
            for mark, source in run.snapshots.items():
                curve[run.name].append((mark, *_rounded(by_name[source.name])))
    for run in runs:
        curve[run.name].append((budget_s, *_rounded(results[run.name].per_target[plan.target].fooling_rates)))
    where = machine()
    png = plots.learning_curves(
        curve, os.path.join(plan.workdir, "curves.png"), f"{plan.target}, {evaluation.images} held-out photos, {where}"
    )
    found = {
        "target": plan.target,
        "budget_s": budget_s,
        "eval_images": evaluation.images,
        "samples": plan.samples,
        "machine": where,
        "seed": plan.seed,
        "split": plan.split,
    }
    for run in runs:
        found.update(_method_keys(run, results[run.name], plan.target, targets[1:]))
    found.update(summaries.paired_summary(found, [run.name for run in runs], [short_target(t) for t in targets[1:]]))
    found["curve"] = curve
    found.update(summaries.crossing_keys(curve))
    return found, png, paths


def _method_keys(run, result, target, transfer):
    white = result.per_target[target]
    keys = {
        f"{run.name}_fr": round(float(white.fooling_rates.mean()), 4),
        f"{run.name}_fr_std": round(float(white.fooling_rates.std()), 4),
        f"{run.name}_coverage": round(white.coverage, 4),
        f"{run.name}_classes95": white.classes95,
        # One perturbation has no pair: null, not NaN (which strict JSON readers refuse).
        f"{run.name}_pairwise_cos": round(result.pairwise_cosine, 4) if math.isfinite(result.pairwise_cosine) else None,
        f"{run.name}_steps": run.steps,
        f"{run.name}_seconds": round(run.seconds, 1),
        f"{run.name}_image_passes": run.image_passes,
        # Per photo, the share of sampled deltas that fool it: runs made apart are paired on these.
        f"{run.name}_per_photo": [round(float(x), 3) for x in white.per_image],
    }
    for t in transfer:
        name = f"{run.name}_transfer_{short_target(t)}"
        keys[name] = round(float(result.per_target[t].fooling_rates.mean()), 4)
        keys[f"{name}_per_photo"] = [round(float(x), 3) for x in result.per_target[t].per_image]
    return keys


def print_table(found):
    """The summary as a table: one row a method (fooling ± std, coverage, classes95, transfer, cost), then
    NAG minus the best baseline with its interval where both were compared."""
    methods = list(found["curve"])
    transfer = sorted({k.split("_transfer_")[1] for k in found if "_transfer_" in k and not k.endswith("_per_photo")})
    print(
        f"\n{found['target']} (white-box); {found['eval_images']} held-out photos; {found['samples']} sampled δ; "
        f"budget {found['budget_s']:.0f} s of optimisation each; {found['machine']}"
    )
    header = f"{'method':8s} {'fooling rate':>16s} {'coverage':>9s} {'classes95':>9s} "
    header += " ".join(f"{t[-12:]:>12s}" for t in transfer) + f" {'steps':>6s} {'seconds':>7s} {'img passes':>10s}"
    print(header)
    for m in methods:
        print(
            f"{m:8s} {found[f'{m}_fr']:9.4f} ± {found[f'{m}_fr_std']:.4f} {found[f'{m}_coverage']:9.4f} "
            f"{found[f'{m}_classes95']:9d} "
            + " ".join(f"{found.get(f'{m}_transfer_{t}', float('nan')):12.4f}" for t in transfer)
            + f" {found[f'{m}_steps']:6d} {found[f'{m}_seconds']:7.0f} {found[f'{m}_image_passes']:10d}"
        )
    if "nag_minus_best_fr" in found:
        low, high = found["nag_minus_best_ci"]
        print(
            f"NAG minus the best baseline ({found['best_baseline']}), paired over the photos: "
            f"{found['nag_minus_best_fr']:+.4f} (95% {low:+.4f} to {high:+.4f})"
        )
