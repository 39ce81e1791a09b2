r"""Train an SGA universal perturbation (Liu et al., ICCV 2023), the strongest single-perturbation baseline.

  python -m nag_tf.baselines.sga --target=efficientnet_lite0 --data_dir=demo --time_budget_s=600 --out=runs/sga/uap.npy

Defaults are the authors' (batch 250, minibatch 10, K = 4 inner passes, step
0.1 xi, beta = 9). The saved `.npy` (with a `.json` beside it) is accepted by
`python -m nag_tf.evaluate --sources=...` in place of a generator.
"""

import functools

from absl import app, flags

from nag_tf.baselines import baseline_flags
from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

baseline_flags.define_shared_flags()
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 250, "Images per outer step (the authors': 250).")
_MINIBATCH = flags.DEFINE_integer("minibatch", 10, "Images per inner step (the authors': 10).")
_INNER = flags.DEFINE_integer("inner_iterations", 4, "K: inner passes over the batch per outer step (the authors': 4).")
_STEP_FRACTION = flags.DEFINE_float("step_fraction", 0.1, "Signed step size as a fraction of xi (the authors': 0.1).")
_BETA = flags.DEFINE_float("beta", 9.0, "Clamp of the cross-entropy (the authors': 9).")


def _main(argv):
    del argv
    from nag_tf.errors import NAGError

    if min(_BATCH_SIZE.value, _MINIBATCH.value, _INNER.value) < 1 or _STEP_FRACTION.value <= 0 or _BETA.value <= 0:
        raise NAGError("--batch_size, --minibatch, --inner_iterations, --step_fraction and --beta must be positive")
    if _MINIBATCH.value > _BATCH_SIZE.value:
        raise NAGError(f"--minibatch={_MINIBATCH.value} is larger than --batch_size={_BATCH_SIZE.value}")
    from nag_tf.baselines import run_lib, sga_lib

    run = baseline_flags.run_from_flags(flags.FLAGS, "sga")
    train = functools.partial(
        sga_lib.train_sga,
        batch_size=_BATCH_SIZE.value,
        minibatch=_MINIBATCH.value,
        inner_iterations=_INNER.value,
        step_fraction=_STEP_FRACTION.value,
        beta=_BETA.value,
    )
    run_lib.run_baseline(run, train, min(_BATCH_SIZE.value, 64))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
