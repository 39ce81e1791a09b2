r"""Evaluate trained generators (and baselines) like the paper: fooling rates, transfer matrix, diversity.

  python -m nag_tf.evaluate --sources=runs/quickstart,runs/sgd_uap/uap.npy \
      --targets=efficientnet_lite0 --data_dir=demo --out_dir=runs/evaluation

A source is a training log directory (its best generator) or a `.npy`
universal perturbation. Writes report.md / report.csv / report.json and PNG
figures into --out_dir, and the same into TensorBoard with --logdir.
"""

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_SOURCES = flags.DEFINE_list(
    "sources", None, "Training log directories and/or .npy perturbations (rows of the matrix)."
)
_TARGETS = flags.DEFINE_list(
    "targets", None, "Targets (columns); the first is the white-box one (default: the first source's target(s))."
)
_WEIGHTS = flags.DEFINE_string("weights", "imagenet", "Weights for every target: imagenet or none.")
_PREPROCESS = flags.DEFINE_string(
    "preprocess",
    "",
    "For --targets that are .keras files or SavedModel directories: their input scale (caffe | tf | torch | "
    "lite | none | scale=A,B); a source trained on a model file already records it.",
)
_DATA_DIR = flags.DEFINE_string(
    "data_dir", "demo", "Evaluation images: a folder with labels.csv ('demo' = held-out demo photos)."
)
_CLASS_NAMES = flags.DEFINE_string(
    "class_names", None, "A file of class names, one a line (class 0 first), for a target of your own classes."
)
# Bounds are absl's: a bad value is one `error:` line at parse time (nag_tf.flags_util).
_WHITE = flags.DEFINE_integer(
    "white_box_samples", 100, "Perturbations on a source's own target (paper: 100).", lower_bound=1
)
_BLACK = flags.DEFINE_integer("black_box_samples", 10, "Perturbations on other targets (paper: 10).", lower_bound=1)
_INTERPOLATION = flags.DEFINE_integer("interpolation_steps", 11, "Points on the latent line (0 = skip).", lower_bound=0)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Batch size.", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the sampled latents.")
_OUT_DIR = flags.DEFINE_string("out_dir", "runs/evaluation", "Where the report and figures go.")
_LOGDIR = flags.DEFINE_string("logdir", None, "Also write the report to TensorBoard here.")
_VERBOSE = flags.DEFINE_integer("verbose", 1, "1: a progress bar with ETA; 0: quiet.")


def _main(argv):
    del argv

    import keras

    import keras_apps
    from keras_apps.class_names import read_class_names
    from nag_tf.errors import NAGError
    from nag_tf.evaluation import evaluate_lib, report, sources
    from nag_tf.signals import SignalCatcher

    if not _SOURCES.value:
        raise NAGError("--sources is required: training log directories or .npy perturbations")
    class_names = read_class_names(_CLASS_NAMES.value) if _CLASS_NAMES.value else None
    loaded = [sources.load_source(path) for path in _SOURCES.value]
    targets = [keras_apps.canonical_target_name(name, _PREPROCESS.value) for name in _TARGETS.value or ()]
    if not targets:
        # The first source's own target(s), every member of an ensemble: a log directory's config, an export's
        # or a shipped generator's metadata, a .npy's JSON.
        if not loaded[0].target_name:
            raise NAGError("--targets is required: the first source does not say which target it was trained on")
        targets = keras_apps.parse_target_names(loaded[0].target_name)
    # A signal ends the evaluation at once (it keeps nothing worth saving) and no report is written;
    # once writing has begun it waits for the report to be complete.
    stop = SignalCatcher(interrupt="during evaluation: no report was written; run the same command again")
    bar = keras.utils.Progbar(
        len(loaded) * len(targets), unit_name="source x target", verbose=1 if _VERBOSE.value else 0
    )
    print(f"evaluating {len(loaded)} source(s) on {', '.join(targets)} over {_DATA_DIR.value}", flush=True)
    with stop:
        evaluation = evaluate_lib.evaluate(
            loaded,
            targets,
            _DATA_DIR.value,
            weights=_WEIGHTS.value,
            white_box_samples=_WHITE.value,
            black_box_samples=_BLACK.value,
            batch_size=_BATCH_SIZE.value,
            seed=_SEED.value,
            interpolation_steps=_INTERPOLATION.value,
            progress=lambda done, total: bar.update(done),
            class_names=class_names,
        )
        stop.interrupt = None
        paths = report.write_report(evaluation, _OUT_DIR.value, loaded)
        if _LOGDIR.value:
            report.write_tensorboard(evaluation, paths, _LOGDIR.value)
    with open(paths["md"]) as handle:
        print(handle.read())
    print(f"report and figures in {_OUT_DIR.value}")


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
