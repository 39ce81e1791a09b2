"""Defence comparisons of several seeds or splits pooled (`python -m nag_tf.defend --pool=...`): each NAG-fed
defence against the best other source, paired over photos and runs.

Apart from nag_tf.defence.compare because it trains nothing: it reads the per-photo lists of saved
defence.json files, as nag_tf.comparison.set_pool does for the K-sets.
"""

import numpy as np

from nag_tf.evaluation import stats

__all__ = ["pool", "format_pool"]


def pool(results):
    """Each NAG-fed defence minus the best source that is not NAG's, per attack, over several comparisons
    (seeds, splits), paired photo by photo: the best other source is the one with the highest accuracy over
    all runs, the interval from resampling runs, then photos (stats.paired_difference_over_runs).

    Args:
      results: defence.json contents of comparisons with the same target and options, each its own
        (split, seed).

    Returns:
      {"target", "runs": [{"split", "seed"}], "pooled": {source: {attack: {"accuracy": {source: pooled},
      "best_other", "difference": [mean, low, high], "photo_runs"}}}}.

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
        "pooled": pooled,
    }


def format_pool(pooled):
    """The pooled differences as text, a line per NAG-fed source and attack."""
    lines = [f"{pooled['target']}: pooled over {len(pooled['runs'])} runs (accuracy, paired over photos and runs)"]
    for name, attacks in pooled["pooled"].items():
        for attack, cell in attacks.items():
            mean, low, high = cell["difference"]
            lines.append(
                f"  {name} - {cell['best_other']} ({attack}): {100 * mean:+.1f} points (95% {100 * low:+.1f} to "
                f"{100 * high:+.1f}; {cell['photo_runs']} photo-runs); {name} {cell['accuracy'][name]:.3f}, "
                f"{cell['best_other']} {cell['accuracy'][cell['best_other']]:.3f}"
            )
    return "\n".join(lines)
