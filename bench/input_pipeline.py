r"""Does the input pipeline keep up? Images/s it delivers vs. images/s the training step consumes.

  python bench/input_pipeline.py --target=efficientnet_lite0 --data=../shared/data/imagenet-sample --batch=32

Measures (1) decoding JPEG folders (read, decode, resize, crop: the one-time
pass), (2) the training pipeline the step actually reads (batches gathered
from the decoded cache, with z and shuffle seeds), and (3) the training
step's own consumption (images/s of NAG's step with the light generator).
Last line: JSON with `ratio` = training pipeline images/s / step images/s.
"""

import json
import time

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_TARGET = flags.DEFINE_string("target", "efficientnet_lite0", "Target (its input size and step cost).")
_DATA = flags.DEFINE_string("data", "demo", "Image folder (demo = the bundled training photos).")
_BATCH = flags.DEFINE_integer("batch", 32, "Batch size.")
_GENERATOR = flags.DEFINE_string("generator", "light", "Generator variant of the step.")
_STEPS = flags.DEFINE_integer("steps", 4, "Timed training steps.")


def _main(argv):
    del argv
    import keras
    import tensorflow as tf

    import keras_apps
    from nag_tf.core.generator import build_generator
    from nag_tf.core.loss_config import LossConfig
    from nag_tf.core.model import NAGModel
    from nag_tf.inputs import batches, data

    target = keras_apps.load_target(_TARGET.value, "none")
    records = data.read_image_folder(data.training_folder(_DATA.value), target.spec.num_classes)
    start = time.perf_counter()
    decoded = sum(
        1
        for _ in data.decode_records(records, target.image_size)
        .batch(_BATCH.value)
        .prefetch(tf.data.AUTOTUNE)
        .unbatch()
    )
    decode_ips = decoded / (time.perf_counter() - start)
    cached = batches.cache_with_clean_labels(
        data.decode_records(records, target.image_size), target, _BATCH.value, records, "images"
    )

    batches = batches.training_batches(cached, _BATCH.value, seed=0, latent_dim=10)
    iterator = iter(batches)
    next(iterator)
    count = 50
    start = time.perf_counter()
    for _ in range(count):
        next(iterator)
    pipeline_ips = count * _BATCH.value / (time.perf_counter() - start)

    generator = build_generator(target.image_size, 10, 10.0, _GENERATOR.value, seed=0)
    model = NAGModel(generator, target, LossConfig(), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.optimizer.build(generator.trainable_variables)
    model.fit(batches, steps_per_epoch=2, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(batches, steps_per_epoch=_STEPS.value, epochs=1, verbose=0)
    step_ips = _STEPS.value * _BATCH.value / (time.perf_counter() - start)
    print(f"decode JPEG folder (one-time pass): {decode_ips:8.1f} images/s")
    print(f"training pipeline (from the cache): {pipeline_ips:8.1f} images/s")
    print(
        f"training step consumes:             {step_ips:8.1f} images/s  ({_TARGET.value}, {_GENERATOR.value} "
        f"generator, batch {_BATCH.value})"
    )
    print(
        json.dumps(
            {
                "target": _TARGET.value,
                "batch": _BATCH.value,
                "decode_images_per_s": round(decode_ips, 1),
                "pipeline_images_per_s": round(pipeline_ips, 1),
                "step_images_per_s": round(step_ips, 1),
                "ratio": round(pipeline_ips / step_ips, 1),
                "decode_ratio": round(decode_ips / step_ips, 1),
            }
        )
    )


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
