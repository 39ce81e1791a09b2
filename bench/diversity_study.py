r"""Which configuration makes NAG diverse *and* strong? Same photos, same budget, same evaluation.

  python bench/diversity_study.py --budget_s=150 --configs=paper,chord,cosine
  python bench/diversity_study.py --budget_s=600 --split=../shared/data/imagenet-sample --configs=chord,paper

Each configuration is the quick start's flags (nag_tf/configs/quickstart.flags: the offline default, the
chord penalty) with a few settings changed; it trains through the one method call (nag_tf.methods.train)
against --target for --budget_s seconds of optimisation on the training photos, and is scored on the
held-out photos with --samples sampled z: fooling rate mean ± std over z, coverage, pairwise cosine of
the sampled deltas. The configurations of earlier rounds (hinge penalties, rescaled outputs, ...) are in
the git history beside their records in docs/experiments/. Last line: JSON, one entry per configuration.
"""

import json
import tempfile

import _common
from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_BUDGET = flags.DEFINE_float("budget_s", 180.0, "Optimisation seconds per configuration.")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Seeds (each configuration runs once per seed).")
_CONFIGS = flags.DEFINE_list("configs", ["chord", "cosine", "paper"], "Configurations (see CONFIGURATIONS).")

# name -> (description, changes to the quick start's settings).
_PAPER_LOSSES = dict(perturbation_diversity_weight=0.0, target_pairwise_cosine=1.0, diversity_weight=1.0)
CONFIGURATIONS = {
    "chord": ("the offline default: the chord penalty, pairwise cosine held at 0.4 by dual ascent", {}),
    "cosine": ("as chord, with the cosine penalty it replaced", dict(perturbation_similarity="cosine")),
    "paper": ("the paper's losses: softmax-cosine feature diversity, lambda = 1, no penalty", _PAPER_LOSSES),
    "paper_generator": (
        "the paper's losses and Table 5 generator",
        dict(_PAPER_LOSSES, generator="paper", images_per_perturbation=1),
    ),
    "reference": (
        "the authors' code: d = 100, noise channels, block-10 features, squared L2 x 10",
        dict(
            _PAPER_LOSSES,
            generator="reference",
            latent_dim=100,
            diversity_layer="reference",
            diversity_distance="squared_l2",
            diversity_weight=10.0,
            images_per_perturbation=1,
        ),
    ),
    "fooling_only": (
        "the quick start without any diversity term (no penalty, lambda = 0): the fooling loss alone",
        dict(perturbation_diversity_weight=0.0, target_pairwise_cosine=1.0),
    ),
}


def _main(argv):
    del argv
    import nag_tf
    from nag_tf import methods
    from nag_tf.errors import NAGError
    from nag_tf.evaluation import metrics

    unknown = set(_CONFIGS.value) - set(CONFIGURATIONS)
    if unknown:
        raise NAGError(f"unknown configuration(s) {sorted(unknown)}; known: {', '.join(CONFIGURATIONS)}")
    workdir = _common.WORKDIR.value or tempfile.mkdtemp(prefix="nag_diversity_")
    train_folder, eval_folder = _common.folders(workdir)
    target_name, samples = _common.TARGET.value, _common.SAMPLES.value
    target = nag_tf.load_target(target_name)
    heldout = nag_tf.read_photos(eval_folder, target)
    rows = []
    for seed in (int(s) for s in _SEEDS.value):
        for name in _CONFIGS.value:
            description, changes = CONFIGURATIONS[name]
            run = methods.train(
                nag_tf.settings_for("nag", **changes),
                methods.TargetSpec(target_name),
                train_folder,
                _BUDGET.value,
                seed,
                workdir=f"{workdir}/{name}_seed{seed}",
                name=name,
            )
            scores = nag_tf.score(run.source, target, heldout, samples=samples, seed=seed)
            cosine = metrics.mean_pairwise_cosine(run.source.sample(samples, seed).numpy())
            rates = scores.fooling_rates
            row = dict(
                config=name,
                seed=seed,
                fr=round(float(rates.mean()), 4),
                fr_std=round(float(rates.std()), 4),
                coverage=round(scores.coverage(), 4),
                pairwise_cos=round(cosine, 4),
                steps=run.steps,
                seconds=round(run.seconds),
                image_passes=run.image_passes,
                description=description,
            )
            rows.append(row)
            print(f"{name} seed {seed}: fooling {row['fr']:.4f} ± {row['fr_std']:.4f}, cos {cosine:.4f}", flush=True)
    print(f"\n{target_name}, {_BUDGET.value:.0f} s each, {samples} z, scored on {eval_folder}, {_common.machine()}")
    print("| config | seed | fooling rate | coverage | pairwise cos | steps | seconds |\n|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['config']} | {row['seed']} | {row['fr']:.4f} ± {row['fr_std']:.4f} | {row['coverage']:.4f} | "
            f"{row['pairwise_cos']:.4f} | {row['steps']} | {row['seconds']} |"
        )
    summary = dict(target=target_name, budget_s=_BUDGET.value, samples=samples, machine=_common.machine())
    print(json.dumps({**summary, "results": rows}))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
