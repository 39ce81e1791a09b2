r"""Does a detector trained on one NAG run's samples detect universal perturbations, or that run's pattern?

  python bench/defence_detector_check.py --workdir=runs/defend --steps=100

Reads a `nag_tf.defend` workdir (its split, its NAG training source, its unseen NAG run), trains a detector
on the NAG source's samples exactly as the comparison does (its seeds, steps, batch and learning rate) and
scores it on the held-out photos against fresh samples of the same generator and against the NAG of another
seed. Also prints each source's mean |delta|, high-pass energy and the samples' mean pairwise cosine.
Last line: one JSON object.
"""

import json
import os

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_WORKDIR = flags.DEFINE_string("workdir", None, "A nag_tf.defend workdir (split/, sources/nag, unseen/nag).")
_TARGET = flags.DEFINE_string("target", "efficientnet_lite0", "The target the comparison ran against.")
_STEPS = flags.DEFINE_integer("steps", 100, "Detector steps (the comparison's --defence_steps).")
_BATCH = flags.DEFINE_integer("batch_size", 16, "Photos a step (the comparison's --defence_batch).")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 1e-3, "Adam's learning rate (the comparison's).")
_SEED = flags.DEFINE_integer("seed", 0, "The comparison's --seed.")


def _main(argv):
    del argv
    import numpy as np
    import tensorflow as tf

    import keras_apps
    from nag_tf import seeds
    from nag_tf.defence import compare, draws, measures
    from nag_tf.defence.defence_options import DefenceOptions
    from nag_tf.errors import NAGError
    from nag_tf.evaluation import sources
    from nag_tf.inputs import batches

    workdir = _WORKDIR.value
    if not workdir or not os.path.isdir(os.path.join(workdir, "sources", "nag")):
        raise NAGError(f"--workdir={workdir!r} is not a nag_tf.defend workdir with a NAG source (sources/nag)")
    target = keras_apps.load_target(_TARGET.value, "imagenet")
    train = batches.load_folder(os.path.join(workdir, "split", "train"), target, 32, "training photos")
    held_out = batches.load_folder(os.path.join(workdir, "split", "holdout"), target, 32, "held-out photos")
    own = sources.load_source(os.path.join(workdir, "sources", "nag"))
    other = sources.load_source(os.path.join(workdir, "unseen", "nag"))
    options = DefenceOptions(
        defence_steps=_STEPS.value, defence_batch=_BATCH.value, learning_rate=_LEARNING_RATE.value
    ).validate()
    nag_draws = draws.GeneratorSamples(own.generator, seeds.derive(_SEED.value, "defence_draws"))
    detector, fitted = compare.train_detector(target.image_size, train, options, nag_draws, _SEED.value)
    clean = measures.detector_scores(detector, held_out.images)

    def described(perturbations):
        flat = perturbations.reshape(len(perturbations), -1)
        unit = flat / np.linalg.norm(flat, axis=1, keepdims=True)
        pairs = np.triu_indices(len(flat), 1)
        residual = perturbations - tf.nn.avg_pool2d(perturbations, 3, 1, "SAME").numpy()
        return {
            "mean_abs": round(float(np.abs(perturbations).mean()), 3),
            "high_pass": round(float(np.abs(residual).mean()), 3),
            "pairwise_cos": round(float((unit @ unit.T)[pairs].mean()), 3) if len(flat) > 1 else None,
        }

    result = {"training": {name: round(value, 4) for name, value in fitted.items()}}
    for name, source in (("own_generator", own), ("nag_other_seed", other)):
        samples = np.asarray(source.sample(10, 1000), np.float32)  # numbers the training draws did not use
        scores = measures.detector_scores(detector, held_out.images, samples)
        result[name] = measures.detection(clean, scores) | described(samples)
        print(f"{name}: {result[name]}")
    print(json.dumps(result))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
