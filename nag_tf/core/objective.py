"""NAG's objective on one batch: the losses of x + delta against each frozen target member, and the
gradient of their (scaled) sum with respect to delta.

Kept apart from the Keras model (nag_tf.core.model), which owns the generator, the training state (mu, the
step, the random numbers) and the update: the objective is what the paper's Sec. 3 and our additions
define, and it reads nothing but its `LossConfig` and the penalty weight it is given.
"""

from typing import NamedTuple

import tensorflow as tf

from keras_apps.registry import resize_for
from nag_tf.core import losses
from nag_tf.core.augment import input_diversity

__all__ = ["LossValues", "Objective", "perturb"]


class LossValues(NamedTuple):
    """One batch's losses: total, fooling, diversity, the success mask [B * members], the mean
    cosine of the delta pairs, and d(scaled total)/d delta (None when not asked for)."""

    total: tf.Tensor
    fooling: tf.Tensor
    diversity: tf.Tensor
    fooled: tf.Tensor
    pair_cosine: tf.Tensor
    delta_gradient: tf.Tensor | None


def _per_image(delta, images):
    """[M, ...] perturbations for [B, ...] images -> [B, ...]: image i gets delta[i // (B / M)]."""
    if delta.shape[0] is not None and delta.shape[0] == images.shape[0]:
        return delta
    return tf.repeat(delta, tf.shape(images)[0] // tf.shape(delta)[0], axis=0)


def _member_labels(clean_labels, index):
    """An ensemble member's clean labels: column `index` of [B, M] labels, or the [B] labels of a single target."""
    return clean_labels if len(clean_labels.shape) == 1 else clean_labels[:, index]


def perturb(images, delta, clip=True):
    """x + delta on the 0-255 scale, clipped to the valid pixel range when `clip`."""
    adversarial = tf.cast(images, tf.float32) + delta
    return tf.clip_by_value(adversarial, 0.0, 255.0) if clip else adversarial


class Objective:
    """The losses of a batch for one target (or ensemble) and one LossConfig."""

    def __init__(self, target, config):
        self.target = target
        self.config = config

    def losses(self, images, clean_labels, delta, shuffle_seed, penalty_weight, loss_scale=None, augment=False):
        """Losses of one batch, summed over the target's members with their weights.

        Returns LossValues; its delta_gradient is, when `loss_scale` (a
        function of the loss) is given, the gradient of loss_scale(total)
        with respect to delta, else None. `augment` applies the training-only
        transform of x + delta (input diversity): train_step sets it; validation
        leaves it off, so the epoch is chosen on the plain x + delta that the
        report scores.

        Members run one after another, each under its own tape: its
        activations are freed once its gradient with respect to delta is
        taken, so an ensemble needs the memory of its largest member, not of
        all of them (train_step then backpropagates through the generator once).
        """
        config = self.config
        # delta may hold fewer perturbations than there are images (images_per_perturbation > 1): pairs
        # and shuffles are over the perturbations, so a delta is never paired with a copy of itself.
        shuffled = losses.shuffle_indices(tf.shape(delta)[0], shuffle_seed, config.shuffle)
        # The training transform's seed; None (no transform) when scoring, as validation does.
        transform_seed = (
            tf.random.experimental.stateless_fold_in(tf.cast(shuffle_seed, tf.int64), 1) if augment else None
        )
        gradients = []

        def term(compute):
            """compute() -> (loss, *extras) on its own tape, after the previous term; keeps d(scaled loss)/d delta."""
            # One term after another, never two at once.
            with tf.control_dependencies(gradients[-1:]), tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(delta)
                loss, *extras = compute()
                scaled = loss_scale(loss) if loss_scale is not None else None  # recorded by the tape
            if loss_scale is not None:
                gradients.append(tape.gradient(scaled, delta) + (gradients[-1] if gradients else 0.0))
            return extras

        fooling, diversity, label_entropy, coverage, fooled = 0.0, 0.0, 0.0, 0.0, []
        for index, (member, weight) in enumerate(self.target.members):
            labels = _member_labels(clean_labels, index)

            def member_term(member=member, weight=weight, labels=labels):
                member_fooling, member_diversity, member_entropy, member_coverage, member_fooled = self._member_losses(
                    member, images, labels, delta, shuffled, transform_seed
                )
                return (
                    weight
                    * (
                        member_fooling
                        + config.diversity_weight * member_diversity
                        - config.label_entropy_weight * member_entropy
                        + config.coverage_loss_weight * member_coverage
                    ),
                    member_fooling,
                    member_diversity,
                    member_entropy,
                    member_coverage,
                    member_fooled,
                )

            member_fooling, member_diversity, member_entropy, member_coverage, member_fooled = term(member_term)
            fooling += weight * member_fooling
            diversity += weight * member_diversity
            label_entropy += weight * member_entropy
            coverage += weight * member_coverage
            fooled.append(member_fooled)
        total = (
            fooling
            + config.diversity_weight * diversity
            - config.label_entropy_weight * label_entropy
            + config.coverage_loss_weight * coverage
        )
        # Reported with the diversity terms: the feature term (unweighted), then each weighted term of ours.
        diversity += config.coverage_loss_weight * coverage - config.label_entropy_weight * label_entropy
        pair_cosine = tf.reduce_mean(losses.pair_cosines(delta, tf.gather(delta, shuffled)))
        if config.perturbation_diversity_weight or config.adapts_diversity_weight:
            # Pushes delta and delta[pi] apart in pixel space: a direct counter to the collapse onto
            # one universal perturbation, which the feature-space term alone does not prevent.
            def spread_term():
                spread = penalty_weight * losses.similarity_penalty(
                    delta, tf.gather(delta, shuffled), config.perturbation_cosine_margin, config.perturbation_similarity
                )
                return spread, spread

            (spread,) = term(spread_term)
            total += spread
            diversity += spread
        delta_gradient = gradients[-1] if gradients else None
        return LossValues(
            total=total,
            fooling=fooling,
            diversity=diversity,
            fooled=tf.concat(fooled, axis=0),
            pair_cosine=pair_cosine,
            delta_gradient=delta_gradient,
        )

    def _member_losses(self, member, images, labels, delta, shuffled, transform_seed):
        """One target's (fooling, diversity, label entropy, coverage, success mask): X_A, X_S and the coverage
        term's photos in one pass.

        Without the feature-diversity term (lambda = 0) X_S is not sent at all: half the target's cost. With
        the coverage term, photo n also meets the perturbations after its own, delta[(p(n) + j) mod P] for
        j = 1 .. coverage_samples - 1 (P perturbations in the step; distinct, the config checks P >= M).
        With input diversity on and a `transform_seed` (training), [X_A; X_S] is resized-and-padded
        (one transform per step) first.
        """
        config = self.config
        batch = tf.shape(images)[0]
        adversarial = perturb(images, _per_image(delta, images), config.clip)
        blocks = [adversarial]
        if config.uses_shuffled_batch:
            blocks.append(perturb(images, _per_image(tf.gather(delta, shuffled), images), config.clip))
        coverage_start = len(blocks)
        if config.uses_coverage_loss:
            for shift in range(1, config.coverage_samples):
                blocks.append(perturb(images, _per_image(tf.roll(delta, -shift, axis=0), images), config.clip))
        adversarial = tf.concat(blocks, axis=0) if len(blocks) > 1 else adversarial
        if transform_seed is not None:
            adversarial = input_diversity(
                adversarial, transform_seed, config.input_diversity, config.input_diversity_scale
            )
        outputs = member(resize_for(member, adversarial))
        adversarial_logits = outputs.logits[:batch]
        predicted = tf.argmax(adversarial_logits, axis=-1, output_type=tf.int32)
        fooling = self.fooling_loss(adversarial_logits, labels)
        if config.uses_feature_loss:
            # Added to the fooling loss (and reported with it): the feature maps of x + delta come from the
            # forward pass above; the clean photos' go through the layers up to the feature layer only, under
            # the same transform (the same seed), so the two maps stay aligned pixel for pixel.
            clean = images
            if transform_seed is not None:
                clean = input_diversity(images, transform_seed, config.input_diversity, config.input_diversity_scale)
            fooling += config.feature_loss_weight * losses.feature_loss(
                member.clean_features(resize_for(member, clean)), outputs.mid_features[:batch], config.feature_loss
            )
        if config.target_class is None:
            success = tf.not_equal(predicted, tf.cast(labels, tf.int32))
            entropy = losses.label_entropy(adversarial_logits, labels) if config.label_entropy_weight else 0.0
        else:
            success = tf.equal(predicted, config.target_class)
            entropy = 0.0  # a targeted attack wants one label
        if config.uses_shuffled_batch:
            diversity = losses.diversity_loss(
                outputs.features[:batch], outputs.features[batch : 2 * batch], config.diversity_distance
            )
        else:
            diversity = tf.constant(0.0)
        coverage = tf.constant(0.0)
        if config.uses_coverage_loss:
            met = [adversarial_logits] + [
                outputs.logits[block * batch : (block + 1) * batch]
                for block in range(coverage_start, coverage_start + config.coverage_samples - 1)
            ]
            per_image = tf.stack([losses.per_image_fooling_loss(logits, labels, config.fooling_loss) for logits in met])
            coverage = losses.coverage_loss(per_image, config.coverage_softness)
        return fooling, diversity, tf.convert_to_tensor(entropy, tf.float32), coverage, success

    def fooling_loss(self, adversarial_logits, labels):
        """The configured fooling loss: away from the clean label, or towards the target class."""
        config = self.config
        if config.target_class is None:
            return losses.fooling_loss(adversarial_logits, labels, config.fooling_reduction, config.fooling_loss)
        return losses.targeted_fooling_loss(adversarial_logits, config.target_class, config.fooling_reduction)

    def inner_fooling_gradient(self, loss_scale):
        """(delta [P, ...], images [P * m, ...], labels) -> d loss_scale(fooling) / d delta, the members summed."""
        config = self.config

        def loss_gradient(delta, images, labels):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(delta)
                adversarial = perturb(images, _per_image(delta, images), config.clip)
                fooling = 0.0
                for index, (member, weight) in enumerate(self.target.members):
                    member_labels = _member_labels(labels, index)
                    logits = member(resize_for(member, adversarial)).logits
                    fooling += weight * self.fooling_loss(logits, member_labels)
                scaled = loss_scale(fooling)
            return tape.gradient(scaled, delta)

        return loss_gradient
