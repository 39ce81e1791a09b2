r"""Package a trained run as a shipped generator (nag_tf/pretrained/NAME/) and measure its model card.

  python bench/pretrained_data.py --out=/tmp/pre/data
  taskset -c 1 python -m nag_tf.compare --methods=nag --target=efficientnet_lite0 \
      --train_data=/tmp/pre/data/train --eval_data=/tmp/pre/data/report --budget_s=3600 \
      --marks=600,1200,1800,2400,3000 --nag_flagfile=lite0_long.flags --seed=0 --workdir=/tmp/pre/run \
      > /tmp/pre/run.log
  python bench/pretrained_card.py --run=/tmp/pre/run/nag --compare_log=/tmp/pre/run.log \
      --report_data=/tmp/pre/data/report --name=efficientnet_lite0

Writes config.json and the float16 weights (nag_tf.pretrained.save_pretrained), then scores the float32
run and the float16 package with the one evaluation (`evaluate_lib.evaluate`) on the report photos (classes
no training photo shows) and on the demo set's 64 held-out photos (part of them, shipped in the wheel, so a
test can re-measure): fooling with its 95% bootstrap interval over photos, coverage, classes covering 95%,
pairwise cosine, transfer to Lite1/Lite2, and the float16-minus-float32 paired difference. card.json and
MODEL_CARD.md record it with the data, budget, machine and commit. Last line: JSON.
"""

import datetime
import json
import os
import subprocess

import _common
from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_RUN = flags.DEFINE_string("run", None, "The training log directory (nag_tf.compare's workdir/nag).", required=True)
_COMPARE_LOG = flags.DEFINE_string("compare_log", None, "nag_tf.compare's output (its JSON last line: steps, curve).")
_REPORT = flags.DEFINE_string("report_data", None, "The report photos (pretrained_data.py's report/).", required=True)
_NAME = flags.DEFINE_string("name", "efficientnet_lite0", "The shipped generator's name (its folder).")
_FLAGFILE = flags.DEFINE_string("flagfile_name", "lite0_long.flags", "The flagfile the run was trained with.")
_TRAIN_COMMIT = flags.DEFINE_string(
    "train_commit", None, "The commit the run was trained at (default: this checkout's, if it is the same)."
)
_TRANSFER = flags.DEFINE_list("transfer", ["efficientnet_lite1", "efficientnet_lite2"], "Black-box targets.")


def _commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def _figures(result, targets):
    white = result.per_target[targets[0]]
    low, high = white.interval()
    figures = {
        "fooling_rate": round(float(white.fooling_rates.mean()), 4),
        "fooling_rate_std_over_samples": round(float(white.fooling_rates.std()), 4),
        "fooling_rate_ci95_over_photos": [round(low, 4), round(high, 4)],
        "coverage": round(white.coverage, 4),
        "classes95": white.classes95,
        "pairwise_cosine": round(result.pairwise_cosine, 4),
    }
    for name in targets[1:]:
        black = result.per_target[name]
        figures[f"transfer_{name.replace('efficientnet_', '')}"] = round(float(black.fooling_rates.mean()), 4)
        figures[f"transfer_{name.replace('efficientnet_', '')}_ci95"] = [round(x, 4) for x in black.interval()]
    return figures


_CARD = """# Shipped generator: NAG against {target}

What it is: a NAG generator (nag_tf, `{generator}` architecture, d = {latent_dim}, ξ = {xi:g} on the 0–255
scale, L∞) trained against **{target}** with its ImageNet weights, `--flagfile={flagfile}` as it stood
at the training commit: every setting it was trained with is in `config.json` beside this card.
Load it with `--sources=pretrained:{name}` (nag_tf.evaluate) or
`python -m export.saved_model --pretrained={name}`.

What it is not: it was **not** trained on ImageNet's 1.2 M training images, only on {train_photos} photos
(one per class) of `shared/data/imagenet-sample`; a generator trained on the paper's 10,000 images would
be stronger. Its figures hold for that target and these photos, nothing else.

## Data, budget, machine
- Training: {train_photos} photos ({selection} of them set aside to choose the best epoch), the split of
  `bench/pretrained_data.py --split_seed={split_seed}`; report: {report_photos} photos of *other* classes
  (the demo set's 64 held-out photos among them), which chose nothing.
- Budget: {budget_s:g} s of optimisation on one core, {steps} steps, {image_passes} target image passes.
- Machine: {machine}. Trained at commit {commit}; card measured at {card_commit}. Date: {date}.
- Weights: float16 ({size_mb:.1f} MB); the float16 generator's fooling rate minus the float32 one's, paired
  over the report photos: {fp16_diff:+.4f} (95% interval {fp16_low:+.4f} to {fp16_high:+.4f}).

## Figures ({samples} sampled δ, the same for every target)
| photos | fooling rate | 95% interval over photos | coverage | classes covering 95% | pairwise cosine | Lite1 | Lite2 |
|---|---|---|---|---|---|---|---|
{rows}

Curve (fooling on the report photos at seconds of optimisation): {curve}.

Re-measure: `python -m nag_tf.evaluate --sources=pretrained:{name} --targets={targets} --data_dir=PHOTOS
--white_box_samples={samples} --black_box_samples={samples} --interpolation_steps=0` (PHOTOS: `demo` for the
demo set's held-out photos; the report set is rebuilt by `bench/pretrained_data.py`).
"""


def _row(label, figures):
    low, high = figures["fooling_rate_ci95_over_photos"]
    lite1, lite2 = (f"{figures[key]:.3f}" if key in figures else "–" for key in ("transfer_lite1", "transfer_lite2"))
    return (
        f"| {label} | {figures['fooling_rate']:.3f} | {low:.3f}–{high:.3f} | {figures['coverage']:.3f} | "
        f"{figures['classes95']} | {figures['pairwise_cosine']:.3f} | {lite1} | {lite2} |"
    )


def _main(argv):
    del argv
    from nag_tf import pretrained
    from nag_tf.evaluation import evaluate_lib, sources, stats
    from nag_tf.inputs import data

    run = sources.load_source(_RUN.value, "float32")
    config = run.config  # the log directory's config.json, as the source read it
    folder = os.path.join(os.path.dirname(os.path.abspath(pretrained.__file__)), _NAME.value)
    pretrained.save_pretrained(run.generator, config, folder)
    shipped = sources.load_source(f"pretrained:{_NAME.value}", "float16")
    targets = [config.target_text] + [t for t in _TRANSFER.value if t != config.target_text]

    def score(scored, folder_name, target_names):
        return evaluate_lib.evaluate(
            scored,
            target_names,
            folder_name,
            config.weights,
            white_box_samples=_common.SAMPLES.value,
            black_box_samples=_common.SAMPLES.value,
            batch_size=32,
            seed=0,
            interpolation_steps=0,
        )

    report = score([run, shipped], _REPORT.value, targets)  # both: the float16-minus-float32 difference
    demo = score([shipped], data.DEMO, [config.target_text])
    float32, float16 = (r.per_target[config.target_text] for r in report.sources)
    fp16_diff = stats.paired_difference(float16.per_image, float32.per_image)
    compare = {}
    if _COMPARE_LOG.value:
        with open(_COMPARE_LOG.value) as handle:
            compare = json.loads(handle.read().strip().splitlines()[-1])
    train_photos = len(data.read_image_folder(config.data_dir).paths) if os.path.isdir(config.data_dir) else None
    card = {
        "name": _NAME.value,
        "target": config.target_text,
        "flagfile": _FLAGFILE.value,
        "train_photos": train_photos,
        "selection_images": config.selection_images,
        "report_photos": report.images,
        "demo_holdout_photos": demo.images,
        "split_seed": _common.SPLIT_SEED.value,  # pretrained_data.py's --split_seed, recorded
        "budget_s": compare.get("budget_s", config.time_budget_s),
        "steps": compare.get("nag_steps"),
        "image_passes": compare.get("nag_image_passes"),
        "curve": compare.get("curve", {}).get("nag"),
        "machine": _common.machine(),
        "commit": _TRAIN_COMMIT.value or _commit(),
        "card_commit": _commit(),
        "date": datetime.date.today().isoformat(),
        "samples": _common.SAMPLES.value,
        "weights_mb": round(os.path.getsize(os.path.join(folder, pretrained.WEIGHTS_FILE)) / 2**20, 2),
        "fp16_minus_fp32": [round(x, 4) for x in fp16_diff],
        "report": _figures(report.sources[1], targets),
        "report_float32": _figures(report.sources[0], targets),
        "demo_holdout": _figures(demo.sources[0], [config.target_text]),
    }
    with open(os.path.join(folder, "card.json"), "w") as handle:
        json.dump(card, handle, indent=2)
    curve = ", ".join(f"{int(m)} s: {f:.3f}" for m, f, _ in card["curve"] or [])
    with open(os.path.join(folder, "MODEL_CARD.md"), "w") as handle:
        handle.write(
            _CARD.format(
                name=_NAME.value,
                target=config.target_text,
                generator=config.generator,
                latent_dim=config.latent_dim,
                xi=config.xi,
                flagfile=card["flagfile"],
                train_photos=train_photos,
                selection=config.selection_images,
                split_seed=card["split_seed"],
                report_photos=report.images,
                budget_s=card["budget_s"],
                steps=card["steps"],
                image_passes=card["image_passes"],
                machine=card["machine"],
                commit=card["commit"],
                card_commit=card["card_commit"],
                date=card["date"],
                size_mb=card["weights_mb"],
                fp16_diff=fp16_diff[0],
                fp16_low=fp16_diff[1],
                fp16_high=fp16_diff[2],
                samples=_common.SAMPLES.value,
                rows="\n".join(
                    [
                        _row(f"report ({report.images}, classes never seen)", card["report"]),
                        _row(f"demo held-out ({demo.images}, in the wheel)", card["demo_holdout"]),
                    ]
                ),
                curve=curve or "not recorded",
                targets=",".join(targets),
            )
        )
    print(json.dumps(card))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
