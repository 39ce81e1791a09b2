r"""How close NAG's training step comes to its necessary cost.

  python bench/train_step.py --target=mobilenet_v2 --batch=32

Times, in one process after warm-up (median of --repeats):
  a: the bare target's forward + gradient w.r.t. its input on a batch of B,
  g: the generator's forward + backward for B latent vectors,
  s: NAG's full training step as `fit` runs it (per-batch times from a callback).
The limit is L = 2a + g (X_A and X_S through the target, the generator once;
clean labels are cached, so the benign batch costs nothing per step).
Last line: JSON with ratio = s / (2a + g) and target_share = 2a / s.
"""

import json
import resource
import statistics
import time

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_TARGET = flags.DEFINE_string("target", "mobilenet_v2", "Target.")
_WEIGHTS = flags.DEFINE_string("weights", "none", "Weights (timing does not depend on them).")
_BATCH = flags.DEFINE_integer("batch", 32, "Batch size B.")
_GENERATOR = flags.DEFINE_string("generator", "paper", "Generator variant.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed repeats (median).")
_JIT = flags.DEFINE_bool("jit_compile", False, "XLA for all three measurements.")
_MIXED = flags.DEFINE_string("mixed_precision", "", "Keras dtype policy, e.g. mixed_float16 (GPU) or mixed_bfloat16.")


def _median_seconds(function, repeats):
    function()  # warm-up (tracing)
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _main(argv):
    del argv
    import keras
    import tensorflow as tf

    import keras_apps
    from nag_tf.core.generator import build_generator
    from nag_tf.core.loss_config import LossConfig
    from nag_tf.core.model import NAGModel

    if _MIXED.value:
        keras.mixed_precision.set_global_policy(_MIXED.value)
    batch = _BATCH.value
    target = keras_apps.load_target(_TARGET.value, _WEIGHTS.value)
    size = target.image_size
    images = tf.random.uniform([batch, size, size, 3], 0, 255, seed=1)

    @tf.function(jit_compile=_JIT.value)
    def target_forward_and_input_gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(target(x).probs[:, 0])
        return tape.gradient(loss, x)

    generator = build_generator(size, 10, 10.0, _GENERATOR.value, seed=0)
    z = tf.random.uniform([batch, 10], -1, 1, seed=2)

    @tf.function(jit_compile=_JIT.value)
    def generator_forward_and_backward(z):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(generator(z, training=True))
        return tape.gradient(loss, generator.trainable_variables)

    a = _median_seconds(lambda: target_forward_and_input_gradient(images).numpy(), _REPEATS.value)
    g = _median_seconds(lambda: [v.numpy() for v in generator_forward_and_backward(z)], _REPEATS.value)

    model = NAGModel(generator, target, LossConfig(), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=_JIT.value)
    model.optimizer.build(generator.trainable_variables)
    labels = tf.zeros([batch], tf.int32)
    dataset = tf.data.Dataset.from_tensors((tf.cast(images, tf.uint8), labels)).repeat()

    class BatchTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_begin(self, batch_index, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch_index, logs=None):
            float(logs["loss"])  # wait for the step's result
            self.times.append(time.perf_counter() - self.start)

    timer = BatchTimer()
    model.fit(dataset, steps_per_epoch=2 + _REPEATS.value, epochs=1, verbose=0, callbacks=[timer])
    s = statistics.median(timer.times[2:])
    limit = 2 * a + g
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"target {_TARGET.value}, generator {_GENERATOR.value}, batch {batch}, {size} px, jit {_JIT.value}, policy "
        f"{_MIXED.value or 'float32'}"
    )
    print(f"a  target forward + input gradient : {a:8.3f} s")
    print(f"g  generator forward + backward    : {g:8.3f} s")
    print(f"s  NAG training step (fit)         : {s:8.3f} s")
    print(
        f"limit 2a + g = {limit:.3f} s; ratio s / (2a + g) = {s / limit:.3f}; target share 2a / s = {2 * a / s:.3f}; "
        f"peak RSS {peak_mb:.0f} MB"
    )
    print(
        json.dumps(
            {
                "target": _TARGET.value,
                "generator": _GENERATOR.value,
                "batch": batch,
                "jit_compile": _JIT.value,
                "policy": _MIXED.value or "float32",
                "a_s": round(a, 4),
                "g_s": round(g, 4),
                "s_s": round(s, 4),
                "ratio": round(s / limit, 3),
                "target_share": round(2 * a / s, 3),
                "peak_rss_mb": round(peak_mb),
            }
        )
    )


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
