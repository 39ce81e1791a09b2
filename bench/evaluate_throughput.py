r"""Evaluation throughput for one delta vs. the target's bare inference, same images, same batch size.

  python bench/evaluate_throughput.py --target=efficientnet_lite0 --data=demo --batch=32

`evaluate` must cost no more than inference: ratio = images/s of
`metrics.fooling_rates` for one perturbation / images/s of the target's
top-1 prediction on the clean images (both from the same cached uint8
images). Last line: JSON with `ratio`.
"""

import json
import statistics
import time

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_TARGET = flags.DEFINE_string("target", "efficientnet_lite0", "Target.")
_WEIGHTS = flags.DEFINE_string("weights", "imagenet", "Weights.")
_DATA = flags.DEFINE_string("data", "demo", "Image folder with labels.csv, or demo (its held-out part).")
_BATCH = flags.DEFINE_integer("batch", 32, "Batch size.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed repeats (median).")


def _main(argv):
    del argv
    import tensorflow as tf

    import keras_apps
    from nag_tf.evaluation import metrics
    from nag_tf.inputs import batches, data

    target = keras_apps.load_target(_TARGET.value, _WEIGHTS.value)
    cached = batches.load_folder(data.evaluation_folder(_DATA.value), target, _BATCH.value)
    delta = tf.random.uniform([1, target.image_size, target.image_size, 3], -10, 10, seed=0)

    def bare():
        for start in range(0, len(cached), _BATCH.value):
            target.predict_labels(tf.convert_to_tensor(cached.images[start : start + _BATCH.value])).numpy()

    def evaluate_one_delta():
        metrics.fooling_rates(delta, target, cached, _BATCH.value)

    def median(function):
        function()
        times = []
        for _ in range(_REPEATS.value):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    bare_s, eval_s = median(bare), median(evaluate_one_delta)
    bare_ips, eval_ips = len(cached) / bare_s, len(cached) / eval_s
    print(
        f"{_TARGET.value}, {len(cached)} images, batch {_BATCH.value}: bare inference {bare_ips:.1f} img/s, evaluate "
        f"(one δ) {eval_ips:.1f} img/s"
    )
    print(
        json.dumps(
            {
                "target": _TARGET.value,
                "images": len(cached),
                "batch": _BATCH.value,
                "bare_images_per_s": round(bare_ips, 1),
                "evaluate_images_per_s": round(eval_ips, 1),
                "ratio": round(eval_ips / bare_ips, 3),
            }
        )
    )


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
