r"""NAG against the single-perturbation methods on the same photos, target, budget and evaluation.

  python -m nag_tf.compare --methods=nag,sga,dm_uap --budget_s=30                # a quick look on the demo set
  python -m nag_tf.compare --split=../shared/data/imagenet-sample --holdout=0.2 --budget_s=600 --marks=150,300
  python -m nag_tf.compare --merge=nag.log,sga.log     # one method per process, joined (same split and seed)
  python -m nag_tf.compare --pool=split4.log,split5.log  # several runs (splits x seeds), paired and pooled

Every method trains through nag_tf.methods.train for --budget_s seconds of optimisation (counted the same
way for all), in --workdir/<method> (a finished run is reused, a stopped one resumes), then one evaluation
scores them all on the held-out photos: fooling rate mean ± std over --samples sampled δ, coverage, the
classes holding 95% of adversarial predictions, pairwise cosine, transfer to --transfer, steps, seconds
and image passes; curves at --marks (PNG); NAG minus the best baseline on the same photos with a paired
bootstrap interval. Threat model: one universal perturbation of size xi (NAG's) added to unseen photos,
white-box on --target, black-box on --transfer. Last line: the JSON summary.
"""

import json
import os

from absl import app, flags

from nag_tf.comparison import comparison_flags
from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

comparison_flags.define_comparison_flags(["nag", "sgd_uap", "sga"], "nag_compare_")
_BUDGET = flags.DEFINE_float("budget_s", 600.0, "Optimisation seconds for each method.")
_MARKS = flags.DEFINE_list("marks", ["150", "300"], "Curve points: seconds of optimisation below the budget.")
_MERGE = flags.DEFINE_list("merge", [], "Train nothing: join outputs of runs that trained different methods.")
_POOL = flags.DEFINE_list("pool", [], "Train nothing: pool outputs of several runs (splits x seeds), paired.")


def _merge(paths, workdir):
    from nag_tf.comparison import summary
    from nag_tf.errors import NAGError
    from nag_tf.evaluation import plots

    if len(paths) < 2:
        raise NAGError("--merge: give two or more nag_tf.compare outputs, comma-separated")
    merged = summary.merge_runs([summary.last_json(path, "--merge") for path in paths])
    out = workdir or os.path.dirname(os.path.abspath(paths[0]))
    os.makedirs(out, exist_ok=True)
    title = f"{merged['target']}, {merged['eval_images']} held-out photos, {merged.get('machine', '')}"
    png = plots.learning_curves(merged["curve"], os.path.join(out, "curves.png"), title)
    for method in merged["curve"]:  # the runs may be older outputs, with fewer keys than print_table reads
        print(
            f"{method:8s} fooling {merged.get(f'{method}_fr')}  coverage {merged.get(f'{method}_coverage')}  "
            f"steps {merged.get(f'{method}_steps')}  curve {merged['curve'][method]}"
        )
    print(f"curves: {png}")
    print(json.dumps(merged))


def _pool(paths):
    from nag_tf.comparison import summary

    runs = summary.pool_runs(paths)
    pooled = summary.pooled_differences(runs)
    for key, value in pooled.items():
        if isinstance(value, list):
            print(
                f"{key}: {value[0]:+.4f} (95% {value[1]:+.4f} to {value[2]:+.4f}) over "
                f"{pooled[key + '_photo_runs']} photo-runs in {pooled[key + '_runs']} runs"
            )
    names = [f"{run.get('split', '?')} seed {run.get('seed', '?')}" for run in runs]
    print(json.dumps({"target": runs[0].get("target"), "budget_s": runs[0].get("budget_s"), "runs": names, **pooled}))


def _main(argv):
    del argv
    from nag_tf.comparison import head_to_head
    from nag_tf.errors import NAGError

    if _MERGE.value and _POOL.value:
        raise NAGError("--merge and --pool are two modes: give one")
    if _MERGE.value:
        return _merge(_MERGE.value, flags.FLAGS.workdir)
    if _POOL.value:
        return _pool(_POOL.value)
    if _BUDGET.value <= 0:
        raise NAGError(f"--budget_s={_BUDGET.value} must be positive")
    try:
        marks = [float(mark) for mark in _MARKS.value]
    except ValueError:
        raise NAGError(f"--marks must be seconds, e.g. --marks=150,300 (got {_MARKS.value})") from None
    plan = comparison_flags.plan_from_flags(flags.FLAGS, "nag_compare_")
    found, png, paths = head_to_head.head_to_head(plan, _BUDGET.value, marks)
    head_to_head.print_table(found)
    print(f"curves: {png}; report: {paths['md']}; runs in {plan.workdir}")
    print(json.dumps(found))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
