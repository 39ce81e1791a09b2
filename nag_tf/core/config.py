"""The typed training configuration: what `nag_tf.train`'s flags turn into.

Library code takes a `TrainConfig` and never reads absl FLAGS, which keeps it
testable. `validate()` names every bad value and how to fix it before any
file is written or any model is built.

Long (over 300 lines) because of that table of checks, one line and one message a setting; the
fields themselves are short (the loss choices are inherited from `loss_config.LossConfig`).
"""

import dataclasses
import json
import math
import os

import keras_apps
from keras_apps import model_file
from keras_apps.class_names import class_index
from nag_tf import seeds
from nag_tf.choices import (
    DIVERSITY_DISTANCES,
    FEATURE_LOSSES,
    FOOLING_LOSSES,
    FOOLING_REDUCTIONS,
    GENERATOR_VARIANTS,
    LEARNING_RATE_SCHEDULES,
    LINF_OUTPUTS,
    MIXED_PRECISION_POLICIES,
    NORMS,
    PERTURBATION_SIMILARITIES,
    RESIZE_MODES,
    SHUFFLE_MODES,
    STRATEGIES,
)
from nag_tf.core.generator import build_generator
from nag_tf.core.loss_config import LossConfig
from nag_tf.errors import NAGError

__all__ = ["TrainConfig", "generator_for"]


@dataclasses.dataclass(frozen=True)
class TrainConfig(LossConfig):
    """Every choice of a training run; defaults are the paper's (docs/method.md).

    The loss choices are `model.LossConfig`'s fields, inherited: defined there once, flat here as the flags
    name them (and as config.json stores them).
    """

    # Target classifier(s): several are an ensemble, their losses summed with target_weights. The
    # constructor also takes the flags' text ("a,b", "1,0.5", a class name) and parses it, once.
    target: tuple[str, ...] = ("vgg19",)
    weights: str = "imagenet"  # imagenet | none | a weights file, for every target
    target_weights: tuple[float, ...] = ()  # () = 1 for every target
    # target_class (LossConfig's: None = untargeted, the paper; a class index or name = targeted NAG).
    # A model-file target's input scale (keras_apps.model_file.PREPROCESS_MODES); registered targets know theirs.
    preprocess: str = ""
    # Data: an image folder, or a tfds dataset.
    data_dir: str | None = None
    holdout_dir: str | None = None
    holdout: float = 0.1
    tfds_name: str | None = None
    tfds_split: str = "train"
    tfds_holdout_split: str | None = None
    tfds_data_dir: str | None = None
    per_class: int = 0
    max_images: int = 0
    resize: str = "crop"
    # Generator.
    xi: float = 10.0
    norm: str = "linf"  # linf (paper) | l2: xi is then the L2 radius on the 0-255 scale
    linf_output: str = "tanh"  # tanh (paper: xi * tanh) | tanh_floor (ours) | rescale (ours: xi * x / max|x|)
    latent_dim: int = 10
    generator: str = "paper"
    # Ours (issue "Generalise and transfer"): delta = xi tanh(b + g(z)), b a free tensor shared by every z
    # (generator.BasePerturbation), moved about base_perturbation_step a step (in tanh units, 0.1 = xi / 10).
    base_perturbation: bool = False
    base_perturbation_step: float = 0.1
    # Losses: model.LossConfig's fields, inherited; here only what the target is loaded with.
    diversity_layer: str = "default"  # softmax [resnet50: reference = conv4_block6_out]
    feature_layer: str = "default"  # the feature loss's layer: the target's stride-8 layer, or a layer name
    # Optimisation.
    batch_size: int = 32
    learning_rate: float = 1e-3
    # constant (paper, reference code) | cosine (ours): lr * (1 + cos(pi * p)) / 2 over the run's progress p
    learning_rate_schedule: str = "constant"
    epochs: int = 100
    steps_per_epoch: int = 0  # 0: one pass over the training images
    seed: int = 0
    jit_compile: bool = False
    time_budget_s: float = 0.0  # stop after this many seconds of training (0: no limit)
    strategy: str = "default"  # default | mirrored | multi_worker | tpu
    mixed_precision: str = ""  # "" (float32) | mixed_float16 (GPU, with loss scaling) | mixed_bfloat16
    steps_per_execution: int = 1
    # Choosing the generator: the best epoch is picked on images carved out of the training images,
    # never on the held-out images the final figure is reported on.
    selection_images: int = 64
    # Among epochs whose sampled perturbations have mean pairwise cosine <= this, the most fooling wins
    # (-1: 0.5 when a diversity penalty is on, else off).
    select_max_cosine: float = -1.0
    # Monitoring and output.
    logdir: str = "runs/nag"
    image_every_steps: int = 100
    eval_samples: int = 10
    max_bad_steps: int = 10
    verbose: int = 1

    def __post_init__(self):
        """Parses the flags' text forms into the typed fields (a run's config.json and older ones too):
        the one place `--target`, `--target_weights` and `--target_class` are read.

        Raises:
          NAGError: an unknown target, weights that do not fit the targets, an unknown class.
        """
        names = tuple(keras_apps.parse_target_names(self.target, self.preprocess))
        object.__setattr__(self, "target", names)
        weights = keras_apps.parse_target_weights(self.target_weights, len(names))
        object.__setattr__(self, "target_weights", () if weights == [1.0] * len(names) else tuple(weights))
        text = "" if self.target_class is None else str(self.target_class).strip()  # an index or a name
        number = class_index(text, keras_apps.get_spec(names[0]).num_classes) if text else None
        object.__setattr__(self, "target_class", number)

    @property
    def target_text(self):
        """The target(s) as one name, comma-separated: for reports, metadata and file names."""
        return ",".join(self.target)

    @property
    def report_seed(self):
        """The seed of the --eval_samples draw every generator is reported with (train's final report,
        hardening's attacks): one draw for all, apart from the draws training makes with --seed."""
        return seeds.derive(self.seed, "report")

    def validate(self):
        """Raises NAGError naming the first bad value and its fix; returns self."""

        def finite(name, value):
            if not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
                raise NAGError(f"--{name}={value!r} is not a finite number")

        for name in (
            "xi",
            "holdout",
            "diversity_weight",
            "perturbation_diversity_weight",
            "perturbation_cosine_margin",
            "target_pairwise_cosine",
            "cosine_dual_rate",
            "cosine_dual_max",
            "base_perturbation_step",
            "learning_rate",
            "time_budget_s",
            "select_max_cosine",
            "input_diversity",
            "input_diversity_scale",
            "label_entropy_weight",
            "coverage_loss_weight",
            "coverage_softness",
            "feature_loss_weight",
            "pair_rho",
            "pair_image_radius",
        ):
            finite(name, getattr(self, name))
        model_file.normalise_preprocess(self.preprocess)  # a bad --preprocess is refused for any target
        if self.norm not in NORMS:
            raise NAGError(f"--norm={self.norm!r}: expected one of {', '.join(NORMS)}")
        if self.linf_output not in LINF_OUTPUTS:
            raise NAGError(f"--linf_output={self.linf_output!r}: expected one of {', '.join(LINF_OUTPUTS)}")
        if self.norm == "linf" and not 0 < self.xi <= 255:
            raise NAGError(f"--xi={self.xi} is outside (0, 255]: xi is the L-inf budget on the 0-255 scale (paper: 10)")
        largest = 255.0 * math.sqrt(3.0) * keras_apps.ensemble_image_size(self.target)
        if self.norm == "l2" and not 0 < self.xi <= largest:
            raise NAGError(
                f"--xi={self.xi} is outside (0, {largest:.0f}]: with --norm=l2 xi is the L2 radius on the 0-255 "
                "scale (e.g. 2000 at 224 px)"
            )
        checks = (
            (self.latent_dim >= 1, f"--latent_dim={self.latent_dim} must be at least 1 (paper: 10)"),
            (self.batch_size >= 2, f"--batch_size={self.batch_size} must be at least 2 (the shuffle needs two images)"),
            (
                self.images_per_perturbation >= 1
                and self.batch_size % self.images_per_perturbation == 0
                and self.batch_size // self.images_per_perturbation >= 2,
                f"--images_per_perturbation={self.images_per_perturbation} must divide --batch_size="
                f"{self.batch_size} and leave at least 2 perturbations a step (the shuffle needs two)",
            ),
            (self.learning_rate > 0, f"--learning_rate={self.learning_rate} must be positive"),
            (
                self.learning_rate_schedule in LEARNING_RATE_SCHEDULES,
                f"--learning_rate_schedule={self.learning_rate_schedule!r}: expected one of "
                f"{', '.join(LEARNING_RATE_SCHEDULES)}",
            ),
            (self.epochs >= 1, f"--epochs={self.epochs} must be at least 1"),
            (self.steps_per_epoch >= 0, f"--steps_per_epoch={self.steps_per_epoch} must be 0 (one pass) or positive"),
            (self.time_budget_s >= 0, f"--time_budget_s={self.time_budget_s} must be >= 0 (0: no limit)"),
            (self.diversity_weight >= 0, f"--diversity_weight={self.diversity_weight} must be >= 0"),
            (
                self.perturbation_diversity_weight >= 0,
                f"--perturbation_diversity_weight={self.perturbation_diversity_weight} must be >= 0",
            ),
            (
                -1 <= self.perturbation_cosine_margin < 1,
                f"--perturbation_cosine_margin={self.perturbation_cosine_margin} must be in [-1, 1)",
            ),
            (
                -1 < self.target_pairwise_cosine <= 1,
                f"--target_pairwise_cosine={self.target_pairwise_cosine} must be in (-1, 1] (1: off)",
            ),
            (self.cosine_dual_rate > 0, f"--cosine_dual_rate={self.cosine_dual_rate} must be positive"),
            (self.cosine_dual_max >= 0, f"--cosine_dual_max={self.cosine_dual_max} must be >= 0 (0: no cap)"),
            (
                self.cosine_dual_max == 0 or self.cosine_dual_max >= self.perturbation_diversity_weight,
                f"--cosine_dual_max={self.cosine_dual_max} is below the starting weight "
                f"--perturbation_diversity_weight={self.perturbation_diversity_weight}: raise one or lower the other",
            ),
            (
                0 < self.base_perturbation_step <= 10,
                f"--base_perturbation_step={self.base_perturbation_step} must be in (0, 10] (tanh units a step; "
                "0.1 moves a pixel by about xi / 10)",
            ),
            (
                0 <= self.input_diversity <= 1,
                f"--input_diversity={self.input_diversity} must be a probability in [0, 1] (0: off, the paper)",
            ),
            (
                1 < self.input_diversity_scale <= 2,
                f"--input_diversity_scale={self.input_diversity_scale} must be in (1, 2] (Xie et al.: 1.1)",
            ),
            (self.inner_steps >= 0, f"--inner_steps={self.inner_steps} must be >= 0 (0: off, the paper)"),
            (self.inner_batch >= 1, f"--inner_batch={self.inner_batch} must be at least 1"),
            (
                self.inner_steps == 0 or self.inner_batch <= self.batch_size,
                f"--inner_batch={self.inner_batch} draws more photos than --batch_size={self.batch_size} holds",
            ),
            (
                self.inner_steps == 0 or self.norm == "linf",
                "--inner_steps takes signed steps on the L-inf budget: use it with --norm=linf (or set it to 0)",
            ),
            (self.label_entropy_weight >= 0, f"--label_entropy_weight={self.label_entropy_weight} must be >= 0"),
            (self.coverage_loss_weight >= 0, f"--coverage_loss_weight={self.coverage_loss_weight} must be >= 0"),
            (
                not self.uses_coverage_loss
                or 2 <= self.coverage_samples <= self.batch_size // max(1, self.images_per_perturbation),
                f"--coverage_samples={self.coverage_samples} must be at least 2 and at most the perturbations of a "
                f"step (--batch_size / --images_per_perturbation = "
                f"{self.batch_size // max(1, self.images_per_perturbation)})",
            ),
            (self.coverage_softness > 0, f"--coverage_softness={self.coverage_softness} must be positive"),
            (
                self.coverage_loss_weight == 0 or self.target_class is None,
                "--coverage_loss_weight counts photos fooled away from their label; with --target_class set it to 0",
            ),
            (self.pair_rho >= 0, f"--pair_rho={self.pair_rho} must be >= 0 (0: the weights stay)"),
            (
                self.pair_image_radius >= 0,
                f"--pair_image_radius={self.pair_image_radius} must be >= 0 (0: the photos stay)",
            ),
            (
                self.pair_weight_steps >= 0 and self.pair_image_steps >= 0,
                f"--pair_weight_steps={self.pair_weight_steps} and --pair_image_steps={self.pair_image_steps} "
                "must be >= 0",
            ),
            (
                not self.dynamic_pairs or len(self.target) == 1,
                "--dynamic_pairs moves one classifier's weights: use it with a single --target",
            ),
            (
                not self.dynamic_pairs or self.strategy == "default",
                f"--dynamic_pairs moves the target's weights in place, on one device: use --strategy=default, "
                f"not {self.strategy}",
            ),
            (
                self.feature_loss in FEATURE_LOSSES,
                f"--feature_loss={self.feature_loss!r}: expected one of {', '.join(FEATURE_LOSSES)}",
            ),
            (
                self.feature_loss_weight > 0,
                f"--feature_loss_weight={self.feature_loss_weight} must be positive (turn the loss off with "
                "--feature_loss=none)",
            ),
            (
                self.feature_loss == "none" or bool(self.feature_layer) and self.feature_layer != "none",
                "--feature_loss needs a layer: --feature_layer=default (the target's stride-8 layer) or a layer name",
            ),
            (
                self.label_entropy_weight == 0 or self.target_class is None,
                "--label_entropy_weight spreads an untargeted attack's labels; with --target_class set it to 0",
            ),
            (
                self.fooling_loss in FOOLING_LOSSES,
                f"--fooling_loss={self.fooling_loss!r}: expected one of {', '.join(FOOLING_LOSSES)}",
            ),
            (
                self.fooling_loss == "paper" or self.fooling_reduction == "per_sample",
                f"--fooling_loss={self.fooling_loss} needs --fooling_reduction=per_sample",
            ),
            (self.selection_images >= 1, f"--selection_images={self.selection_images} must be at least 1"),
            (
                self.select_max_cosine == -1 or -1 < self.select_max_cosine <= 1,
                f"--select_max_cosine={self.select_max_cosine} must be in (-1, 1], or -1 for the default",
            ),
            (self.holdout > 0, f"--holdout={self.holdout} must be a fraction in (0, 1) or a count >= 1"),
            (self.per_class >= 0, f"--per_class={self.per_class} must be >= 0 (0: no limit)"),
            (self.max_images >= 0, f"--max_images={self.max_images} must be >= 0 (0: no limit)"),
            (self.image_every_steps >= 1, f"--image_every_steps={self.image_every_steps} must be at least 1"),
            (self.eval_samples >= 1, f"--eval_samples={self.eval_samples} must be at least 1"),
            (self.max_bad_steps >= 1, f"--max_bad_steps={self.max_bad_steps} must be at least 1"),
            (
                self.generator in GENERATOR_VARIANTS,
                f"--generator={self.generator!r}: expected one of {', '.join(GENERATOR_VARIANTS)}",
            ),
            (
                self.diversity_distance in DIVERSITY_DISTANCES,
                f"--diversity_distance={self.diversity_distance!r}: expected one of {', '.join(DIVERSITY_DISTANCES)}",
            ),
            (
                self.perturbation_similarity in PERTURBATION_SIMILARITIES,
                f"--perturbation_similarity={self.perturbation_similarity!r}: expected one of "
                f"{', '.join(PERTURBATION_SIMILARITIES)}",
            ),
            (
                self.shuffle in SHUFFLE_MODES,
                f"--shuffle={self.shuffle!r}: expected one of {', '.join(SHUFFLE_MODES)}",
            ),
            (
                self.fooling_reduction in FOOLING_REDUCTIONS,
                f"--fooling_reduction={self.fooling_reduction!r}: expected one of {', '.join(FOOLING_REDUCTIONS)}",
            ),
            (self.strategy in STRATEGIES, f"--strategy={self.strategy!r}: expected one of {', '.join(STRATEGIES)}"),
            (
                self.mixed_precision in MIXED_PRECISION_POLICIES,
                f"--mixed_precision={self.mixed_precision!r}: expected one of "
                f"{', '.join(repr(p) for p in MIXED_PRECISION_POLICIES)}",
            ),
            (self.steps_per_execution >= 1, f"--steps_per_execution={self.steps_per_execution} must be at least 1"),
            (self.resize in RESIZE_MODES, f"--resize={self.resize!r}: expected one of {', '.join(RESIZE_MODES)}"),
            (
                bool(self.data_dir) != bool(self.tfds_name),
                "give exactly one data source: --data_dir=FOLDER or --tfds_name=NAME",
            ),
            (bool(self.logdir), "--logdir must name a folder"),
        )
        for ok, message in checks:
            if not ok:
                raise NAGError(message)
        return self

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        """A run's config.json back as a TrainConfig; fields a newer version added keep their defaults."""
        values = json.loads(text)
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})

    @classmethod
    def from_logdir(cls, logdir):
        with open(os.path.join(logdir, "config.json")) as handle:
            return cls.from_json(handle.read())

    def loss_config(self):
        """The LossConfig part of this run (its inherited fields), as the model takes it."""
        return LossConfig(**{field.name: getattr(self, field.name) for field in dataclasses.fields(LossConfig)})

    def resolved_select_max_cosine(self):
        """--select_max_cosine resolved: 0.5 when a diversity penalty or constraint is on, else 1 (off)."""
        if self.select_max_cosine != -1:
            return self.select_max_cosine
        return 0.5 if self.perturbation_diversity_weight > 0 or self.target_pairwise_cosine < 1 else 1.0


def generator_for(config, seed=None):
    """The generator a TrainConfig describes, sized for its target(s)."""
    return build_generator(
        keras_apps.ensemble_image_size(config.target),
        config.latent_dim,
        config.xi,
        config.generator,
        seed=seed,
        norm=config.norm,
        linf_output=config.linf_output,
        # b = multiplier * v, Adam moving v about learning_rate a step: b moves about base_perturbation_step.
        base_multiplier=config.base_perturbation_step / config.learning_rate if config.base_perturbation else 0.0,
    )
