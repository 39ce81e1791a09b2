r"""Convert an exported SavedModel version to TFLite.

python -m export.tflite --saved_model=exports/nag/1 --out=nag.tflite --quantize=float16
"""

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_SAVED_MODEL = flags.DEFINE_string("saved_model", None, "A SavedModel version directory (exports/nag/1).")
_OUT = flags.DEFINE_string("out", "nag.tflite", "Output .tflite file.")
_QUANTIZE = flags.DEFINE_enum("quantize", "none", ["none", "float16", "dynamic"], "Quantisation.")


def _main(argv):
    del argv
    import os

    from export import tflite_lib
    from nag_tf.errors import NAGError

    if not _SAVED_MODEL.value or not os.path.exists(os.path.join(_SAVED_MODEL.value, "saved_model.pb")):
        raise NAGError(f"--saved_model={_SAVED_MODEL.value!r} is not a SavedModel directory (no saved_model.pb)")
    flatbuffer = tflite_lib.convert(_SAVED_MODEL.value, _QUANTIZE.value)
    partial = _OUT.value + ".partial"
    with open(partial, "wb") as handle:
        handle.write(flatbuffer)
    os.replace(partial, _OUT.value)
    print(f"wrote {_OUT.value} ({len(flatbuffer) / 1e6:.1f} MB, quantize={_QUANTIZE.value})")


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
