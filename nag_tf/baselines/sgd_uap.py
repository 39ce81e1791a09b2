r"""Train an SGD-UAP universal perturbation, the baseline NAG is compared with.

  python -m nag_tf.baselines.sgd_uap --target=efficientnet_lite0 --data_dir=demo --out=runs/sgd_uap/uap.npy

The saved `.npy` (with a `.json` of xi and target beside it) is accepted by
`python -m nag_tf.evaluate --sources=...` in place of a generator.
"""

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_TARGET = flags.DEFINE_string("target", "efficientnet_lite0", "Target classifier.")
_WEIGHTS = flags.DEFINE_string("weights", "imagenet", "'imagenet', 'none' or a weights file.")
_DATA_DIR = flags.DEFINE_string("data_dir", "demo", "Training image folder ('demo' = the bundled demo set).")
_XI = flags.DEFINE_float("xi", 10.0, "Budget on the 0-255 scale: L-inf, or the L2 radius with --norm=l2.")
_NORM = flags.DEFINE_enum("norm", "linf", ["linf", "l2"], "Budget norm: linf (signed steps, clip) or l2 (normalised steps, projection onto the ball).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Batch size.")
_STEPS = flags.DEFINE_integer("steps", 200, "Training steps.")
_BUDGET = flags.DEFINE_float("time_budget_s", 0.0, "Stop after this many seconds (0: no limit).")
_STEP_FRACTION = flags.DEFINE_float("step_fraction", 0.8, "Signed step size as a fraction of xi.")
_BETA = flags.DEFINE_float("beta", 12.0, "Clamp of the cross-entropy.")
_STEP_DECAY = flags.DEFINE_float("step_decay", 0.8, "Step size factor per pass over the data (1 = constant, as the public SGD-UAP code).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the data order.")
_OUT = flags.DEFINE_string("out", "runs/sgd_uap/uap.npy", "Output .npy path.")


def _main(argv):
    del argv
    from nag_tf.errors import NAGError

    if not 0 < _XI.value <= (255 if _NORM.value == "linf" else 1e6):
        raise NAGError(f"--xi={_XI.value} is outside (0, 255]" if _NORM.value == "linf" else f"--xi={_XI.value} must be a positive L2 radius")
    if _STEPS.value < 1 or _BATCH_SIZE.value < 1 or _STEP_FRACTION.value <= 0 or _BETA.value <= 0 or not 0 < _STEP_DECAY.value <= 1:
        raise NAGError("--steps, --batch_size, --step_fraction and --beta must be positive, --step_decay in (0, 1]")
    if not _OUT.value.endswith(".npy"):
        raise NAGError(f"--out={_OUT.value!r} must end with .npy")
    import keras_apps
    from nag_tf import data
    from nag_tf.baselines import sgd_uap_lib

    target = keras_apps.load_target(_TARGET.value, _WEIGHTS.value)
    cached = data.load_folder(data.training_folder(_DATA_DIR.value), target, _BATCH_SIZE.value, "training images")
    perturbation, steps, seconds = sgd_uap_lib.train_sgd_uap(
        target, cached, _XI.value, _BATCH_SIZE.value, _STEPS.value, _BUDGET.value, _STEP_FRACTION.value, _BETA.value, _SEED.value,
        step_decay=_STEP_DECAY.value, norm=_NORM.value,
    )
    sgd_uap_lib.save_perturbation(perturbation, _OUT.value, _XI.value, _TARGET.value, _NORM.value)
    print(f"SGD-UAP: {steps} steps in {seconds:.0f} s; saved {_OUT.value}")


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
