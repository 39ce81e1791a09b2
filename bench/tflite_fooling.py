r"""Fooling rate of a TFLite-converted generator vs. its SavedModel, on the same images and z.

  python bench/tflite_fooling.py --checkpoint=runs/quickstart --quantize=float16 --data=demo

Exports the generator, converts it (--quantize), samples --samples
perturbations from the same z with both, and measures their fooling rates on
the images (demo = the held-out demo photos). Last line: JSON with
`saved_model_fr`, `tflite_fr` and `difference_points`.
"""

import json
import tempfile

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Training log directory.")
_QUANTIZE = flags.DEFINE_enum("quantize", "float16", ["none", "float16", "dynamic"], "TFLite quantisation.")
_DATA = flags.DEFINE_string("data", "demo", "Evaluation images (demo = held-out demo photos).")
_SAMPLES = flags.DEFINE_integer("samples", 10, "Sampled perturbations.")


def _main(argv):
    del argv
    import numpy as np
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    import keras_apps
    from export import saved_model_lib, tflite_lib
    from nag_tf.core import latent
    from nag_tf.evaluation import metrics, sources
    from nag_tf.inputs import batches, data

    source = sources.load_source(_CHECKPOINT.value)
    version = saved_model_lib.export_saved_model(source.generator, tempfile.mkdtemp(), source.xi, source.target_name)
    runner = Interpreter(model_content=tflite_lib.convert(version, _QUANTIZE.value)).get_signature_runner(
        "serving_default"
    )
    z = latent.stateless([_SAMPLES.value, source.latent_dim], [3, 3]).numpy()
    saved = tf.saved_model.load(version).signatures["serving_default"](z=tf.constant(z))["perturbation"].numpy()
    lite = np.concatenate([runner(z=z[i : i + 1])["perturbation"] for i in range(len(z))])
    target = keras_apps.load_target(source.target_name, "imagenet")
    cached = batches.load_folder(data.evaluation_folder(_DATA.value), target)
    saved_rates, _ = metrics.fooling_rates(tf.constant(saved), target, cached)
    lite_rates, _ = metrics.fooling_rates(tf.constant(lite), target, cached)
    difference = 100 * abs(lite_rates.mean() - saved_rates.mean())
    print(
        f"{source.target_name}, {len(cached)} images, {_SAMPLES.value} z: SavedModel {100 * saved_rates.mean():.2f}%, "
        f"TFLite ({_QUANTIZE.value}) {100 * lite_rates.mean():.2f}%, max |δ difference| "
        f"{np.abs(lite - saved).max():.4f}"
    )
    print(
        json.dumps(
            {
                "quantize": _QUANTIZE.value,
                "images": len(cached),
                "samples": _SAMPLES.value,
                "saved_model_fr": round(float(saved_rates.mean()), 4),
                "tflite_fr": round(float(lite_rates.mean()), 4),
                "difference_points": round(float(difference), 2),
                "max_abs_delta_difference": round(float(np.abs(lite - saved).max()), 4),
            }
        )
    )


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
