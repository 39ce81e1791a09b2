"""NAG's K-set against the best set baseline pooled over several scorings of `nag_tf.sets` (splits x seeds),
paired photo by photo: the confirmation a single split cannot give (`python -m nag_tf.sets --pool=...`).

Apart from nag_tf.comparison.sets because it trains and scores nothing: it reads saved summaries' per-photo
coverage lists, as nag_tf.comparison.summary pools the head-to-head's.
"""

import json

import numpy as np

from nag_tf.comparison import summary as summaries
from nag_tf.comparison.sets import THREATS
from nag_tf.errors import NAGError

__all__ = ["pool", "report_pool", "plot_pool"]


def pool(found):
    """NAG's coverage minus the best set baseline's over several scorings (splits x seeds), per measure
    (white-box coverage, each transfer target's) and K: the baseline is the one with the highest pooled
    coverage, the interval from resampling runs, then photos within them (stats.paired_difference_over_runs).

    Args:
      found: nag_tf.sets summaries (their last lines), each one (split, seed), with per-photo lists.

    Returns:
      {"target", "budget_s", "runs": [{"split", "seed"}], "pooled": {measure: {K: {"<set>": pooled coverage,
      "best_baseline", "nag_minus_best": [mean, low, high], "photo_runs", "runs"}}}}.

    Raises:
      NAGError: fewer than two runs, one (split, seed) twice, a scoring without per-photo lists, runs on
        another target, transfer targets or budget.
    """
    from nag_tf.evaluation import stats

    runs = summaries.distinct_runs(found, "--pool", "nag_tf.sets outputs (splits x seeds)")
    missing = [index for index, summary in enumerate(found) if "per_photo" not in summary]
    if missing:
        raise NAGError(
            f"--pool: output {missing[0] + 1} has no per-photo lists (scored before they were saved); score it "
            "again with the same flags and --workdir (finished runs are reused, only the scoring runs)"
        )
    summaries.require_agreement(found, ("target", "transfer", "budget_s"), "--pool: the runs", "poolable")
    pooled = {}
    for measure in found[0]["per_photo"]:
        for k in sorted({int(k) for k in found[0]["per_photo"][measure].get("nag", {})}):
            held = [
                method
                for method in found[0]["per_photo"][measure]
                if all(str(k) in summary["per_photo"].get(measure, {}).get(method, {}) for summary in found)
            ]
            if "nag" not in held or len(held) < 2:
                continue
            lists = {m: [np.asarray(s["per_photo"][measure][m][str(k)], np.float64) for s in found] for m in held}
            paired = stats.pooled_to_best(lists, "nag", [m for m in held if m != "nag"])
            cell = dict(paired["means"])
            cell.update(
                best_baseline=paired["best"],
                nag_minus_best=paired["difference"],
                photo_runs=paired["photo_runs"],
                runs=len(found),
            )
            pooled.setdefault(measure, {})[str(k)] = cell
    return {
        "target": found[0]["target"],
        "budget_s": found[0]["budget_s"],
        "runs": [{"split": split, "seed": seed} for split, seed in runs],
        "pooled": pooled,
    }


def report_pool(pooled):
    """Prints the pooled differences, one line per measure and K, then the pooled summary as the last line."""
    print(f"{pooled['target']}, {pooled['budget_s']:.0f} s a set, pooled over {len(pooled['runs'])} runs")
    for measure, by_k in pooled["pooled"].items():
        for k, cell in by_k.items():
            mean, low, high = cell["nag_minus_best"]
            print(
                f"{measure:15s} K={k:>3s}: NAG {cell['nag']:.3f}, best set baseline {cell['best_baseline']} "
                f"{cell[cell['best_baseline']]:.3f}; NAG minus it {100 * mean:+.1f} points "
                f"(95% {100 * low:+.1f} to {100 * high:+.1f}; {cell['photo_runs']} photo-runs)"
            )
    print(THREATS)
    print(json.dumps(pooled))


# The bar docs/results.md holds NAG's set to ("at least as good"): the lower end above -1 point of coverage.
GOAL_POINTS = -1.0


def plot_pool(pooled, path):
    """NAG's coverage minus the best set baseline's, points with 95% intervals against K, a panel per measure
    (white-box, then each transfer target), the goal line dashed; each interval labelled with its baseline."""
    from nag_tf.evaluation import plots

    panels = {}
    for measure, by_k in pooled["pooled"].items():
        where = "white-box" if measure == "coverage" else "black-box"
        name = pooled["target"] if measure == "coverage" else measure.removeprefix("coverage_")
        panels[f"{name} ({where})"] = [
            (int(k), *(100 * value for value in cell["nag_minus_best"]), cell["best_baseline"])
            for k, cell in by_k.items()
        ]
    runs = ", ".join(f"{run['split'].rsplit('=', 1)[-1]}/{run['seed']}" for run in pooled["runs"])
    title = (
        f"NAG's K-set minus the best set baseline, {pooled['budget_s']:.0f} s a set, pooled over "
        f"{len(pooled['runs'])} runs (split seed/seed: {runs}); 95% over runs, then photos"
    )
    return plots.difference_intervals(panels, path, title, "coverage@K difference, points", goal=GOAL_POINTS)
