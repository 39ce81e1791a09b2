"""Where NAG's fooling-rate curve reaches each baseline's: the rule and its JSON keys, in one place.

Kept apart from `_common` (which defines the data flags of the benches that train) so that
`merge_compare.py`, which trains nothing, takes none of those flags.
"""


def crossing_keys(curve):
    """{"nag_crosses_<method>_at_s": seconds} for each baseline in curve.

    curve: {method: [(seconds, rate, std), ...]}. The value is the first common point where
    NAG's fooling rate reaches the baseline's there; None where NAG never does (or the two
    curves share no point). Empty without a NAG curve.
    """
    nag = {seconds: rate for seconds, rate, _ in curve.get("nag", [])}
    found = {}
    for method, points in curve.items():
        if method == "nag" or not nag:
            continue
        theirs = {seconds: rate for seconds, rate, _ in points}
        at = next((s for s in sorted(set(nag) & set(theirs)) if nag[s] >= theirs[s]), None)
        found[f"nag_crosses_{method}_at_s"] = at
    return found
