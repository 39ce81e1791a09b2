"""The loss choices of a NAG run, defined once, without TensorFlow.

`TrainConfig` inherits them (they are flags of the same names) and `NAGModel` receives them as a
`LossConfig` (`TrainConfig.loss_config()`); `nag_tf.choices` holds their closed sets of values.
"""

import dataclasses

__all__ = ["LossConfig"]


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
    # Ours: probability of a random resize-and-pad of x + delta before the target (nag_tf.augment, Xie et al.
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
    # Ours (after SGA): K inner signed steps per delta on minibatches of m images, their gradients' sum
    # added to what flows back through the generator (nag_tf.aggregate). 0: off (the paper).
    inner_steps: int = 0
    inner_batch: int = 8
    # Ours (after BIA / FG-UAP / LTP): a mid-layer feature loss added to the fooling loss with its weight
    # (losses.feature_loss); the layer is the target's (TrainConfig.feature_layer, loaded with it). "none": off.
    feature_loss: str = "none"
    feature_loss_weight: float = 1.0
    # Ours (after DM-UAP, AAAI 2025): each step, the target's weights move up to pair_rho (L2, normalised
    # steps down its clean-label loss) and the photos up to pair_image_radius (L2 PGD towards more confident
    # clean predictions), both ramped with the run's progress; the losses are taken there and the weights
    # restored (nag_tf.dynamic_pairs). Off: the paper.
    dynamic_pairs: bool = False
    pair_rho: float = 0.73
    pair_image_radius: float = 6375.0
    pair_weight_steps: int = 3
    pair_image_steps: int = 3

    @property
    def adapts_diversity_weight(self):
        return self.target_pairwise_cosine < 1.0

    @property
    def uses_feature_loss(self):
        return self.feature_loss != "none"

    @property
    def uses_shuffled_batch(self):
        """Whether the target must see X_S = x + delta[pi]: only the feature-diversity term needs it."""
        return bool(self.diversity_weight)
