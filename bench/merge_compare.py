r"""One table, one plot and the crossings from several `bench/compare.py` runs on the same images.

  python bench/merge_compare.py --runs=/tmp/nag.log,/tmp/sga.log --out=/tmp/merged

compare.py may train one method per process (`--methods=nag` on one core,
`--methods=sga` on the other, same --split, --split_seed, --budget_s and
--samples): each run's last line is its JSON. This reads those lines, refuses
runs that do not share the target, budget, evaluation images, sample count, seed and
split (where the JSON names it), and prints the merged JSON (every method's
figures, the curves, `nag_crosses_<method>_at_s`, and NAG minus the best baseline
on the same photos with its 95% bootstrap interval, `nag_minus_best_fr` /
`nag_minus_best_ci`) as its last line, with the curves in <out>/curves.png.
"""

import json
import os

import _summary
from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_RUNS = flags.DEFINE_list("runs", [], "compare.py outputs (logs or JSON files); the last JSON line of each is read.")
_OUT = flags.DEFINE_string("out", None, "Folder for the merged plot (default: beside the first run).")

_SHARED = ("target", "budget_s", "eval_images", "samples", "split", "seed")


def merge(summaries):
    """The merged summary; raises NAGError when the runs were not on the same images, target, budget or samples."""
    from nag_tf.errors import NAGError

    _summary.require_agreement(summaries, _SHARED, "--runs", "comparable", where_named=True)
    merged, curve = {}, {}
    for summary in summaries:
        for method, points in summary.get("curve", {}).items():
            if method in curve:
                raise NAGError(f"--runs: {method} is in two runs; merge one run per method")
            curve[method] = points
        merged.update({key: value for key, value in summary.items() if key != "curve"})
    merged["curve"] = curve
    merged.update(_summary.crossing_keys(curve))
    transfer_lists = [key for key in merged if key.endswith("_per_photo") and "_transfer_" in key]
    transfer = sorted({key.split("_transfer_")[1][: -len("_per_photo")] for key in transfer_lists})
    merged.update(_summary.paired_summary(merged, list(curve), transfer))
    return merged


def _main(argv):
    del argv
    from nag_tf.errors import NAGError
    from nag_tf.evaluation import plots

    if len(_RUNS.value) < 2:
        raise NAGError("--runs: give two or more compare.py outputs, comma-separated")
    merged = merge([_summary.last_json(path, "--runs") for path in _RUNS.value])
    out = _OUT.value or os.path.dirname(os.path.abspath(_RUNS.value[0]))
    os.makedirs(out, exist_ok=True)
    title = f"{merged['target']}, {merged['eval_images']} held-out photos, {merged.get('machine', '')}"
    png = plots.learning_curves(merged["curve"], os.path.join(out, "curves.png"), title)
    for method in merged["curve"]:
        print(
            f"{method:8s} fooling {merged.get(f'{method}_fr')}  coverage {merged.get(f'{method}_coverage')}  "
            f"classes95 {merged.get(f'{method}_classes95')}  steps {merged.get(f'{method}_steps')}  "
            f"curve {merged['curve'][method]}"
        )
    print(f"curves: {png}")
    print(json.dumps(merged))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
