r"""The pictures in README.md and docs/evaluation.md, made from shipped data, never by hand.

  python bench/doc_figures.py --out_dir=docs/img

Writes two PNG files:
- `nag_examples.png`: what NAG makes. Four held-out demo photos (classes the generator never trained
  on), one sampled perturbation each (the shipped EfficientNet-Lite0 generator, samples 0-3, shown
  ×(127.5/ξ) around grey), and the perturbed photos, each with EfficientNet-Lite0's label before and after.
- `transfer_matrix.png`: NAG, SGA and DM-UAP (rows) on EfficientNet-Lite0, where they were trained
  (white-box), and on Lite1 and Lite2 (black-box), mean fooling rate over the six 1800 s head-to-head runs
  whose JSON lines are in bench/results (`--runs`); each cell also gives the runs' range.

The coverage@K and learning-curve figures the docs show are the bench scripts' own PNGs in bench/results.
Needs the offline extra (`pip install -e .[offline]`). Last line: JSON (the files, their sizes, the
matrix).
"""

import glob
import json
import os

import numpy as np
from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_OUT = flags.DEFINE_string("out_dir", "docs/img", "Where the PNG files go.")
_RUNS = flags.DEFINE_string(
    "runs", "bench/results/confirm_1800s_*.jsonl", "Glob of the head-to-head JSON lines the matrix is drawn from."
)
_PHOTOS = flags.DEFINE_integer("photos", 4, "Demo photos (and samples) in the examples figure.")
METHODS = (("nag", "NAG"), ("sga", "SGA"), ("dm_uap", "DM-UAP"))
TARGETS = (("fr", "Lite0 (white-box)"), ("transfer_lite1", "Lite1"), ("transfer_lite2", "Lite2"))


def six_runs(pattern):
    """{method: {(split, seed): {measure: value}}} from head-to-head JSON lines: for each run, the line of a
    method that carries its transfer figures (a run's other lines, e.g. an ablation without them, are left out)."""
    runs = {method: {} for method, _ in METHODS}
    for path in sorted(glob.glob(pattern)):
        with open(path) as handle:
            for line in map(json.loads, filter(str.strip, handle)):
                for method, _ in METHODS:
                    if f"{method}_transfer_lite1" in line:
                        key = (line["split"], line["seed"])
                        runs[method].setdefault(key, {m: line[f"{method}_{m}"] for m, _ in TARGETS})
    return runs


def transfer_matrix(runs, path):
    """Draws the mean (and range over runs) of each method on each target; returns the means."""
    from nag_tf.evaluation.plots import plt  # the package's figures' pyplot, on its file-only backend

    values = np.array([[[r[m] for r in runs[method].values()] for m, _ in TARGETS] for method, _ in METHODS])
    means = values.mean(axis=2)
    figure, axes = plt.subplots(figsize=(5.6, 2.6), dpi=100)
    axes.imshow(means, cmap="Reds", vmin=0, vmax=1, aspect="auto")
    for i, j in np.ndindex(means.shape):
        text = f"{means[i, j]:.3f}\n({values[i, j].min():.2f}–{values[i, j].max():.2f})"
        axes.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if means[i, j] > 0.6 else "black")
    axes.set_xticks(range(len(TARGETS)), [name for _, name in TARGETS], fontsize=8)
    axes.set_yticks(range(len(METHODS)), [name for _, name in METHODS], fontsize=8)
    counts = {len(runs[method]) for method, _ in METHODS}
    axes.set_title(f"fooling rate, trained on Lite0 for 1800 s ({'/'.join(map(str, counts))} runs)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return {
        method: dict(zip([m for m, _ in TARGETS], np.round(row, 3).tolist()))
        for (method, _), row in zip(METHODS, means)
    }


def examples(count, path):
    """Photos, sampled perturbations and perturbed photos, labelled before and after; returns the labels."""
    import tensorflow as tf

    import keras_apps
    from keras_apps.class_names import class_name
    from nag_tf.evaluation import metrics, sources
    from nag_tf.evaluation.plots import perturbation_image, plt
    from nag_tf.inputs import batches, data

    source = sources.load_source("pretrained:efficientnet_lite0")
    target = keras_apps.load_target(source.target_name)
    _, holdout = data.resolve_folders("demo", None)
    photos = batches.load_folder(holdout, target, description="demo photos")
    images = photos.images[:count]
    deltas = np.asarray(source.sample(count, seed=0))
    adversarial = metrics.perturb(tf.convert_to_tensor(images), tf.convert_to_tensor(deltas), source.clip)
    before = photos.clean_labels[:count]
    after = target.predict_labels(adversarial).numpy()

    def short(index):
        return class_name(int(index)).split(",")[0][:18]

    figure, axes = plt.subplots(3, count, figsize=(1.8 * count, 5.8), dpi=72)
    for k in range(count):
        axes[0, k].imshow(images[k])
        axes[0, k].set_title(short(before[k]), fontsize=9)
        axes[1, k].imshow(perturbation_image(deltas[k], source.xi))
        axes[1, k].set_title(f"δ #{k}", fontsize=9)
        axes[2, k].imshow(np.asarray(adversarial[k]).astype(np.uint8))
        axes[2, k].set_title(("→ " if after[k] != before[k] else "= ") + short(after[k]), fontsize=9)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    for row, label in enumerate(("photo", f"δ (‖δ‖∞ ≤ {source.xi:g}, shown ×{127.5 / source.xi:.1f})", "photo + δ")):
        axes[row, 0].set_ylabel(label, fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    _palette(path)
    return [[short(b), short(a)] for b, a in zip(before, after)]


def _palette(path):
    """Re-saves a PNG with a 256-colour palette: the perturbations' noise makes a full-colour PNG ~4x larger."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def _main(argv):
    del argv
    os.makedirs(_OUT.value, exist_ok=True)
    paths = {name: os.path.join(_OUT.value, f"{name}.png") for name in ("nag_examples", "transfer_matrix")}
    labels = examples(_PHOTOS.value, paths["nag_examples"])
    matrix = transfer_matrix(six_runs(_RUNS.value), paths["transfer_matrix"])
    for path in paths.values():
        print(f"wrote {path} ({os.path.getsize(path) // 1024} kB)")
    sizes = {name: os.path.getsize(path) for name, path in paths.items()}
    print(json.dumps({"files": paths, "bytes": sizes, "labels_before_after": labels, "transfer_matrix": matrix}))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
