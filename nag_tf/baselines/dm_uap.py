r"""Train a DM-UAP universal perturbation (Zhang et al., AAAI 2025): dynamic model-data pairs.

  python -m nag_tf.baselines.dm_uap --target=efficientnet_lite0 --data_dir=demo --time_budget_s=600 \
      --out=runs/dm_uap/uap.npy

Defaults are the authors' (batch 125, rho 4, image radius 25 on [0, 1] = 6375 on 0-255, 10 weight and
10 image steps, label smoothing 0.2, beta 9, AdamW lr 0.1 on [0, 1] = 25.5 on 0-255), with the ramp over
--steps (theirs: 80, 20 epochs of 500 photos; with --time_budget_s it follows the seconds). A step costs
(weight_steps + image_steps + 1) x batch images through the target, so on a CPU budget a smaller batch
and fewer inner steps buy more steps. The saved `.npy` (with its `.json`) is a source for
`python -m nag_tf.evaluate --sources=...`.
"""

import functools

from absl import app, flags

from nag_tf.baselines import baseline_flags
from nag_tf.core.loss_config import AUTHORS_PAIRS
from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

baseline_flags.define_shared_flags()
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 125, "Images per step (the authors': 125).")
_RHO = flags.DEFINE_float(
    "rho",
    AUTHORS_PAIRS.rho,
    "Largest L2 move of the classifier's weights, at full ramp (the authors': 4, for VGG-19's 143M parameters; "
    "scale by sqrt(parameters / 143M): 0.73 for EfficientNet-Lite0, docs/evaluation.md).",
)
_IMAGE_RADIUS = flags.DEFINE_float(
    "image_radius",
    AUTHORS_PAIRS.image_radius,
    "Largest L2 move of each photo on the 0-255 scale, at full ramp (25 on [0, 1]).",
)
_WEIGHT_STEPS = flags.DEFINE_integer(
    "weight_steps", AUTHORS_PAIRS.weight_steps, "Normalised-gradient steps of the weights (the authors')."
)
_IMAGE_STEPS = flags.DEFINE_integer(
    "image_steps", AUTHORS_PAIRS.image_steps, "L2 PGD steps of the photos (the authors')."
)
_SMOOTHING = flags.DEFINE_float("smoothing", 0.2, "Label smoothing of the weights' loss (the authors': 0.2).")
_BETA = flags.DEFINE_float("beta", 9.0, "Clamp of the cross-entropy (the authors': 9).")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 25.5, "AdamW step on the 0-255 scale (0.1 on [0, 1]).")


def _main(argv):
    del argv
    from nag_tf.baselines import dm_uap_lib, run_lib

    own = dict(
        batch_size=_BATCH_SIZE.value,
        rho=_RHO.value,
        image_radius=_IMAGE_RADIUS.value,
        weight_steps=_WEIGHT_STEPS.value,
        image_steps=_IMAGE_STEPS.value,
        smoothing=_SMOOTHING.value,
        beta=_BETA.value,
        learning_rate=_LEARNING_RATE.value,
    )
    dm_uap_lib.check_options(**own)
    run = baseline_flags.run_from_flags(flags.FLAGS, "dm_uap")
    run_lib.run_baseline(run, functools.partial(dm_uap_lib.train_dm_uap, **own), min(_BATCH_SIZE.value, 64))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
