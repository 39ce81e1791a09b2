"""The loss choices of a NAG run, defined once, without TensorFlow.

`TrainConfig` inherits them (they are flags of the same names) and `NAGModel` receives them as a
`LossConfig` (`TrainConfig.loss_config()`); `nag_tf.choices` holds their closed sets of values.
"""

import dataclasses

__all__ = ["AUTHORS_PAIRS", "LITE0_PAIRS", "LossConfig", "PairSettings"]


@dataclasses.dataclass(frozen=True)
class PairSettings:
    """The dynamic model-data pair's radii (at full ramp) and steps (nag_tf.core.dynamic_pairs), defined once for
    the DM-UAP baseline (its binary, its bench flags) and NAG's --pair_* flags."""

    rho: float  # the largest L2 move of all the target's weights
    image_radius: float  # the largest L2 move of each photo, on the 0-255 scale
    weight_steps: int
    image_steps: int


# DM-UAP's authors (Zhang et al., AAAI 2025; VGG-19's 143M parameters): rho 4, photos 25 on [0, 1], 10 + 10 steps.
AUTHORS_PAIRS = PairSettings(rho=4.0, image_radius=25.0 * 255.0, weight_steps=10, image_steps=10)
# Screened for EfficientNet-Lite0 on CPU (docs/experiments/2026-12-02-dm-uap-screen-600s.md): rho scaled to the
# same move per parameter, 4 sqrt(4.7M / 143M) = 0.73 (the authors' 4 fooled 0.409 there), and 3 + 3 steps,
# which buy ten times the steps. The bench's DM-UAP and NAG's --dynamic_pairs use it.
LITE0_PAIRS = PairSettings(rho=0.73, image_radius=25.0 * 255.0, weight_steps=3, image_steps=3)


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """The loss choices, defined once: defaults are the paper's, the reference code's in brackets, ours
    marked. `TrainConfig` inherits these fields (the flags of the same names), so a run's config holds them
    without a copy; the model receives them as this class (`TrainConfig.loss_config()`)."""

    diversity_weight: float = 1.0  # lambda [10]
    diversity_distance: str = "cosine"  # [squared_l2]
    # None: untargeted (push away from the clean label); a class index: targeted NAG (-log q'_t).
    target_class: int | None = None
    # Ours (not in the paper): weight and margin of a penalty on similar pairs of perturbations (only pairs
    # with cosine above the margin count).
    perturbation_diversity_weight: float = 0.0
    perturbation_cosine_margin: float = -1.0
    # Ours: what the penalty grows with: cosine | chord (2 - |unit delta_n - unit delta_pi(n)|, whose gradient
    # does not vanish at a collapse; losses.similarity_penalty).
    perturbation_similarity: str = "cosine"
    # Ours: hold the mean pairwise cosine of delta pairs at this value by dual ascent on the penalty's
    # weight (starting from perturbation_diversity_weight); 1 = off (a fixed weight).
    target_pairwise_cosine: float = 1.0
    cosine_dual_rate: float = 0.5
    # Ours: the largest mu the dual ascent may reach (0 = no cap), against windup (losses.dual_ascent).
    cosine_dual_max: float = 0.0
    shuffle: str = "derangement"  # [replacement]
    fooling_reduction: str = "per_sample"  # [batch_mean]
    # paper: -log(1 - q_c) | clamped_ce (ours, as SGD-UAP/SGA) | logit_margin (ours).
    fooling_loss: str = "paper"
    clip: bool = True  # [False]
    # Ours: probability of a random resize-and-pad of x + delta before the target (nag_tf.core.augment, Xie et al.
    # 2019), for transfer; and the padded side / image side of that transform.
    input_diversity: float = 0.0
    input_diversity_scale: float = 1.1
    # Ours: training images per generated perturbation (paper: 1). k > 1 generates B / k perturbations
    # a step, each added to k images: the generator's share of a step shrinks by k, and each delta's
    # gradient aggregates k images (as a universal perturbation's does).
    images_per_perturbation: int = 1
    # Ours: weight gamma of -H, H the entropy of the batch's adversarial labels (losses.label_entropy),
    # against most images being pushed to one label; untargeted only. 0: off (the paper).
    label_entropy_weight: float = 0.0
    # Ours (issue #50): weight of the coverage term (losses.coverage_loss): each photo also meets the next
    # coverage_samples - 1 perturbations of the step, and the soft minimum (softness tau) of its fooling
    # losses over all of them is added, so the samples specialise on different photos. Costs
    # coverage_samples - 1 more passes of the batch through the target. 0: off (the paper).
    coverage_loss_weight: float = 0.0
    coverage_samples: int = 4
    coverage_softness: float = 1.0
    # Ours (after SGA): K inner signed steps per delta on minibatches of m images, their gradients' sum
    # added to what flows back through the generator (nag_tf.core.aggregate). 0: off (the paper).
    inner_steps: int = 0
    inner_batch: int = 8
    # Ours (after BIA / FG-UAP / LTP): a mid-layer feature loss added to the fooling loss with its weight
    # (losses.feature_loss); the layer is the target's (TrainConfig.feature_layer, loaded with it). "none": off.
    feature_loss: str = "none"
    feature_loss_weight: float = 1.0
    # Ours (after DM-UAP, AAAI 2025): each step, the target's weights move up to pair_rho (L2, normalised
    # steps down its clean-label loss) and the photos up to pair_image_radius (L2 PGD towards more confident
    # clean predictions), both ramped with the run's progress; the losses are taken there and the weights
    # restored (nag_tf.core.dynamic_pairs). Off: the paper.
    dynamic_pairs: bool = False
    pair_rho: float = LITE0_PAIRS.rho
    pair_image_radius: float = LITE0_PAIRS.image_radius
    pair_weight_steps: int = LITE0_PAIRS.weight_steps
    pair_image_steps: int = LITE0_PAIRS.image_steps

    @property
    def adapts_diversity_weight(self):
        return self.target_pairwise_cosine < 1.0

    @property
    def uses_coverage_loss(self):
        return self.coverage_loss_weight > 0

    @property
    def uses_feature_loss(self):
        return self.feature_loss != "none"

    @property
    def uses_shuffled_batch(self):
        """Whether the target must see X_S = x + delta[pi]: only the feature-diversity term needs it."""
        return bool(self.diversity_weight)
