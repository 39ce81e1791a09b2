"""Defence comparisons of several seeds or splits pooled (`python -m nag_tf.defend --pool=...`): each NAG-fed
defence against the best other source, paired over photos and runs.

Apart from nag_tf.defence.compare because it trains nothing: it reads the per-photo lists of saved
defence.json files, as nag_tf.comparison.set_pool does for the K-sets.
"""

import numpy as np

from nag_tf.evaluation import stats

__all__ = ["pool", "format_pool", "plot_pool"]


def pool(results):
    """Each NAG-fed defence minus the best source that is not NAG's, per attack, over several comparisons
    (seeds, splits), paired photo by photo: the best other source is the one with the highest accuracy over
    all runs, the interval from resampling runs, then photos (stats.paired_difference_over_runs).

    Args:
      results: defence.json contents of comparisons with the same target and options, each its own
        (split, seed).

    Returns:
      {"target", "runs": [{"split", "seed"}], "accuracy": {row: {attack: over every photo-run}} (bare first),
      "detection": {source: {attack: {"tpr", "auc"}}} (means over runs), "pooled": {NAG-fed source: {attack:
      {"accuracy": {source: pooled}, "best_other", "difference": [mean, low, high], "photo_runs"}}}}.

    Raises:
      NAGError: fewer than two runs, a run twice, other targets or options, a run without per-photo lists.
    """
    from nag_tf.comparison import summary
    from nag_tf.defence.defence_options import NAG_SOURCES
    from nag_tf.errors import NAGError

    runs = summary.distinct_runs(results, "--pool", "defence.json files (seeds or splits)")
    if any("per_photo" not in result for result in results):
        raise NAGError("--pool: pass the defence.json files a comparison wrote (the JSON line has no per-photo lists)")
    summary.require_agreement(results, ("target", "options"), "--pool: the runs", "poolable")
    per_run = [result["per_photo"] for result in results]
    sources = [name for name in per_run[0] if name != "bare"]
    pooled = {}
    for name in (source for source in sources if source in NAG_SOURCES):
        for attack in per_run[0][name]:
            lists = {
                source: [np.asarray(run[source][attack], np.float64) for run in per_run]
                for source in ["bare", *sources]
                if all(attack in run.get(source, {}) for run in per_run)
            }
            others = [source for source in lists if source not in NAG_SOURCES and source != "bare"]
            if not others:
                continue
            paired = stats.pooled_to_best(lists, name, others)
            pooled.setdefault(name, {})[attack] = {
                "accuracy": paired["means"],
                "best_other": paired["best"],
                "difference": paired["difference"],
                "photo_runs": paired["photo_runs"],
            }
    return {
        "target": results[0]["target"],
        "runs": [{"split": split, "seed": seed} for split, seed in runs],
        "accuracy": _pooled_accuracy(per_run, ["bare", *sources]),
        "detection": _mean_detection(results, sources),
        "pooled": pooled,
    }


def _pooled_accuracy(per_run, rows):
    """{row: {attack: accuracy over every photo-run}} (each photo of each run weighs the same), for the
    attacks every run measured."""
    found = {}
    for row in rows:
        attacks = [attack for attack in per_run[0][row] if all(attack in run.get(row, {}) for run in per_run)]
        found[row] = {
            attack: round(
                float(np.concatenate([np.asarray(run[row][attack], np.float64) for run in per_run]).mean()), 4
            )
            for attack in attacks
        }
    return found


def _mean_detection(results, sources):
    """{source: {attack: {"tpr", "auc"}}}: each detector's figures averaged over the runs (a TPR at 5% false
    positives is a threshold per run, so it is averaged, not pooled photo by photo); sources without
    detection figures in every run are left out."""
    found = {}
    for name in sources:
        per_run = [result.get("sources", {}).get(name, {}).get("detection") for result in results]
        if not all(per_run):
            continue
        attacks = [attack for attack in per_run[0] if all(attack in run for run in per_run)]
        found[name] = {
            attack: {key: round(float(np.mean([run[attack][key] for run in per_run])), 4) for key in ("tpr", "auc")}
            for attack in attacks
        }
    return found


def plot_pool(pooled, path):
    """Bars of the pooled accuracy under each attack per training source (the bare target first)."""
    from nag_tf.evaluation import plots

    rows = {"bare target" if name == "bare" else name: row for name, row in pooled["accuracy"].items()}
    title = f"{pooled['target']}: defended accuracy per training source, pooled over {len(pooled['runs'])} runs"
    return plots.accuracy_bars(rows, path, title)


def format_pool(pooled):
    """The pooled differences as text, a line per NAG-fed source and attack."""
    lines = [f"{pooled['target']}: pooled over {len(pooled['runs'])} runs, top-1 accuracy over every photo-run"]
    # In the order met: the bare target has no adaptive columns, the defended sources do.
    attacks = list(dict.fromkeys(attack for row in pooled["accuracy"].values() for attack in row))
    lines.append("  " + "source".ljust(12) + "".join(attack.rjust(13) for attack in attacks))
    for name, row in pooled["accuracy"].items():
        label = "bare target" if name == "bare" else name
        lines.append("  " + label.ljust(12) + "".join(f"{row[a]:13.3f}" if a in row else " " * 13 for a in attacks))
    if pooled["detection"]:
        lines.append("detector: TPR at 5% false positives / AUC, means over the runs")
        unseen = list(next(iter(pooled["detection"].values())))
        lines.append("  " + "source".ljust(12) + "".join(attack.rjust(12) for attack in unseen))
        for name, row in pooled["detection"].items():
            lines.append("  " + name.ljust(12) + "".join(f"{row[a]['tpr']:7.2f}/{row[a]['auc']:.2f}" for a in unseen))
    lines.append("each NAG-fed defence minus the best other source (paired over photos and runs)")
    for name, attacks in pooled["pooled"].items():
        for attack, cell in attacks.items():
            mean, low, high = cell["difference"]
            lines.append(
                f"  {name} - {cell['best_other']} ({attack}): {100 * mean:+.1f} points (95% {100 * low:+.1f} to "
                f"{100 * high:+.1f}; {cell['photo_runs']} photo-runs); {name} {cell['accuracy'][name]:.3f}, "
                f"{cell['best_other']} {cell['accuracy'][cell['best_other']]:.3f}"
            )
    return "\n".join(lines)
