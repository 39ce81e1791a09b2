r"""Train an SGA universal perturbation (Liu et al., ICCV 2023), the strongest single-perturbation baseline.

  python -m nag_tf.baselines.sga --target=efficientnet_lite0 --data_dir=demo --time_budget_s=600 --out=runs/sga/uap.npy

Defaults are the authors', declared by nag_tf.methods.sga.Settings (batch 250, minibatch 10, K = 4 inner passes, step
0.1 xi, beta = 9). The saved `.npy` (with a `.json` beside it) is accepted by
`python -m nag_tf.evaluate --sources=...` in place of a generator.
"""

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit
from nag_tf.methods import baseline_flags

baseline_flags.define_flags("sga")


def _main(argv):
    del argv
    from nag_tf.methods import baseline_run

    baseline_run.run_baseline(baseline_flags.job_from_flags(flags.FLAGS, "sga"))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
