"""The comparisons' JSON keys derived from per-photo lists, and the reading, merging and pooling of saved runs.

Flag-free: `nag_tf.compare` (its --merge and --pool), `nag_tf.sets` and the studies in bench/ read saved
outputs through these functions; every line an older bench/compare.py wrote stays readable.
"""

import json

import numpy as np

from nag_tf.errors import NAGError
from nag_tf.evaluation import stats

__all__ = [
    "crossing_keys",
    "distinct_runs",
    "json_lines",
    "last_json",
    "merge_runs",
    "paired_summary",
    "pool_runs",
    "pooled_differences",
    "require_agreement",
]

# What head-to-head runs must share to be merged (one method per process) or pooled (splits x seeds).
MERGE_SHARED = ("target", "budget_s", "eval_images", "samples", "split", "seed")
POOL_SHARED = ("target", "budget_s", "samples")


def json_lines(path, flag):
    """Every line of a saved bench output (or JSONL record) that parses as a JSON object, in order; `flag`
    names where the path came from in the errors."""
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()
    except OSError as error:
        raise NAGError(f"{flag}: cannot read {path} ({error.strerror}); pass a bench script's saved output") from None
    found = []
    for line in lines:
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    if not found:
        raise NAGError(f"{flag}: {path} has no JSON line: is it a finished nag_tf.compare output?")
    return found


def last_json(path, flag):
    """The last JSON line of a saved bench output (json_lines)."""
    return json_lines(path, flag)[-1]


def require_agreement(summaries, keys, runs, what, where_named=False):
    """Raises NAGError naming the first of `keys` the summaries disagree on ("<runs> disagree on <key> (...):
    not <what>"): figures from other photos, budgets or machines must not be joined. With where_named, a
    summary that lacks a key is not compared on it (older outputs that did not write it)."""
    for key in keys:
        named = [summary for summary in summaries if key in summary] if where_named else summaries
        values = list(dict.fromkeys(json.dumps(summary.get(key)) for summary in named))
        if len(values) > 1:
            raise NAGError(f"{runs} disagree on {key} ({' vs '.join(values)}): not {what}")


def distinct_runs(found, flag, what):
    """[(split, seed)] of saved comparisons to pool, each its own run; NAGError for fewer than two (`what`
    names the files to give) or a run given twice."""
    if len(found) < 2:
        raise NAGError(f"{flag}: give two or more {what}, comma-separated")
    runs = [(summary["split"], summary["seed"]) for summary in found]
    twice = next((run for run in runs if runs.count(run) > 1), None)
    if twice is not None:
        raise NAGError(f"{flag}: split {twice[0]!r} seed {twice[1]} is given twice; pool each run once")
    return runs


def crossing_keys(curves):
    """{"nag_crosses_<method>_at_s": seconds} for each baseline in curves, as the benches' JSON spells it.

    curves: {method: [(seconds, rate, std), ...]}, as `learning_curves` draws them. The value is the
    first common point where NAG's fooling rate reaches the baseline's there; None where NAG never
    does (or the two curves share no point). Empty without a NAG curve.
    """
    nag = {seconds: rate for seconds, rate, _ in curves.get("nag", [])}
    found = {}
    for method, points in curves.items():
        if method == "nag" or not nag:
            continue
        theirs = {seconds: rate for seconds, rate, _ in points}
        at = next((s for s in sorted(set(nag) & set(theirs)) if nag[s] >= theirs[s]), None)
        found[f"nag_crosses_{method}_at_s"] = at
    return found


def paired_summary(summary, methods, transfer_targets):
    """NAG minus the best baseline on the same photos, white-box and for each transfer target, from the
    JSON's per-photo lists (`<method>_per_photo`, `<method>_transfer_<t>_per_photo`); older runs without the
    transfer lists give the white-box keys only."""
    paired = stats.paired_to_best({m: summary[f"{m}_per_photo"] for m in methods if f"{m}_per_photo" in summary})
    for t in transfer_targets:
        key = f"_transfer_{t}_per_photo"
        per_photo = {m: summary[m + key] for m in methods if m + key in summary}
        paired.update(stats.paired_to_best(per_photo, measure=f"transfer_{t}"))
    return paired


def pooled_differences(summaries, focus="nag"):
    """`focus` minus each other method over several runs (splits, seeds), paired photo by photo, the interval
    from resampling runs and then photos (stats.paired_difference_over_runs):
    {"<focus>_minus_<m>_<measure>": [mean, low, high], "..._photo_runs": n, "..._runs": k}, for the
    white-box fooling ("fr") and each transfer target, over the runs that hold both per-photo lists; with
    each method's mean over the runs that have it ("<m>_fr_mean", "<m>_runs")."""
    measures = {"fr": "_per_photo"}
    for summary in summaries:
        for key in summary:
            if key.startswith(f"{focus}_transfer_") and key.endswith("_per_photo"):
                measures[key[len(focus) + 1 : -len("_per_photo")]] = key[len(focus) :]
    methods = sorted(
        {
            key[: -len("_per_photo")]
            for s in summaries
            for key in s
            if key.endswith("_per_photo") and "_transfer_" not in key
        }
    )
    pooled = {}
    for method in methods:
        rates = [s[f"{method}_fr"] for s in summaries if f"{method}_per_photo" in s]
        pooled[f"{method}_fr_mean"], pooled[f"{method}_runs"] = round(float(np.mean(rates)), 4), len(rates)
    for method in (m for m in methods if m != focus):
        for measure, suffix in measures.items():
            pairs = [
                (s[focus + suffix], s[method + suffix])
                for s in summaries
                if focus + suffix in s and method + suffix in s
            ]
            if not pairs:
                continue
            key = f"{focus}_minus_{method}_{measure}"
            pooled[key] = [round(v, 4) for v in stats.paired_difference_over_runs(pairs)]
            pooled[f"{key}_photo_runs"] = int(sum(len(a) for a, _ in pairs))
            pooled[f"{key}_runs"] = len(pairs)
    return pooled


def merge_runs(summaries):
    """One head-to-head summary from runs of one split that trained different methods (one per process):
    the curves joined, the crossings and the paired keys recomputed.

    Raises:
      NAGError: the runs differ in their target, budget, photos, samples, split or seed, or share a method.
    """
    require_agreement(summaries, MERGE_SHARED, "--merge", "comparable", where_named=True)
    merged, curve = {}, {}
    for summary in summaries:
        for method, points in summary.get("curve", {}).items():
            if method in curve:
                raise NAGError(f"--merge: {method} is in two runs; merge one run per method")
            curve[method] = points
        merged.update({key: value for key, value in summary.items() if key != "curve"})
    merged["curve"] = curve
    merged.update(crossing_keys(curve))
    transfer_lists = [key for key in merged if key.endswith("_per_photo") and "_transfer_" in key]
    transfer = sorted({key.split("_transfer_")[1][: -len("_per_photo")] for key in transfer_lists})
    merged.update(paired_summary(merged, list(curve), transfer))
    return merged


def pool_runs(paths, flag="--pool"):
    """One summary per (split, seed) from saved outputs (logs, JSONL records): the lines of one run joined
    (one method per process gives a line per method), runs that may not be pooled refused.

    Raises:
      NAGError: fewer than two runs, a per-photo list twice in one run, or runs on another target, budget
        or sample count.
    """
    runs = {}
    for path in paths:
        for line in json_lines(path, flag):
            if "target" not in line:
                continue  # a note, not a comparison's summary
            run = runs.setdefault((line.get("split"), line.get("seed")), {})
            for key in line:
                if key.endswith("_per_photo") and key in run:
                    raise NAGError(f"{flag}: {key} twice for split {line.get('split')!r} seed {line.get('seed')}")
            run.update(line)
    if len(runs) < 2:
        raise NAGError(f"{flag}: the files hold fewer than two runs (split and seed pairs) to pool")
    summaries = list(runs.values())
    require_agreement(summaries, POOL_SHARED, flag, "poolable")
    return summaries
