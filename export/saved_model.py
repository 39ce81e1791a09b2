r"""Export a trained generator as a versioned SavedModel for TF Serving.

  python -m export.saved_model --checkpoint=runs/quickstart --export_dir=exports/nag
  python -m export.saved_model --pretrained=efficientnet_lite0 --export_dir=exports/nag   # no training

--checkpoint is a training log directory (its best.weights.h5, else
final.weights.h5, with its config.json). Each call writes the next version
(exports/nag/1, 2, ...) and never overwrites one.
"""

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Training log directory of the generator to export.")
_PRETRAINED = flags.DEFINE_string(
    "pretrained", None, "Instead of --checkpoint: a generator shipped with nag_tf, e.g. efficientnet_lite0."
)
_EXPORT_DIR = flags.DEFINE_string(
    "export_dir", "exports/nag", "Model base directory; versions go in numbered sub-folders."
)


def _main(argv):
    del argv
    from export import saved_model_lib
    from nag_tf import pretrained
    from nag_tf.errors import NAGError
    from nag_tf.evaluation import sources

    if bool(_CHECKPOINT.value) == bool(_PRETRAINED.value):
        raise NAGError(
            "give one of --checkpoint (a training log directory with config.json and best.weights.h5) or "
            "--pretrained (a shipped generator, e.g. efficientnet_lite0)"
        )
    source = sources.load_source(_CHECKPOINT.value or f"{pretrained.PREFIX}{_PRETRAINED.value}")
    if not isinstance(source, sources.GeneratorSource):
        raise NAGError(f"{_CHECKPOINT.value} is a single perturbation, not a generator; nothing to serve")
    path = saved_model_lib.export_saved_model(
        source.generator,
        _EXPORT_DIR.value,
        source.xi,
        source.target_name,
        norm=source.norm,
        clip=source.clip,
        resize=source.resize,
        target_class=source.target_class,
        config=source.config,
    )
    print(f"exported {path}")


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
