r"""Train an SGD-UAP universal perturbation, a baseline NAG is compared with.

  python -m nag_tf.baselines.sgd_uap --target=efficientnet_lite0 --data_dir=demo --out=runs/sgd_uap/uap.npy

The saved `.npy` (with a `.json` of xi and target beside it) is accepted by
`python -m nag_tf.evaluate --sources=...` in place of a generator.
"""

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit
from nag_tf.methods import baseline_flags

baseline_flags.define_flags("sgd_uap")


def _main(argv):
    del argv
    from nag_tf.methods import baseline_run

    baseline_run.run_baseline(baseline_flags.job_from_flags(flags.FLAGS, "sgd_uap"))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
