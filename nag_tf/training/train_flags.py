"""The training flags, defined once for the binary and for anything that reads a training flagfile.

Every flag has the name of a `TrainConfig` field, so turning parsed flags into
a config is a loop rather than a list to keep in sync.

Long (over 300 lines) because it is the list itself: one definition and help text a flag, each
saying what it is and whether it is the paper's, the reference code's or ours; split up, the list a
user reads with --helpfull would be scattered.
"""

import dataclasses

from absl import flags

from nag_tf import choices
from nag_tf.core.loss_config import AUTHORS_PAIRS, LITE0_PAIRS

__all__ = ["define_train_flags", "config_from_flag_values", "config_from_flagfile"]


def define_train_flags(flag_values=flags.FLAGS):
    """Defines the training flags on `flag_values` (absl's global FLAGS by default)."""
    flags.DEFINE_string(
        "target",
        "vgg19",
        "Target classifier (see keras_apps.known_targets()) or a .keras file / SavedModel directory (with "
        "--preprocess), or several separated by commas: an ensemble.",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "preprocess",
        "",
        "For a --target that is a .keras file or SavedModel directory: what it expects of 0-255 RGB input, "
        "caffe | tf | torch | lite | none | scale=A,B (x * A + B). Required there (no silent default); "
        "registered targets know their own.",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "target_weights",
        "",
        "Ensemble: one loss weight per target, e.g. 1,0.5 (default: 1 each).",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "target_class",
        "",
        "Targeted NAG: push images towards this class (index or name, e.g. 9 or ostrich); empty = untargeted.",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "weights", "imagenet", "'imagenet', 'none' (random, for tests) or a weights file path.", flag_values=flag_values
    )
    flags.DEFINE_string(
        "data_dir",
        None,
        "Image folder with labels.csv, class sub-folders or plain images; 'demo' = the bundled demo set.",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "holdout_dir", None, "Held-out image folder; default: split --holdout off --data_dir.", flag_values=flag_values
    )
    flags.DEFINE_float("holdout", 0.1, "Held-out fraction (<1) or count (>=1) of --data_dir.", flag_values=flag_values)
    flags.DEFINE_string(
        "tfds_name", None, "tfds dataset instead of --data_dir, e.g. imagenet2012.", flag_values=flag_values
    )
    flags.DEFINE_string("tfds_split", "train", "tfds training split.", flag_values=flag_values)
    flags.DEFINE_string(
        "tfds_holdout_split", None, "tfds held-out split, e.g. 'validation[:1000]'.", flag_values=flag_values
    )
    flags.DEFINE_string("tfds_data_dir", None, "tfds data directory.", flag_values=flag_values)
    flags.DEFINE_integer(
        "per_class", 0, "Images per class from tfds (paper: 10); 0 = no limit.", flag_values=flag_values
    )
    flags.DEFINE_integer("max_images", 0, "Use at most this many images; 0 = all.", flag_values=flag_values)
    flags.DEFINE_enum(
        "resize",
        "crop",
        list(choices.RESIZE_MODES),
        "crop: shorter side + centre crop; stretch: reference code.",
        flag_values=flag_values,
    )
    flags.DEFINE_float("xi", 10.0, "L-inf budget on the 0-255 scale (paper: 10).", flag_values=flag_values)
    flags.DEFINE_enum(
        "norm",
        "linf",
        list(choices.NORMS),
        "Budget norm: linf (paper; delta = xi tanh) or l2 (delta scaled onto the L2 ball of radius xi).",
        flag_values=flag_values,
    )
    flags.DEFINE_enum(
        "linf_output",
        "tanh",
        list(choices.LINF_OUTPUTS),
        "L-inf output: tanh (paper, xi tanh), tanh_floor (ours: the same output; in training, max(tanh', 0.25) "
        "for tanh', so saturated pixels can still flip) or rescale (ours, xi x / max|x|: no saturation).",
        flag_values=flag_values,
    )
    flags.DEFINE_integer("latent_dim", 10, "Size d of z (paper: 10; reference code: 100).", flag_values=flag_values)
    flags.DEFINE_enum(
        "generator",
        "paper",
        list(choices.GENERATOR_VARIANTS),
        "Generator variant.",
        flag_values=flag_values,
    )
    flags.DEFINE_bool(
        "base_perturbation",
        False,
        "Ours (not in the paper): delta = xi tanh(b + g(z)) with b a free tensor shared by every z, so the part all "
        "samples share learns at a single perturbation's speed while g(z) carries the variety.",
        flag_values=flag_values,
    )
    flags.DEFINE_float(
        "base_perturbation_step",
        0.1,
        "Ours: about how far b moves a step, in tanh units (0.1: a pixel by about xi / 10, SGA's step).",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "diversity_layer", "default", "default/softmax, logits, reference, or a layer name.", flag_values=flag_values
    )
    flags.DEFINE_enum(
        "diversity_distance",
        "cosine",
        list(choices.DIVERSITY_DISTANCES),
        "Diversity distance.",
        flag_values=flag_values,
    )
    flags.DEFINE_float("diversity_weight", 1.0, "lambda (paper: 1; reference code: 10).", flag_values=flag_values)
    flags.DEFINE_float(
        "perturbation_diversity_weight",
        0.0,
        "Ours: weight of a penalty on pairs delta, delta[pi] that point the same way (paper: 0).",
        flag_values=flag_values,
    )
    flags.DEFINE_float(
        "perturbation_cosine_margin",
        -1.0,
        "Ours: only pairs with cosine above this margin are penalised (-1: every pair).",
        flag_values=flag_values,
    )
    flags.DEFINE_enum(
        "perturbation_similarity",
        "cosine",
        list(choices.PERTURBATION_SIMILARITIES),
        "Ours: what that penalty grows with: cosine, or chord (2 - |u - u'|, u = delta / |delta|: its gradient keeps "
        "its size at a collapse, where the cosine's vanishes).",
        flag_values=flag_values,
    )
    flags.DEFINE_float(
        "target_pairwise_cosine",
        1.0,
        "Ours: adapt the penalty weight by dual ascent so pairs of deltas have this mean cosine (1 = off, a fixed "
        "weight).",
        flag_values=flag_values,
    )
    flags.DEFINE_float(
        "cosine_dual_rate", 0.5, "Ours: step size of the dual ascent on the penalty weight.", flag_values=flag_values
    )
    flags.DEFINE_float(
        "cosine_dual_max",
        0.0,
        "Ours (anti-windup): the largest penalty weight the dual ascent may reach; 0 = no cap. Against a weight "
        "that grows while the generator is collapsed, then makes the cosine overshoot its target.",
        flag_values=flag_values,
    )
    flags.DEFINE_enum(
        "fooling_loss",
        "paper",
        list(choices.FOOLING_LOSSES),
        "paper: -log(1 - q_c) (stable, from logits); clamped_ce: -min(CE, 9) as SGD-UAP/SGA; logit_margin: "
        "max(z_c - max_{j!=c} z_j, -5), Carlini & Wagner's margin (ours).",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "inner_steps",
        0,
        "Ours, after SGA (Liu et al., ICCV 2023): for each delta, K signed steps of 0.1 xi on random minibatches "
        "of --inner_batch images, starting from it; the sum of those inner gradients is added to what flows back "
        "through the generator. 0: off (the paper). Each step costs K * inner_batch / images_per_perturbation "
        "more target passes per image.",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "inner_batch",
        8,
        "Ours: images per delta in each of the --inner_steps (SGA's minibatch: 10).",
        flag_values=flag_values,
    )
    flags.DEFINE_enum(
        "feature_loss",
        "none",
        list(choices.FEATURE_LOSSES),
        "Ours, for transfer (after BIA, ICLR 2022; FG-UAP; LTP, NeurIPS 2021): a loss at a mid layer that pushes "
        "f(x + delta) away from f(x), added to the fooling loss: cosine (mean cos of the two feature maps) or mse "
        "(minus their squared distance over |f(x)|^2). none: off (the paper). Costs a forward pass of the clean "
        "photos up to the layer.",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "feature_layer",
        "default",
        "Ours: the layer of --feature_loss: default (the target's stride-8 layer: EfficientNet-Lite's stage 3, "
        "VGG's block3_pool, ResNet's conv3 output) or a layer name of the classifier.",
        flag_values=flag_values,
    )
    flags.DEFINE_float(
        "feature_loss_weight",
        1.0,
        "Ours: the weight of --feature_loss beside the fooling loss.",
        flag_values=flag_values,
    )
    flags.DEFINE_bool(
        "dynamic_pairs",
        False,
        "Ours, after DM-UAP (Zhang et al., AAAI 2025): before each step the target's weights move up to --pair_rho "
        "towards lower clean-label loss and the photos up to --pair_image_radius towards more confident clean "
        "predictions (both ramped with the run's progress); the losses are taken there, then the weights are "
        "restored bit for bit. Off: the paper. Single target, one device.",
        flag_values=flag_values,
    )
    flags.DEFINE_float(
        "pair_rho",
        LITE0_PAIRS.rho,
        f"Ours: the largest L2 move of all the target's weights at full ramp (DM-UAP's authors: {AUTHORS_PAIRS.rho:g} "
        f"for VGG-19's 143M parameters; {LITE0_PAIRS.rho:g} keeps the move per parameter for EfficientNet-Lite0's "
        "4.7M, the baseline's screened value).",
        flag_values=flag_values,
    )
    flags.DEFINE_float(
        "pair_image_radius",
        LITE0_PAIRS.image_radius,
        "Ours: the largest L2 move of each photo on the 0-255 scale at full ramp (DM-UAP: 25 on [0, 1]).",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "pair_weight_steps",
        LITE0_PAIRS.weight_steps,
        f"Ours: normalised-gradient steps of the weights (DM-UAP: {AUTHORS_PAIRS.weight_steps}).",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "pair_image_steps",
        LITE0_PAIRS.image_steps,
        f"Ours: L2 PGD steps of the photos (DM-UAP: {AUTHORS_PAIRS.image_steps}).",
        flag_values=flag_values,
    )
    flags.DEFINE_enum(
        "shuffle",
        "derangement",
        list(choices.SHUFFLE_MODES),
        "Shuffle of the perturbations.",
        flag_values=flag_values,
    )
    flags.DEFINE_enum(
        "fooling_reduction",
        "per_sample",
        list(choices.FOOLING_REDUCTIONS),
        "Fooling loss reduction.",
        flag_values=flag_values,
    )
    flags.DEFINE_bool(
        "clip", True, "Clip x + delta to [0, 255] (the reference code does not).", flag_values=flag_values
    )
    flags.DEFINE_float(
        "input_diversity",
        0.0,
        "Ours: probability per step that the target sees x + delta randomly resized and padded (Xie et al., "
        "CVPR 2019), so delta survives resampling: better black-box transfer (0: off, the paper).",
        flag_values=flag_values,
    )
    flags.DEFINE_float(
        "input_diversity_scale",
        1.1,
        "Ours: padded side / image side of that transform (Xie et al.: 330/299 = 1.1).",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "images_per_perturbation",
        1,
        "Ours: training images that share each generated delta in a step (paper: 1). k > 1 generates "
        "batch_size / k deltas: the generator costs k times less per step.",
        flag_values=flag_values,
    )
    flags.DEFINE_float(
        "label_entropy_weight",
        0.0,
        "Ours: weight of -H, H the entropy of the batch's adversarial labels with each image's clean label left "
        "out, so fooled images spread over labels instead of one (0: off, the paper; untargeted only).",
        flag_values=flag_values,
    )
    flags.DEFINE_float(
        "coverage_loss_weight",
        0.0,
        "Ours: weight of the coverage term, the soft minimum over the --coverage_samples perturbations each "
        "photo meets of its fooling loss, so the samples specialise on different photos (0: off, the paper; "
        "untargeted only). Costs --coverage_samples - 1 more passes of the batch through the target.",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "coverage_samples",
        4,
        "Ours: perturbations each photo meets for the coverage term (its own and the next ones of the step); "
        "at least 2, at most --batch_size / --images_per_perturbation.",
        flag_values=flag_values,
    )
    flags.DEFINE_float(
        "coverage_softness",
        1.0,
        "Ours: tau of the coverage term's soft minimum, on the fooling loss's scale (-> 0: the hard minimum).",
        flag_values=flag_values,
    )
    flags.DEFINE_integer("batch_size", 32, "Batch size (paper: 32).", flag_values=flag_values)
    flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate (reference code: 1e-3).", flag_values=flag_values)
    flags.DEFINE_enum(
        "learning_rate_schedule",
        "constant",
        list(choices.LEARNING_RATE_SCHEDULES),
        "constant (paper, reference code) | cosine (ours): from --learning_rate to 0 over the run "
        "(its steps, or --time_budget_s when that ends it first).",
        flag_values=flag_values,
    )
    flags.DEFINE_integer("epochs", 100, "Epochs (paper: up to 100, saturating at 60-70).", flag_values=flag_values)
    flags.DEFINE_integer(
        "steps_per_epoch", 0, "Steps per epoch; 0 = one pass over the images.", flag_values=flag_values
    )
    flags.DEFINE_integer("seed", 0, "Seed of weights, z, shuffles, data order and split.", flag_values=flag_values)
    flags.DEFINE_float(
        "time_budget_s", 0.0, "Stop training after this many seconds (0: no limit).", flag_values=flag_values
    )
    flags.DEFINE_enum(
        "strategy",
        "default",
        list(choices.STRATEGIES),
        "tf.distribute strategy: one device, local GPUs, TF_CONFIG workers, TPU.",
        flag_values=flag_values,
    )
    flags.DEFINE_enum(
        "mixed_precision",
        "",
        list(choices.MIXED_PRECISION_POLICIES),
        "Keras dtype policy: mixed_float16 on GPU (loss scaling; xi stays exact in float32), '' = float32.",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "steps_per_execution",
        1,
        "Training steps per compiled call (fewer Python round trips).",
        flag_values=flag_values,
    )
    flags.DEFINE_bool(
        "jit_compile", False, "XLA: off on CPU (several times slower there), try on GPU.", flag_values=flag_values
    )
    flags.DEFINE_integer(
        "selection_images",
        64,
        "Training images set aside to choose the best epoch (never the held-out images that are reported).",
        flag_values=flag_values,
    )
    flags.DEFINE_float(
        "select_max_cosine",
        -1.0,
        "Best epoch: the most fooling among those with pairwise cosine <= this (-1: 0.5 with a diversity penalty, "
        "else off).",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "logdir", "runs/nag", "TensorBoard logs, checkpoints and the best generator.", flag_values=flag_values
    )
    flags.DEFINE_integer("image_every_steps", 100, "Log perturbation pictures every N steps.", flag_values=flag_values)
    flags.DEFINE_integer(
        "eval_samples", 10, "Sampled perturbations for the final held-out fooling rate.", flag_values=flag_values
    )
    flags.DEFINE_integer("max_bad_steps", 10, "Stop after this many NaN/Inf steps in a row.", flag_values=flag_values)
    flags.DEFINE_enum(
        "verbose",
        "1",
        list(choices.VERBOSITY),
        "Keras progress: 1 = progress bar, 2 = a line per epoch, 0 = quiet.",
        flag_values=flag_values,
    )


def config_from_flag_values(flag_values=flags.FLAGS, **overrides):
    """A TrainConfig from parsed flags; `overrides` replace single fields."""
    from nag_tf.core.config import (
        TrainConfig,  # here, not at the top: it imports Keras, and --help must stay instant
    )

    values = {field.name: flag_values[field.name].value for field in dataclasses.fields(TrainConfig)}
    values["verbose"] = int(values["verbose"])
    values.update(overrides)
    return TrainConfig(**values)


def config_from_flagfile(path, flags_after=(), **overrides):
    """A TrainConfig from a training flagfile, without touching absl's global FLAGS.

    `flags_after`: more flags ("--name=value"), parsed after the file as on a command line;
    `overrides` then replace single fields.
    """
    from nag_tf.flags_util import expand_flagfiles  # here: flags_util imports this module

    flag_values = flags.FlagValues()
    define_train_flags(flag_values)
    flag_values(["flagfile", *(argument for argument, _ in expand_flagfiles([f"--flagfile={path}", *flags_after]))])
    return config_from_flag_values(flag_values, **overrides)
