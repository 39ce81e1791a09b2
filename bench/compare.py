r"""NAG vs SGD-UAP on the same images, the same target and the same wall-clock budget.

  python bench/compare.py --target=efficientnet_lite0 --train_data=demo --eval_data=demo --budget_s=600
  python bench/compare.py --target=efficientnet_lite0 --split=../shared/data/imagenet-sample --holdout=0.2 --budget_s=600

(`demo` = the bundled demo set: train/ for training, holdout/ for evaluation.)
Trains NAG (with the flags of --nag_flagfile, default configs/quickstart.flags)
and SGD-UAP for --budget_s seconds each on --train_data, evaluates both on
--eval_data with --samples sampled perturbations, prints a table, and last a
JSON line with nag_fr, nag_fr_std, sgd_uap_fr, nag_classes95,
sgd_uap_classes95, nag_pairwise_cos, budget_s.
"""

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_TARGET = flags.DEFINE_string("target", "efficientnet_lite0", "Target.")
_TRAIN = flags.DEFINE_string("train_data", "demo", "Training images (folder with labels.csv, or demo).")
_SPLIT = flags.DEFINE_string("split", None, "Instead of --train_data/--eval_data: split this folder (e.g. ../shared/data/imagenet-sample) by --holdout.")
_HOLDOUT = flags.DEFINE_float("holdout", 0.2, "With --split: the held-out fraction (or count).")
_EVAL = flags.DEFINE_string("eval_data", "demo", "Held-out evaluation images (folder with labels.csv, or demo).")
_BUDGET = flags.DEFINE_float("budget_s", 600.0, "Training seconds for each method.")
_SAMPLES = flags.DEFINE_integer("samples", 10, "Sampled perturbations in the evaluation.")
_NAG_FLAGFILE = flags.DEFINE_string("nag_flagfile", "configs/quickstart.flags", "NAG's configuration.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where runs go (default: a temporary folder).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed.")
_UAP_STEP_DECAY = flags.DEFINE_float("uap_step_decay", 0.8, "SGD-UAP's step size factor per pass over the data (1 = constant).")


def _folders(workdir):
    """(training folder, evaluation folder): --split divided by --holdout, else --train_data and --eval_data."""
    from nag_tf import data

    if _SPLIT.value:
        return data.write_split_folders(_SPLIT.value, _HOLDOUT.value, _SEED.value, os.path.join(workdir, "split"))
    return data.training_folder(_TRAIN.value), data.evaluation_folder(_EVAL.value)


def _nag_config(logdir, train_folder):
    """TrainConfig from the NAG flagfile, with this comparison's data, budget and log directory."""
    from nag_tf.train_flags import config_from_flagfile

    return config_from_flagfile(
        _NAG_FLAGFILE.value,
        target=_TARGET.value,
        data_dir=train_folder,
        # Early stopping on the training images: the evaluation images stay unseen.
        holdout_dir=train_folder,
        epochs=10_000,
        time_budget_s=_BUDGET.value,
        logdir=logdir,
        eval_samples=_SAMPLES.value,
        seed=_SEED.value,
        verbose=2,
    )


def _main(argv):
    del argv
    import time

    import keras_apps
    from nag_tf import data, evaluate_lib, train_lib
    from nag_tf.baselines import sgd_uap_lib

    workdir = _WORKDIR.value or tempfile.mkdtemp(prefix="nag_compare_")
    train_folder, eval_folder = _folders(workdir)
    config = _nag_config(os.path.join(workdir, "nag"), train_folder)
    start = time.perf_counter()
    nag = train_lib.train(config)
    nag_seconds = time.perf_counter() - start

    target = keras_apps.load_target(_TARGET.value, config.weights)
    cached = data.load_folder(train_folder, target, config.batch_size, "training images")
    perturbation, uap_steps, uap_seconds = sgd_uap_lib.train_sgd_uap(
        target, cached, config.xi, config.batch_size, steps=10**9, time_budget_s=_BUDGET.value, seed=_SEED.value, step_decay=_UAP_STEP_DECAY.value
    )
    uap_path = sgd_uap_lib.save_perturbation(perturbation, os.path.join(workdir, "sgd_uap.npy"), config.xi, _TARGET.value)

    sources = [evaluate_lib.load_source(config.logdir, "nag"), evaluate_lib.load_source(uap_path, "sgd_uap")]
    report = evaluate_lib.evaluate(sources, [_TARGET.value], eval_folder, config.weights, _SAMPLES.value, _SAMPLES.value, config.batch_size, _SEED.value, 0)
    evaluate_lib.write_report(report, os.path.join(workdir, "evaluation"), sources)
    nag_result, uap_result = (s.per_target[_TARGET.value] for s in report.sources)
    print(f"\n{_TARGET.value}, {report.images} held-out images, {_SAMPLES.value} sampled perturbations, budget {_BUDGET.value:.0f} s each")
    print(f"{'method':10s} {'fooling rate':>16s} {'classes 95%':>12s} {'pairwise cos':>13s} {'steps':>6s} {'train s':>8s}")
    print(f"{'NAG':10s} {nag_result.fooling_rates.mean():9.4f} ± {nag_result.fooling_rates.std():.4f} {nag_result.classes95:12d} {report.sources[0].pairwise_cosine:13.4f} {nag.steps:6d} {nag_seconds:8.0f}")
    print(f"{'SGD-UAP':10s} {uap_result.fooling_rates.mean():9.4f} ± {uap_result.fooling_rates.std():.4f} {uap_result.classes95:12d} {'1 (one δ)':>13s} {uap_steps:6d} {uap_seconds:8.0f}")
    print(f"runs and report in {workdir}")
    print(
        json.dumps(
            {
                "target": _TARGET.value,
                "budget_s": _BUDGET.value,
                "eval_images": report.images,
                "samples": _SAMPLES.value,
                "nag_fr": round(float(nag_result.fooling_rates.mean()), 4),
                "nag_fr_std": round(float(nag_result.fooling_rates.std()), 4),
                "nag_classes95": nag_result.classes95,
                "nag_pairwise_cos": round(report.sources[0].pairwise_cosine, 4),
                "nag_steps": nag.steps,
                "sgd_uap_fr": round(float(uap_result.fooling_rates.mean()), 4),
                "sgd_uap_classes95": uap_result.classes95,
                "sgd_uap_steps": uap_steps,
            }
        )
    )


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
