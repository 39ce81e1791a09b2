"""The head-to-head JSON's derived keys, shared by bench/compare.py and bench/merge_compare.py.

Flag-free on purpose (bench/_common.py defines compare's flags, which merge_compare must not take).
A helper, not a bench: it prints nothing (the benches that import it print their figures as a last line
of JSON, json.dumps).
"""

from nag_tf import stats

__all__ = ["crossing_keys", "paired_summary"]


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
