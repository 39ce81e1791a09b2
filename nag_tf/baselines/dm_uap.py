r"""Train a DM-UAP universal perturbation (Zhang et al., AAAI 2025): dynamic model-data pairs.

  python -m nag_tf.baselines.dm_uap --target=efficientnet_lite0 --data_dir=demo --time_budget_s=600 \
      --out=runs/dm_uap/uap.npy

Defaults are the authors', declared by nag_tf.methods.dm_uap.Settings (batch 125, rho 4, image radius 25 on
[0, 1] = 6375 on 0-255, 10 weight and 10 image steps, label smoothing 0.2, beta 9, AdamW lr 0.1 on [0, 1] =
25.5 on 0-255), with the ramp over --steps (theirs: 80, 20 epochs of 500 photos; with --time_budget_s it
follows the seconds). A step costs (weight_steps + image_steps + 1) x batch images through the target, so on a
CPU budget a smaller batch and fewer inner steps buy more steps. The saved `.npy` (with its `.json`) is a
source for `python -m nag_tf.evaluate --sources=...`.
"""

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit
from nag_tf.methods import baseline_flags

baseline_flags.define_flags("dm_uap")


def _main(argv):
    del argv
    from nag_tf.methods import baseline_run

    baseline_run.run_baseline(baseline_flags.job_from_flags(flags.FLAGS, "dm_uap"))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
