r"""Train an SGD-UAP universal perturbation, a baseline NAG is compared with.

  python -m nag_tf.baselines.sgd_uap --target=efficientnet_lite0 --data_dir=demo --out=runs/sgd_uap/uap.npy

The saved `.npy` (with a `.json` of xi and target beside it) is accepted by
`python -m nag_tf.evaluate --sources=...` in place of a generator.
"""

import functools

from absl import app, flags

from nag_tf.baselines import baseline_flags
from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

baseline_flags.define_shared_flags()
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Batch size.")
_STEP_FRACTION = flags.DEFINE_float("step_fraction", 0.8, "Signed step size as a fraction of xi.")
_BETA = flags.DEFINE_float("beta", 12.0, "Clamp of the cross-entropy.")
_STEP_DECAY = flags.DEFINE_float(
    "step_decay", 0.8, "Step size factor per pass over the data (1 = constant, as the public SGD-UAP code)."
)


def _main(argv):
    del argv
    from nag_tf.errors import NAGError

    if _BATCH_SIZE.value < 1 or _STEP_FRACTION.value <= 0 or _BETA.value <= 0 or not 0 < _STEP_DECAY.value <= 1:
        raise NAGError("--batch_size, --step_fraction and --beta must be positive, --step_decay in (0, 1]")
    from nag_tf.baselines import run_lib, sgd_uap_lib

    run = baseline_flags.run_from_flags(flags.FLAGS, "sgd_uap")
    train = functools.partial(
        sgd_uap_lib.train_sgd_uap,
        batch_size=_BATCH_SIZE.value,
        step_fraction=_STEP_FRACTION.value,
        beta=_BETA.value,
        step_decay=_STEP_DECAY.value,
    )
    run_lib.run_baseline(run, train, _BATCH_SIZE.value)


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
