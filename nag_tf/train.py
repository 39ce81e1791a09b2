r"""Train a NAG generator against a frozen classifier.

Example (paper setup on a connected GPU machine):

  python -m nag_tf.train --flagfile=vgg19.flags \
      --data_dir=/data/imagenet-10-per-class --logdir=runs/vgg19

Offline demo on CPU:

  python -m nag_tf.train --flagfile=quickstart.flags

Re-running the same command resumes from the last checkpoint in --logdir.
Bad flags print one line and exit with code 2.
"""

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit
from nag_tf.training import train_flags
from nag_tf.training.train_flags import config_from_flag_values, define_train_flags

define_train_flags(flags.FLAGS)
flags.adopt_module_key_flags(train_flags)  # --help lists them as this binary's own flags


def config_from_flags():
    return config_from_flag_values(flags.FLAGS)


def _main(argv):
    del argv
    config = config_from_flags()
    config.validate()  # before any data or model is loaded
    import tensorflow as tf

    from nag_tf.training import train_lib

    tf.get_logger().setLevel("WARNING")  # keep TensorFlow's INFO chatter out of the progress bar

    result = train_lib.train(config)
    print(
        f"trained {result.steps} steps ({result.optimisation_seconds:.0f} s of optimisation); best generator: "
        f"{result.best_weights}"
    )
    what = result.rate_name.replace("_", " ")
    for member, rate in result.per_target.items():
        print(f"held-out {what} on {member}: {100 * rate:.1f}%")
    # The held-out images played no part in choosing the generator (that was the selection images).
    low, high = result.heldout_interval
    print(
        f"held-out {what}: {100 * result.heldout_fooling_rate:.1f}% ± {100 * result.heldout_fooling_rate_std:.1f} "
        f"over {config.eval_samples} sampled perturbations, on {result.heldout_images} photos that did not choose "
        f"the generator (95% interval over those photos: {100 * low:.1f}–{100 * high:.1f}%); "
        f"pairwise cosine of those perturbations: {result.pairwise_cosine:.3f}"
    )


def main(argv):
    run_or_exit(_main, argv)


def run():
    """Console-script entry point (`nag-train`)."""
    app.run(main, flags_parser=parse_flags_or_exit)


if __name__ == "__main__":
    run()
