r"""NAG against each baseline over several head-to-head runs (splits x seeds), paired photo by photo.

  python bench/pool_compare.py \
      --runs=bench/results/confirm_1800s_split4_seed0_2026-12-04.jsonl,nag.log,sga.log

Reads every JSON line with a "target" in the files given: bench/compare.py and bench/merge_compare.py
outputs and the JSONL records in bench/results, and joins the lines of one run (the same split and
seed; one method per process gives a line per method). For every baseline: NAG's fooling minus the
baseline's, and the same for each transfer target, on the same photos of each run, with one paired
bootstrap interval that resamples the runs and then the photos within them (so the seed-to-seed
spread counts); with each method's mean over the runs that have it. Runs
on other images or budgets must not be pooled: this refuses runs that disagree on the target, budget
or sample count. Last line: JSON.
"""

import json

import _summary
from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_RUNS = flags.DEFINE_list("runs", [], "Saved compare.py / merge_compare.py outputs, comma-separated.")
_SHARED = ("target", "budget_s", "samples")


def _runs(paths):
    """One summary per (split, seed): the JSON lines of the files, joined run by run."""
    from nag_tf.errors import NAGError

    runs = {}
    for path in paths:
        for line in _summary.json_lines(path, "--runs"):
            if "target" not in line:
                continue  # a note, not a compare.py summary
            run = runs.setdefault((line.get("split"), line.get("seed")), {})
            for key in line:
                if key.endswith("_per_photo") and key in run:
                    raise NAGError(f"--runs: {key} twice for split {line.get('split')!r} seed {line.get('seed')}")
            run.update(line)
    if len(runs) < 2:
        raise NAGError("--runs: the files hold fewer than two runs (split and seed pairs) to pool")
    return list(runs.values())


def _main(argv):
    del argv
    from nag_tf.errors import NAGError

    if not _RUNS.value:
        raise NAGError("--runs: give the saved runs, comma-separated")
    summaries = _runs(_RUNS.value)
    _summary.require_agreement(summaries, _SHARED, "--runs", "poolable")
    pooled = _summary.pooled_differences(summaries)
    for key, value in pooled.items():
        if isinstance(value, list):
            photo_runs = pooled[key + "_photo_runs"]
            print(
                f"{key}: {value[0]:+.4f} (95% {value[1]:+.4f} to {value[2]:+.4f}) over {photo_runs} photo-runs in "
                f"{pooled[key + '_runs']} runs"
            )
    runs = [f"{s.get('split', '?')} seed {s.get('seed', '?')}" for s in summaries]
    print(
        json.dumps(
            {"target": summaries[0].get("target"), "budget_s": summaries[0].get("budget_s"), "runs": runs, **pooled}
        )
    )


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
