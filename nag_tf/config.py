"""The typed training configuration: what `nag_tf.train`'s flags turn into.

Library code takes a `TrainConfig` and never reads absl FLAGS, which keeps it
testable. `validate()` names every bad value and how to fix it before any
file is written or any model is built.
"""

import dataclasses
import json
import math
from typing import Optional

from nag_tf import losses
from nag_tf.data import RESIZE_MODES
from nag_tf.distribute import STRATEGIES
from nag_tf.errors import NAGError
from nag_tf.generator import GENERATOR_VARIANTS

__all__ = ["TrainConfig"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every choice of a training run; defaults are the paper's (see NAG-METHOD.md)."""

    # Target classifier.
    target: str = "vgg19"
    weights: str = "imagenet"
    # Data: an image folder, or a tfds dataset.
    data_dir: Optional[str] = None
    holdout_dir: Optional[str] = None
    holdout: float = 0.1
    tfds_name: Optional[str] = None
    tfds_split: str = "train"
    tfds_holdout_split: Optional[str] = None
    tfds_data_dir: Optional[str] = None
    per_class: int = 0
    max_images: int = 0
    resize: str = "crop"
    # Generator.
    xi: float = 10.0
    latent_dim: int = 10
    generator: str = "paper"
    # Losses (paper defaults; the reference code's choices in brackets).
    diversity_layer: str = "default"  # softmax [resnet50: reference = conv4_block6_out]
    diversity_distance: str = "cosine"  # [squared_l2]
    diversity_weight: float = 1.0  # [10]
    shuffle: str = "derangement"  # [replacement]
    fooling_reduction: str = "per_sample"  # [batch_mean]
    clip: bool = True  # [False]
    # Optimisation.
    batch_size: int = 32
    learning_rate: float = 1e-3
    epochs: int = 100
    steps_per_epoch: int = 0  # 0: one pass over the training images
    seed: int = 0
    jit_compile: bool = False
    time_budget_s: float = 0.0  # stop after this many seconds of training (0: no limit)
    strategy: str = "default"  # default | mirrored | multi_worker | tpu
    mixed_precision: str = ""  # "" (float32) | mixed_float16 (GPU, with loss scaling) | mixed_bfloat16
    steps_per_execution: int = 1
    # Monitoring and output.
    logdir: str = "runs/nag"
    image_every_steps: int = 100
    eval_samples: int = 10
    max_bad_steps: int = 10
    verbose: int = 1

    def validate(self):
        """Raises NAGError naming the first bad value and its fix; returns self."""
        from keras_apps import get_spec  # local: keras_apps imports keras

        get_spec(self.target)

        def finite(name, value):
            if not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
                raise NAGError(f"--{name}={value!r} is not a finite number")

        for name in ("xi", "holdout", "diversity_weight", "learning_rate", "time_budget_s"):
            finite(name, getattr(self, name))
        if not 0 < self.xi <= 255:
            raise NAGError(f"--xi={self.xi} is outside (0, 255]: xi is the L-inf budget on the 0-255 scale (paper: 10)")
        checks = (
            (self.latent_dim >= 1, f"--latent_dim={self.latent_dim} must be at least 1 (paper: 10)"),
            (self.batch_size >= 2, f"--batch_size={self.batch_size} must be at least 2 (the shuffle needs two images)"),
            (self.learning_rate > 0, f"--learning_rate={self.learning_rate} must be positive"),
            (self.epochs >= 1, f"--epochs={self.epochs} must be at least 1"),
            (self.steps_per_epoch >= 0, f"--steps_per_epoch={self.steps_per_epoch} must be 0 (one pass) or positive"),
            (self.time_budget_s >= 0, f"--time_budget_s={self.time_budget_s} must be >= 0 (0: no limit)"),
            (self.diversity_weight >= 0, f"--diversity_weight={self.diversity_weight} must be >= 0"),
            (self.holdout > 0, f"--holdout={self.holdout} must be a fraction in (0, 1) or a count >= 1"),
            (self.per_class >= 0, f"--per_class={self.per_class} must be >= 0 (0: no limit)"),
            (self.max_images >= 0, f"--max_images={self.max_images} must be >= 0 (0: no limit)"),
            (self.image_every_steps >= 1, f"--image_every_steps={self.image_every_steps} must be at least 1"),
            (self.eval_samples >= 1, f"--eval_samples={self.eval_samples} must be at least 1"),
            (self.max_bad_steps >= 1, f"--max_bad_steps={self.max_bad_steps} must be at least 1"),
            (self.generator in GENERATOR_VARIANTS, f"--generator={self.generator!r}: expected one of {', '.join(GENERATOR_VARIANTS)}"),
            (self.diversity_distance in losses.DIVERSITY_DISTANCES, f"--diversity_distance={self.diversity_distance!r}: expected one of {', '.join(losses.DIVERSITY_DISTANCES)}"),
            (self.shuffle in losses.SHUFFLE_MODES, f"--shuffle={self.shuffle!r}: expected one of {', '.join(losses.SHUFFLE_MODES)}"),
            (self.fooling_reduction in losses.FOOLING_REDUCTIONS, f"--fooling_reduction={self.fooling_reduction!r}: expected one of {', '.join(losses.FOOLING_REDUCTIONS)}"),
            (self.strategy in STRATEGIES, f"--strategy={self.strategy!r}: expected one of {', '.join(STRATEGIES)}"),
            (self.mixed_precision in ("", "float32", "mixed_float16", "mixed_bfloat16"), f"--mixed_precision={self.mixed_precision!r}: expected '', mixed_float16 or mixed_bfloat16"),
            (self.steps_per_execution >= 1, f"--steps_per_execution={self.steps_per_execution} must be at least 1"),
            (self.resize in RESIZE_MODES, f"--resize={self.resize!r}: expected one of {', '.join(RESIZE_MODES)}"),
            (bool(self.data_dir) != bool(self.tfds_name), "give exactly one data source: --data_dir=FOLDER or --tfds_name=NAME"),
            (bool(self.logdir), "--logdir must name a folder"),
        )
        for ok, message in checks:
            if not ok:
                raise NAGError(message)
        return self

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    def loss_config(self):
        from nag_tf.model import LossConfig

        return LossConfig(
            diversity_weight=self.diversity_weight,
            diversity_distance=self.diversity_distance,
            shuffle=self.shuffle,
            fooling_reduction=self.fooling_reduction,
            clip=self.clip,
        )
