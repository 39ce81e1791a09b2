r"""Which configuration makes NAG diverse *and* strong? Same images, same budget, same evaluation.

  python bench/diversity_study.py --budget_s=150 --configs=paper,reference,light_softmax,light_hinge
  python bench/diversity_study.py --budget_s=300 --split=../shared/data/imagenet-sample \
      --configs=light_hinge_5,light_hinge_10_0.45
  python bench/diversity_study.py --budget_s=600 --split=../shared/data/imagenet-sample --configs=light_hinge_2

Each configuration trains against --target on --train_data for --budget_s
seconds of wall clock (after data loading), then is evaluated on --eval_data
with --samples sampled z: fooling rate mean ± std over z, classes covering
95% of adversarial predictions, mean pairwise cosine of the sampled δ,
steps and seconds. Last line: JSON with one entry per configuration.
"""

import json
import os
import tempfile

import _common
from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_BUDGET = flags.DEFINE_float(
    "budget_s", 180.0, "Optimisation seconds per configuration (validation, pictures, checkpoints not counted)."
)
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Seeds (each configuration runs once per seed).")
_CONFIGS = flags.DEFINE_list(
    "configs",
    ["paper", "reference", "light_softmax", "light_hinge", "light_hinge_2", "light_hinge_4"],
    "Configurations (see CONFIGURATIONS).",
)

# name -> (description, TrainConfig overrides). Base: the quick start's flags with the paper's losses
# (lambda = 1, no penalty, no constraint) unless a configuration turns them on (BASE_OVERRIDES).
BASE_OVERRIDES = dict(
    perturbation_diversity_weight=0.0,
    perturbation_cosine_margin=-1.0,
    target_pairwise_cosine=1.0,
    diversity_weight=1.0,
    linf_output="tanh",
    steps_per_epoch=0,
)
CONFIGURATIONS = {
    "light_dual_0.4": (
        "the offline default: light generator, lambda=0, pairwise cosine held at 0.4 by dual ascent",
        dict(generator="light", diversity_weight=0.0, target_pairwise_cosine=0.4, perturbation_diversity_weight=1.0),
    ),
    "paper": (
        "paper defaults: Table 5 generator, d=10, softmax + cosine, lambda=1",
        dict(
            generator="paper",
            latent_dim=10,
            diversity_layer="default",
            diversity_distance="cosine",
            diversity_weight=1.0,
        ),
    ),
    "reference": (
        "reference code: d=100, noise channels, block-10 features, squared L2 x 10",
        dict(
            generator="reference",
            latent_dim=100,
            diversity_layer="reference",
            diversity_distance="squared_l2",
            diversity_weight=10.0,
        ),
    ),
    "light_softmax": (
        "light generator, d=10, softmax + cosine, lambda=1 (the quick start)",
        dict(
            generator="light",
            latent_dim=10,
            diversity_layer="default",
            diversity_distance="cosine",
            diversity_weight=1.0,
        ),
    ),
    "light_logits": (
        "light generator, d=10, logits + cosine, lambda=1",
        dict(
            generator="light",
            latent_dim=10,
            diversity_layer="logits",
            diversity_distance="cosine",
            diversity_weight=1.0,
        ),
    ),
    "light_features": (
        "light generator, d=10, block-10 features + cosine, lambda=1",
        dict(
            generator="light",
            latent_dim=10,
            diversity_layer="reference",
            diversity_distance="cosine",
            diversity_weight=1.0,
        ),
    ),
    "light_features_l2": (
        "light generator, d=100, block-10 features, squared L2 x 10",
        dict(
            generator="light",
            latent_dim=100,
            diversity_layer="reference",
            diversity_distance="squared_l2",
            diversity_weight=10.0,
        ),
    ),
    "light_delta": (
        "light generator, d=10, softmax + cosine (lambda=1) + cosine diversity of the deltas themselves (mu=1)",
        dict(generator="light", perturbation_diversity_weight=1.0),
    ),
    "light_rescale": (
        "light generator, d=10, softmax + cosine, lambda=1, delta = xi x / max|x| instead of xi tanh",
        dict(generator="light", linf_output="rescale"),
    ),
    "light_rescale_delta": (
        "as light_rescale, plus cosine diversity of the deltas (mu=1)",
        dict(generator="light", linf_output="rescale", perturbation_diversity_weight=1.0),
    ),
    "light_hinge": (
        "light generator, softmax + cosine (lambda=1) + similarity penalty max(0, cos - 0.3) on delta pairs (mu=3)",
        dict(generator="light", perturbation_diversity_weight=3.0, perturbation_cosine_margin=0.3),
    ),
    "light_hinge_10": (
        "as light_hinge with mu=10",
        dict(generator="light", perturbation_diversity_weight=10.0, perturbation_cosine_margin=0.3),
    ),
    "light_rescale_hinge": (
        "as light_rescale, plus the similarity penalty max(0, cos - 0.3) (mu=1)",
        dict(
            generator="light", linf_output="rescale", perturbation_diversity_weight=1.0, perturbation_cosine_margin=0.3
        ),
    ),
    "light_hinge_5": (
        "as light_hinge with mu=5",
        dict(generator="light", perturbation_diversity_weight=5.0, perturbation_cosine_margin=0.3),
    ),
    "light_hinge_10_0.45": (
        "as light_hinge with mu=10 and margin 0.45",
        dict(generator="light", perturbation_diversity_weight=10.0, perturbation_cosine_margin=0.45),
    ),
    "light_hinge_4": (
        "as light_hinge with mu=4",
        dict(generator="light", perturbation_diversity_weight=4.0, perturbation_cosine_margin=0.3),
    ),
    "light_hinge_2": (
        "the offline default before the constraint: as light_hinge with mu=2",
        dict(generator="light", perturbation_diversity_weight=2.0, perturbation_cosine_margin=0.3),
    ),
}


def _main(argv):
    del argv
    from nag_tf.errors import NAGError
    from nag_tf.evaluation import evaluate_lib, sources
    from nag_tf.training import train_lib
    from nag_tf.training.train_flags import config_from_flagfile

    unknown = set(_CONFIGS.value) - set(CONFIGURATIONS)
    if unknown:
        raise NAGError(f"unknown configuration(s) {sorted(unknown)}; known: {', '.join(CONFIGURATIONS)}")
    workdir = _common.WORKDIR.value or tempfile.mkdtemp(prefix="nag_diversity_")
    train_folder, eval_folder = _common.folders(workdir)
    target_name, samples = _common.TARGET.value, _common.SAMPLES.value
    rows = []
    for seed in (int(s) for s in _SEEDS.value):
        for name in _CONFIGS.value:
            description, overrides = CONFIGURATIONS[name]
            logdir = os.path.join(workdir, f"{name}_seed{seed}")
            # The best epoch is chosen on images carved out of the training folder; the evaluation
            # folder is read only for the final figures.
            config = config_from_flagfile(
                "quickstart.flags",
                target=target_name,
                data_dir=train_folder,
                holdout_dir=eval_folder,
                epochs=10_000,
                time_budget_s=_BUDGET.value,
                logdir=logdir,
                seed=seed,
                verbose=0,
                eval_samples=2,
                **{**BASE_OVERRIDES, **overrides},
            )
            result = train_lib.train(config)
            seconds = result.optimisation_seconds
            source = sources.load_source(logdir, name)
            report = evaluate_lib.evaluate(
                [source],
                [target_name],
                eval_folder,
                config.weights,
                white_box_samples=samples,
                black_box_samples=samples,
                batch_size=32,
                seed=seed,
                interpolation_steps=0,
            )
            r = report.sources[0].per_target[target_name]
            rows.append(
                {
                    "config": name,
                    "seed": seed,
                    "fr": round(float(r.fooling_rates.mean()), 4),
                    "fr_std": round(float(r.fooling_rates.std()), 4),
                    "coverage": round(r.coverage, 4),
                    "classes95": r.classes95,
                    "pairwise_cos": round(report.sources[0].pairwise_cosine, 4),
                    "steps": result.steps,
                    "seconds": round(seconds),
                    "image_passes": result.target_image_passes,
                    "description": description,
                }
            )
            print(
                f"{name:18s} seed {seed}: fooling {rows[-1]['fr']:.4f} ± {rows[-1]['fr_std']:.4f}, classes95 "
                f"{r.classes95}, "
                f"pairwise cos {rows[-1]['pairwise_cos']:.4f}, {result.steps} steps, {seconds:.0f} s",
                flush=True,
            )
    print(
        f"\n{target_name}, budget {_BUDGET.value:.0f} s of optimisation each, {samples} z, eval on {eval_folder}, "
        f"{_common.machine()}"
    )
    print(
        "| config | seed | fooling rate | classes 95% | pairwise cos | steps | seconds |\n|---|---|---|---|---|---|---|"
    )
    for row in rows:
        print(
            f"| {row['config']} | {row['seed']} | {row['fr']:.4f} ± {row['fr_std']:.4f} | {row['classes95']} | "
            f"{row['pairwise_cos']:.4f} | {row['steps']} | {row['seconds']} |"
        )
    print(
        json.dumps(
            {
                "target": target_name,
                "budget_s": _BUDGET.value,
                "samples": samples,
                "machine": _common.machine(),
                "results": rows,
            }
        )
    )


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
