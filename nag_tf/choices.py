"""Every closed choice of a training run, defined once, without importing TensorFlow.

The flags (`train_flags`, which must stay instant for `--help`), the config's
validation and the modules that act on a choice (generator, losses, data,
distribute, callbacks) all read these tuples; none keeps a copy of its own
(`tests/test_choices.py` checks the flags by identity of content).
"""

__all__ = [
    "DIVERSITY_DISTANCES",
    "FEATURE_LOSSES",
    "FOOLING_LOSSES",
    "FOOLING_REDUCTIONS",
    "GENERATOR_VARIANTS",
    "HARDEN_SCHEMES",
    "LEARNING_RATE_SCHEDULES",
    "LINF_OUTPUTS",
    "MIXED_PRECISION_POLICIES",
    "NORMS",
    "PERTURBATION_SIMILARITIES",
    "RESIZE_MODES",
    "SHUFFLE_MODES",
    "STRATEGIES",
    "VERBOSITY",
]

# The generator (generator.py).
GENERATOR_VARIANTS = ("paper", "reference", "light", "light_resize")
NORMS = ("linf", "l2")
# How the raw output becomes a perturbation within the L-inf budget: the paper's xi * tanh, or ours
# (the same tanh with a floor under its gradient, or a rescaling by the largest magnitude).
LINF_OUTPUTS = ("tanh", "tanh_floor", "rescale")

# The losses (losses.py): the paper's first, then the reference code's or ours.
FOOLING_LOSSES = ("paper", "clamped_ce", "logit_margin")
FOOLING_REDUCTIONS = ("per_sample", "batch_mean")
DIVERSITY_DISTANCES = ("cosine", "squared_l2")
SHUFFLE_MODES = ("derangement", "replacement")
# What the similarity penalty on pairs of perturbations grows with (losses.similarity_penalty).
PERTURBATION_SIMILARITIES = ("cosine", "chord")
# A mid-layer feature loss beside the fooling loss (losses.feature_loss): none (the paper), or ours after
# BIA / FG-UAP (cosine) and LTP (mse).
FEATURE_LOSSES = ("none", "cosine", "mse")

# Data (data.py): shorter side + centre crop, or the reference code's plain resize.
RESIZE_MODES = ("crop", "stretch")

# Optimisation and devices (callbacks.py, distribute.py, train_lib.py).
LEARNING_RATE_SCHEDULES = ("constant", "cosine")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
MIXED_PRECISION_POLICIES = ("", "float32", "mixed_float16", "mixed_bfloat16")
VERBOSITY = ("0", "1", "2")

# What perturbs the fine-tuning images in nag_tf.harden (harden_model.py): NAG samples, one SGA
# perturbation, K of them in turn, universal adversarial training, nothing (the control).
HARDEN_SCHEMES = ("nag", "sga", "sga_set", "uat", "none")
