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
    from nag_tf.defence.defence_options import NAG_SOURCES
    from nag_tf.errors import NAGError

    if len(results) < 2:
        raise NAGError("--pool: give two or more defence.json files (seeds or splits), comma-separated")
    if any("per_photo" not in result for result in results):
        raise NAGError("--pool: pass the defence.json files a comparison wrote (the JSON line has no per-photo lists)")
    runs = [(result["split"], result["seed"]) for result in results]
    if len(set(runs)) < len(runs):
        twice = next(run for run in runs if runs.count(run) > 1)
        raise NAGError(f"--pool: split {twice[0]!r} seed {twice[1]} is given twice; pool each run once")
    for key in ("target", "options"):
        if any(result[key] != results[0][key] for result in results):
            raise NAGError(f"--pool: the runs disagree on their {key}; pool comparisons run with the same flags")
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
            accuracy = {source: round(float(np.concatenate(lists[source]).mean()), 4) for source in lists}
            best = max(others, key=lambda source: accuracy[source])
            difference = stats.paired_difference_over_runs(list(zip(lists[name], lists[best])))
            pooled.setdefault(name, {})[attack] = {
                "accuracy": accuracy,
                "best_other": best,
                "difference": [round(value, 4) for value in difference],
                "photo_runs": int(sum(len(photos) for photos in lists[name])),
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
