r"""Evaluate trained generators (and baselines) like the paper: fooling rates, transfer matrix, diversity.

  python -m nag_tf.evaluate --sources=runs/quickstart,runs/sgd_uap/uap.npy \
      --targets=efficientnet_lite0 --data_dir=demo --out_dir=runs/evaluation

A source is a training log directory (its best generator) or a `.npy`
universal perturbation. Writes report.md / report.csv / report.json and PNG
figures into --out_dir, and the same into TensorBoard with --logdir.
"""

from absl import app, flags

from nag_tf import record_flags
from nag_tf.evaluation.evaluate_options import EvaluateOptions
from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

# One flag a field of EvaluateOptions: defaults and help are the record's.
record_flags.define_settings_flags(EvaluateOptions())


def evaluate(options):
    """Evaluates `options.sources` on `options.targets` and writes the report; returns its paths.

    Args:
      options: an EvaluateOptions (validated).

    Returns:
      {"md", "csv", "json", ...}: the report files (nag_tf.evaluation.report.write_report).

    Raises:
      NAGError: a source or target that cannot be read, or no target named where the source names none.
    """
    import keras

    import keras_apps
    from keras_apps.class_names import read_class_names
    from nag_tf.errors import NAGError
    from nag_tf.evaluation import evaluate_lib, report, sources
    from nag_tf.signals import SignalCatcher

    class_names = read_class_names(options.class_names) if options.class_names else None
    loaded = [sources.load_source(path) for path in options.sources]
    targets = [keras_apps.canonical_target_name(name, options.preprocess) for name in options.targets]
    if not targets:
        # The first source's own target(s), every member of an ensemble: a log directory's config, an export's
        # or a shipped generator's metadata, a .npy's JSON.
        if not loaded[0].target_name:
            raise NAGError("--targets is required: the first source does not say which target it was trained on")
        targets = keras_apps.parse_target_names(loaded[0].target_name)
    # A signal ends the evaluation at once (it keeps nothing worth saving) and no report is written;
    # once writing has begun it waits for the report to be complete.
    stop = SignalCatcher(interrupt="during evaluation: no report was written; run the same command again")
    bar = keras.utils.Progbar(len(loaded) * len(targets), unit_name="source x target", verbose=options.verbose)
    print(f"evaluating {len(loaded)} source(s) on {', '.join(targets)} over {options.data_dir}", flush=True)
    with stop:
        evaluation = evaluate_lib.evaluate(
            loaded,
            targets,
            options.data_dir,
            weights=options.weights,
            white_box_samples=options.white_box_samples,
            black_box_samples=options.black_box_samples,
            batch_size=options.batch_size,
            seed=options.seed,
            interpolation_steps=options.interpolation_steps,
            progress=lambda done, total: bar.update(done),
            class_names=class_names,
        )
        stop.interrupt = None
        paths = report.write_report(evaluation, options.out_dir, loaded)
        if options.logdir:
            report.write_tensorboard(evaluation, paths, options.logdir)
    return paths


def _main(argv):
    del argv
    options = record_flags.settings_from_flags(EvaluateOptions(), flags.FLAGS)
    paths = evaluate(options)
    with open(paths["md"]) as handle:
        print(handle.read())
    print(f"report and figures in {options.out_dir}")


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
