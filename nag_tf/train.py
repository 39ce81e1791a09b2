r"""Train a NAG generator against a frozen classifier.

Example (paper setup on a connected GPU machine):

  python -m nag_tf.train --flagfile=configs/vgg19.flags \
      --data_dir=/data/imagenet-10-per-class --logdir=runs/vgg19

Offline demo on CPU:

  python -m nag_tf.train --flagfile=configs/quickstart.flags

Re-running the same command resumes from the last checkpoint in --logdir.
Bad flags print one line and exit with code 2.
"""


from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_TARGET = flags.DEFINE_string("target", "vgg19", "Target classifier (see keras_apps.known_targets()).")
_WEIGHTS = flags.DEFINE_string("weights", "imagenet", "'imagenet', 'none' (random, for tests) or a weights file path.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Image folder with labels.csv, class sub-folders or plain images.")
_HOLDOUT_DIR = flags.DEFINE_string("holdout_dir", None, "Held-out image folder; default: split --holdout off --data_dir.")
_HOLDOUT = flags.DEFINE_float("holdout", 0.1, "Held-out fraction (<1) or count (>=1) of --data_dir.")
_TFDS_NAME = flags.DEFINE_string("tfds_name", None, "tfds dataset instead of --data_dir, e.g. imagenet2012.")
_TFDS_SPLIT = flags.DEFINE_string("tfds_split", "train", "tfds training split.")
_TFDS_HOLDOUT_SPLIT = flags.DEFINE_string("tfds_holdout_split", None, "tfds held-out split, e.g. 'validation[:1000]'.")
_TFDS_DATA_DIR = flags.DEFINE_string("tfds_data_dir", None, "tfds data directory.")
_PER_CLASS = flags.DEFINE_integer("per_class", 0, "Images per class from tfds (paper: 10); 0 = no limit.")
_MAX_IMAGES = flags.DEFINE_integer("max_images", 0, "Use at most this many images; 0 = all.")
_RESIZE = flags.DEFINE_enum("resize", "crop", ["crop", "stretch"], "crop: shorter side + centre crop; stretch: reference code.")
_XI = flags.DEFINE_float("xi", 10.0, "L-inf budget on the 0-255 scale (paper: 10).")
_LATENT_DIM = flags.DEFINE_integer("latent_dim", 10, "Size d of z (paper: 10; reference code: 100).")
_GENERATOR = flags.DEFINE_enum("generator", "paper", ["paper", "reference", "light"], "Generator variant.")
_DIVERSITY_LAYER = flags.DEFINE_string("diversity_layer", "default", "default/softmax, logits, reference, or a layer name.")
_DIVERSITY_DISTANCE = flags.DEFINE_enum("diversity_distance", "cosine", ["cosine", "squared_l2"], "Diversity distance.")
_DIVERSITY_WEIGHT = flags.DEFINE_float("diversity_weight", 1.0, "lambda (paper: 1; reference code: 10).")
_SHUFFLE = flags.DEFINE_enum("shuffle", "derangement", ["derangement", "replacement"], "Shuffle of the perturbations.")
_FOOLING_REDUCTION = flags.DEFINE_enum("fooling_reduction", "per_sample", ["per_sample", "batch_mean"], "Fooling loss reduction.")
_CLIP = flags.DEFINE_bool("clip", True, "Clip x + delta to [0, 255] (the reference code does not).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Batch size (paper: 32).")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate (reference code: 1e-3).")
_EPOCHS = flags.DEFINE_integer("epochs", 100, "Epochs (paper: up to 100, saturating at 60-70).")
_STEPS_PER_EPOCH = flags.DEFINE_integer("steps_per_epoch", 0, "Steps per epoch; 0 = one pass over the images.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of weights, z, shuffles, data order and split.")
_JIT_COMPILE = flags.DEFINE_bool("jit_compile", False, "XLA: off on CPU (several times slower there), try on GPU.")
_LOGDIR = flags.DEFINE_string("logdir", "runs/nag", "TensorBoard logs, checkpoints and the best generator.")
_IMAGE_EVERY_STEPS = flags.DEFINE_integer("image_every_steps", 100, "Log perturbation pictures every N steps.")
_EVAL_SAMPLES = flags.DEFINE_integer("eval_samples", 10, "Sampled perturbations for the final held-out fooling rate.")
_MAX_BAD_STEPS = flags.DEFINE_integer("max_bad_steps", 10, "Stop after this many NaN/Inf steps in a row.")
_VERBOSE = flags.DEFINE_enum("verbose", "1", ["0", "1", "2"], "Keras progress: 1 = progress bar, 2 = a line per epoch, 0 = quiet.")


def config_from_flags():
    from nag_tf.config import TrainConfig

    return TrainConfig(
        target=_TARGET.value,
        weights=_WEIGHTS.value,
        data_dir=_DATA_DIR.value,
        holdout_dir=_HOLDOUT_DIR.value,
        holdout=_HOLDOUT.value,
        tfds_name=_TFDS_NAME.value,
        tfds_split=_TFDS_SPLIT.value,
        tfds_holdout_split=_TFDS_HOLDOUT_SPLIT.value,
        tfds_data_dir=_TFDS_DATA_DIR.value,
        per_class=_PER_CLASS.value,
        max_images=_MAX_IMAGES.value,
        resize=_RESIZE.value,
        xi=_XI.value,
        latent_dim=_LATENT_DIM.value,
        generator=_GENERATOR.value,
        diversity_layer=_DIVERSITY_LAYER.value,
        diversity_distance=_DIVERSITY_DISTANCE.value,
        diversity_weight=_DIVERSITY_WEIGHT.value,
        shuffle=_SHUFFLE.value,
        fooling_reduction=_FOOLING_REDUCTION.value,
        clip=_CLIP.value,
        batch_size=_BATCH_SIZE.value,
        learning_rate=_LEARNING_RATE.value,
        epochs=_EPOCHS.value,
        steps_per_epoch=_STEPS_PER_EPOCH.value,
        seed=_SEED.value,
        jit_compile=_JIT_COMPILE.value,
        logdir=_LOGDIR.value,
        image_every_steps=_IMAGE_EVERY_STEPS.value,
        eval_samples=_EVAL_SAMPLES.value,
        max_bad_steps=_MAX_BAD_STEPS.value,
        verbose=int(_VERBOSE.value),
    )


def _main(argv):
    del argv
    config = config_from_flags()
    config.validate()  # before any data or model is loaded
    import tensorflow as tf

    from nag_tf import train_lib

    tf.get_logger().setLevel("WARNING")  # keep TensorFlow's INFO chatter out of the progress bar

    result = train_lib.train(config)
    print(f"trained {result.steps} steps; best generator: {result.best_weights}")
    print(f"pairwise cosine of sampled perturbations: {result.pairwise_cosine:.3f}")
    print(f"held-out fooling rate: {100 * result.heldout_fooling_rate:.1f}%")


def main(argv):
    run_or_exit(_main, argv)


def run():
    """Console-script entry point (`nag-train`)."""
    app.run(main, flags_parser=parse_flags_or_exit)


if __name__ == "__main__":
    run()
