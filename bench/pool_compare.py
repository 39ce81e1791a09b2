r"""NAG against each baseline over several head-to-head runs (splits x seeds), paired photo by photo.

  python bench/pool_compare.py --runs=merged_s4_seed0.json,merged_s4_seed1.json,merged_s5_seed0.json

Each run is a saved bench/compare.py or bench/merge_compare.py output (its last JSON line, with the
per-photo lists). For every baseline: NAG's fooling minus the baseline's, and the same for each transfer
target, on the same photos of each run, the photo-runs pooled into one paired bootstrap interval; with
each method's mean over the runs that have it. Runs on other images or budgets must not be pooled:
this refuses runs that disagree on the target, budget or sample count. Last line: JSON.
"""

import json

import _summary
from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_RUNS = flags.DEFINE_list("runs", [], "Saved compare.py / merge_compare.py outputs, comma-separated.")
_SHARED = ("target", "budget_s", "samples")


def _main(argv):
    del argv
    from nag_tf.errors import NAGError

    if len(_RUNS.value) < 2:
        raise NAGError("--runs: give two or more saved runs, comma-separated")
    summaries = [_summary.last_json(path, "--runs") for path in _RUNS.value]
    for key in _SHARED:
        values = {json.dumps(s.get(key)) for s in summaries}
        if len(values) > 1:
            raise NAGError(f"--runs disagree on {key} ({', '.join(sorted(values))}): not poolable")
    pooled = _summary.pooled_differences(summaries)
    for key, value in pooled.items():
        if isinstance(value, list):
            photo_runs = pooled[key + "_photo_runs"]
            print(f"{key}: {value[0]:+.4f} (95% {value[1]:+.4f} to {value[2]:+.4f}) over {photo_runs} photo-runs")
    runs = [f"{s.get('split', '?')} seed {s.get('seed', '?')}" for s in summaries]
    print(
        json.dumps(
            {"target": summaries[0].get("target"), "budget_s": summaries[0].get("budget_s"), "runs": runs, **pooled}
        )
    )


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
