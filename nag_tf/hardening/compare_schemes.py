"""Universal adversarial training at equal compute: the schemes compared by `nag_tf.harden_compare`.

For every seed and scheme, `harden_lib.harden` fine-tunes a copy of the target the same way with that
scheme's perturbations and measures it on held-out photos; here the runs are summarised: means over
seeds, and each scheme's fooling minus the control's (none: clean fine-tuning of the same length) on the
same photos, with a paired bootstrap interval that resamples the seeds, then the photos within them.
Threat model: universal perturbations of size xi against the hardened copy, trained against it (adaptive)
or against the original (transferred).
"""

import dataclasses

import numpy as np

from nag_tf.evaluation import stats
from nag_tf.hardening import harden_lib

__all__ = ["JUDGED_BY", "compare_schemes", "per_seed", "run_schemes", "table"]

# The attacks a hardened copy is judged by (harden_lib.ATTACKS less the scheme's own, which differs by scheme).
JUDGED_BY = ("new_nag", "new_sga", "nag_before", "sga_before")


def run_schemes(config, options, schemes, seeds):
    """{scheme: [harden result per seed]}; a seed's schemes share its attacks on the original (out_dir/seed<s>)."""
    results = {scheme: [] for scheme in schemes}
    for seed in seeds:
        for scheme in schemes:
            run = dataclasses.replace(options, scheme=scheme, out_dir=f"{options.out_dir}/seed{seed}")
            results[scheme].append(harden_lib.harden(dataclasses.replace(config, seed=seed), run))
    return results


def compare_schemes(results, schemes):
    """Means over seeds of every row value, and each scheme's fooling minus the control's with its interval."""
    summary = {}
    for scheme in schemes:
        runs = results[scheme]
        summary[f"{scheme}_clean_accuracy"] = float(np.mean([r["after"]["clean_accuracy"] for r in runs]))
        for attack in ("hardening", *JUDGED_BY):
            values = [r["after"][f"fooling_{attack}"] for r in runs]
            summary[f"{scheme}_fooling_{attack}"] = None if None in values else float(np.mean(values))
        if scheme == "none" or "none" not in results:
            continue
        for attack in JUDGED_BY:
            pairs = [
                (r["per_photo"]["after"][attack], c["per_photo"]["after"][attack])
                for r, c in zip(runs, results["none"])
            ]
            summary[f"{scheme}_minus_none_{attack}"] = [round(v, 4) for v in stats.paired_difference_over_runs(pairs)]
    return summary


def per_seed(results, seeds, schemes):
    """{seed: _compare of that seed alone}: the seed-to-seed spread is as large as the effects at the demo scale."""
    return {
        str(seed): compare_schemes({s: [runs[i]] for s, runs in results.items()}, schemes)
        for i, seed in enumerate(seeds)
    }


def table(summary, schemes):
    header = "| scheme | clean accuracy | new NAG | new SGA | NAG of the original | SGA of the original |"
    lines = [header, "|---|---|---|---|---|---|"]
    for scheme in schemes:
        cells = [f"{summary[f'{scheme}_clean_accuracy']:.3f}"]
        for attack in JUDGED_BY:
            cell = f"{summary[f'{scheme}_fooling_{attack}']:.3f}"
            difference = summary.get(f"{scheme}_minus_none_{attack}")
            if difference:
                cell += f" ({difference[0]:+.3f}, {difference[1]:+.3f} to {difference[2]:+.3f})"
            cells.append(cell)
        lines.append(f"| {scheme} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
