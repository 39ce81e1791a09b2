r"""Top-1 / top-5 accuracy of a target on an image folder with labels.csv.

  python bench/target_accuracy.py --target=efficientnet_lite0 --data=../shared/data/imagenet-sample

Last line: one JSON object with `top1` and `top5` (fractions).
"""

import json
import time

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_TARGET = flags.DEFINE_string("target", "efficientnet_lite0", "Target name.")
_WEIGHTS = flags.DEFINE_string("weights", "imagenet", "imagenet, none or a weights file.")
_DATA = flags.DEFINE_string("data", None, "Image folder with labels.csv.")
_BATCH = flags.DEFINE_integer("batch_size", 32, "Batch size.")


def _main(argv):
    import numpy as np
    import tensorflow as tf

    import keras_apps
    from nag_tf.errors import NAGError
    from nag_tf.inputs import data

    if not _DATA.value:
        raise NAGError("--data is required: an image folder with labels.csv")
    target = keras_apps.load_target(_TARGET.value, _WEIGHTS.value)
    records = data.read_image_folder(_DATA.value, target.spec.num_classes)
    logits_fn = tf.function(lambda x: target(x).logits, reduce_retracing=True)
    top1 = top5 = count = 0
    start = time.perf_counter()
    for images, labels, _ in data.decode_records(records, target.image_size).batch(_BATCH.value):
        keep = labels.numpy() >= 0
        top = tf.math.top_k(logits_fn(tf.cast(images, tf.float32)), 5).indices.numpy()[keep]
        labels = labels.numpy()[keep]
        top1 += int(np.sum(top[:, 0] == labels))
        top5 += int(np.sum(np.any(top == labels[:, None], axis=1)))
        count += len(labels)
    seconds = time.perf_counter() - start
    if not count:
        raise NAGError("no labelled image could be read")
    print(
        f"{_TARGET.value}: top-1 {top1 / count:.4f}, top-5 {top5 / count:.4f} on {count} images "
        f"({len(records) - count} skipped) in {seconds:.1f} s"
    )
    print(
        json.dumps(
            {"target": _TARGET.value, "images": count, "top1": round(top1 / count, 4), "top5": round(top5 / count, 4)}
        )
    )


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
