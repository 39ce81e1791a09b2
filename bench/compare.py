r"""NAG vs SGD-UAP vs SGA on the same images, the same target, the same budget and the same evaluation.

  python bench/compare.py --target=efficientnet_lite0 --split=../shared/data/imagenet-sample \
      --holdout=0.2 --budget_s=600
  python bench/compare.py --budget_s=150 --marks=50,100 --methods=nag,sga     # a quick look on the demo set

Budget: --budget_s seconds of *optimisation* per method, counted the same way
for all (only the time inside training steps; NAG's validation on its
selection images, batch-norm calibration, pictures and checkpoints are not
charged, and the baselines have none). The JSON also gives each method's
steps and target image passes (images through the target, forward +
backward), so the methods can be compared at equal compute in either unit.

Evaluation on --eval_data (never seen in training or selection): fooling
rate mean ± std over --samples sampled δ (one δ for a single-perturbation
method), coverage (share of images that at least one of the sampled δ
fools), classes covering 95% of adversarial predictions, pairwise cosine,
and black-box transfer to --transfer targets. Curves: each method's
perturbation at --marks seconds of optimisation (NAG: its current
generator; at the budget: the one it selected) scored on the white-box
target; one PNG, and in the JSON `curve` and where NAG first reaches each
baseline (`nag_crosses_<method>_at_s`, null if never). Last line: JSON.

One method per process is allowed (`--methods=sga`), so NAG and a baseline can
run side by side on one core each; `bench/merge_compare.py` then puts their
last lines on one plot and finds the crossings.
"""

import json
import os
import tempfile

import _common
import _methods
import _summary
from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_BUDGET = flags.DEFINE_float("budget_s", 600.0, "Optimisation seconds for each method.")
_MARKS = flags.DEFINE_list("marks", ["150", "300"], "Curve points: seconds of optimisation below the budget.")
_METHODS = flags.DEFINE_list("methods", ["nag", "sgd_uap", "sga"], "Methods to compare (nag, sgd_uap, sga, dm_uap).")
_TRANSFER = flags.DEFINE_list("transfer", ["efficientnet_lite1", "efficientnet_lite2"], "Black-box targets.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of every method (the split has its own, --split_seed).")


def _main(argv):
    del argv
    from nag_tf.errors import NAGError
    from nag_tf.evaluation import evaluate_lib, plots, report

    unknown = set(_METHODS.value) - set(_methods.METHODS)
    if unknown or not _METHODS.value:
        raise NAGError(f"--methods must name one or more of {', '.join(_methods.METHODS)} (got {_METHODS.value})")
    marks = sorted(float(m) for m in _MARKS.value if 0 < float(m) < _BUDGET.value)
    workdir = _common.WORKDIR.value or tempfile.mkdtemp(prefix="nag_compare_")
    train_folder, eval_folder = _common.folders(workdir)
    config = _methods.nag_config(train_folder, eval_folder, workdir, _BUDGET.value, _SEED.value)
    trainer = None
    runs = []
    for method in dict.fromkeys(_METHODS.value):
        if method == "nag":
            runs.append(_methods.train_nag(config, workdir, marks))
            continue
        trainer = trainer or _methods.SingleTrainer(config, train_folder)
        out = os.path.join(workdir, f"{method}.npy")
        runs.append(trainer.train(method, _BUDGET.value, _SEED.value, out, marks))

    samples = _common.SAMPLES.value
    targets = [config.target_text] + [t for t in _TRANSFER.value if t and t != config.target_text]
    final_sources = [run.source for run in runs]

    def score(sources, target_names):
        """The one evaluation every method and snapshot gets: same images, same sampled z, same count."""
        return evaluate_lib.evaluate(
            sources,
            target_names,
            eval_folder,
            config.weights,
            white_box_samples=samples,
            black_box_samples=samples,
            batch_size=config.batch_size,
            seed=_SEED.value,
            interpolation_steps=0,
        )

    evaluation = score(final_sources, targets)
    paths = report.write_report(evaluation, os.path.join(workdir, "evaluation"), final_sources)
    results = {run.name: result for run, result in zip(runs, evaluation.sources)}

    # Curves: snapshots on the white-box target, plus each method's final perturbation at the budget.
    snapshot_sources = [s for run in runs for s in run.snapshots.values()]
    curve = {run.name: [] for run in runs}
    if snapshot_sources:
        snapshot_report = score(snapshot_sources, [config.target_text])
        by_name = {s.name: s.per_target[config.target_text].fooling_rates for s in snapshot_report.sources}
        for run in runs:
            for mark, source in run.snapshots.items():
                rates = by_name[source.name]
                curve[run.name].append((mark, round(float(rates.mean()), 4), round(float(rates.std()), 4)))
    for run in runs:
        rates = results[run.name].per_target[config.target_text].fooling_rates
        curve[run.name].append((_BUDGET.value, round(float(rates.mean()), 4), round(float(rates.std()), 4)))
    machine = _common.machine()
    curve_png = plots.learning_curves(
        curve,
        os.path.join(workdir, "curves.png"),
        f"{config.target_text}, {evaluation.images} held-out photos, {machine}",
    )
    print(
        f"\n{config.target_text} (white-box) + transfer to {', '.join(targets[1:])}; "
        f"{evaluation.images} held-out photos; "
        f"{samples} sampled δ; budget {_BUDGET.value:.0f} s of optimisation each; {machine}"
    )
    header = f"{'method':8s} {'fooling rate':>16s} {'coverage':>9s} {'classes95':>9s} {'pair cos':>8s} "
    header += " ".join(f"{t[-12:]:>12s}" for t in targets[1:]) + f" {'steps':>6s} {'seconds':>7s} {'img passes':>10s}"
    print(header)
    summary = {
        "target": config.target_text,
        "budget_s": _BUDGET.value,
        "eval_images": evaluation.images,
        "samples": samples,
        "machine": machine,
        "seed": _SEED.value,
        "split": _common.split_name(),
    }
    for run in runs:
        result = results[run.name]
        white = result.per_target[config.target_text]
        transfer = [float(result.per_target[t].fooling_rates.mean()) for t in targets[1:]]
        print(
            f"{run.name:8s} {white.fooling_rates.mean():9.4f} ± {white.fooling_rates.std():.4f} {white.coverage:9.4f} "
            f"{white.classes95:9d} {result.pairwise_cosine:8.3f} "
            + " ".join(f"{x:12.4f}" for x in transfer)
            + f" {run.steps:6d} {run.seconds:7.0f} {run.image_passes:10d}"
        )
        summary.update(
            {
                f"{run.name}_fr": round(float(white.fooling_rates.mean()), 4),
                f"{run.name}_fr_std": round(float(white.fooling_rates.std()), 4),
                f"{run.name}_coverage": round(white.coverage, 4),
                f"{run.name}_classes95": white.classes95,
                f"{run.name}_steps": run.steps,
                f"{run.name}_seconds": round(run.seconds, 1),
                f"{run.name}_image_passes": run.image_passes,
                # Per photo, the share of sampled deltas that fool it: merge_compare pairs runs made apart.
                f"{run.name}_per_photo": [round(float(x), 3) for x in white.per_image],
            }
        )
        for t, value in zip(targets[1:], transfer):
            name = f"{run.name}_transfer_{_common.short_target(t)}"
            summary[name] = round(value, 4)
            summary[f"{name}_per_photo"] = [round(float(x), 3) for x in result.per_target[t].per_image]
    if "nag" in results:
        summary["nag_pairwise_cos"] = round(results["nag"].pairwise_cosine, 4)
    summary.update(
        _summary.paired_summary(summary, [run.name for run in runs], [_common.short_target(t) for t in targets[1:]])
    )
    summary["curve"] = curve
    summary.update(_summary.crossing_keys(curve))
    print(f"curves: {curve_png}; report: {paths['md']}; runs in {workdir}")
    print(json.dumps(summary))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
