"""DM-UAP (Zhang et al., AAAI 2025, "Improving Generalization of Universal Adversarial Perturbation via
Dynamic Maximin Optimization"; the authors' code: the public repository yechao-zhang/DM-UAP), the strongest
published single-perturbation method with about 500 training photos.

Per batch (clean labels c cached once, as for NAG):
  1. The dynamic pair (nag_tf.core.dynamic_pairs): the classifier's weights moved towards lower loss within rho,
     the photos towards more confident predictions within the image radius, both ramped up linearly.
  2. One AdamW step on v (lr 0.1 on [0, 1], i.e. 25.5 on 0-255; weight decay 0.01) against the clamped
     cross-entropy min(CE(f'(x' + v), c), beta) of the moved model f' on the moved photos x', v clamped to
     the xi-ball; then the weights restored.
The authors' run: 20 epochs over 500 photos, batch 125, rho 4, radius 25 (on [0, 1]), 10 steps of each,
label smoothing 0.2, beta 9, v initialised uniformly in [-xi, xi]. They add v without clipping x' + v to
the pixel range; nag_tf clips by default (--clip), as it does for every method it compares.
"""

import keras
import tensorflow as tf

from nag_tf import seeds
from nag_tf.baselines.sgd_uap_lib import (
    initial_perturbation,
    member_clamped_cross_entropy,
    project_members,
    run_budgeted,
)
from nag_tf.core import losses
from nag_tf.core.dynamic_pairs import DynamicPairs, pair_image_passes
from nag_tf.core.loss_config import AUTHORS_PAIRS
from nag_tf.inputs import batches

__all__ = ["train_dm_uap", "ramp_fraction", "image_passes_per_step"]


def ramp_fraction(taken, steps, spent, time_budget_s):
    """The curriculum's share in force for step number `taken` (0-based): (taken + 1) / steps, or the share of
    the time budget spent when that is further along (a budget in seconds ends before `steps`)."""
    by_steps = (taken + 1) / steps if steps else 0.0
    by_time = spent / time_budget_s if time_budget_s else 0.0
    return float(min(1.0, max(by_steps, by_time)))


def train_dm_uap(
    target,
    cached,
    xi=10.0,
    batch_size=125,
    steps=80,
    time_budget_s=0.0,
    rho=AUTHORS_PAIRS.rho,
    image_radius=AUTHORS_PAIRS.image_radius,
    weight_steps=AUTHORS_PAIRS.weight_steps,
    image_steps=AUTHORS_PAIRS.image_steps,
    smoothing=0.2,
    beta=9.0,
    learning_rate=0.1 * 255.0,
    seed=0,
    clip=True,
    norm="linf",
    marks=(),
    on_mark=None,
    progress=None,
    should_stop=None,
    start=None,
    members=1,
    softness=1.0,
):
    """Trains one perturbation; returns a RunState (perturbation, steps, optimisation seconds, AdamW's variables).

    members K > 1 learns K perturbations jointly (the "joint" K-set, issue #50): one AdamW over [K, S, S, 3],
    each photo's loss taken on the member that fools it best, softly (`losses.coverage_loss`); a step sends K
    perturbed copies of the batch through the moved target. The perturbation returned is then [K, S, S, 3].

    `steps` also sets the ramp's length when there is no time budget (the authors: 20 epochs x 4 batches =
    80); with a budget the ramp follows the seconds spent. Only time inside the steps counts, as for NAG.
    """
    size = target.image_size
    batch_size = min(batch_size, len(cached))
    shape = [size, size, 3] if members == 1 else [members, size, size, 3]
    initial = tf.random.stateless_uniform(shape, seed=[seeds.derive(seed, "dm_uap_start"), 0], minval=-xi, maxval=xi)
    # A resumed run or a fork starts from its perturbation so far and AdamW's saved variables (run_budgeted).
    perturbation = tf.Variable(
        initial_perturbation(size, start, project_members(initial, xi, norm, members)), name="dm_uap"
    )
    optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=0.01)
    pairs = DynamicPairs(target, rho, image_radius, weight_steps, image_steps, smoothing)

    @tf.function(reduce_retracing=True)
    def perturbation_step(images, labels):
        with tf.GradientTape() as tape:
            # Each photo's -min(CE, beta) softly minimised over the members (the soft minimum of NAG's coverage
            # term): its gradient goes mostly to the member that fools the photo best, so the K specialise;
            # with K = 1 it is the authors' mean of -min(CE, beta).
            clamped = member_clamped_cross_entropy(target, perturbation, images, labels, beta, clip)
            loss = losses.coverage_loss(-clamped, softness)
        optimizer.apply_gradients([(tape.gradient(loss, perturbation), perturbation)])
        perturbation.assign(project_members(perturbation, xi, norm, members))

    def one_step(taken, images, labels, spent):
        with pairs.defended(images, labels, ramp_fraction(taken, steps, spent, time_budget_s)) as moved:
            perturbation_step(moved, tf.convert_to_tensor(labels, tf.int32))

    stream = batches.training_batches(cached, batch_size, seed)
    return run_budgeted(
        one_step,
        stream,
        perturbation,
        steps,
        time_budget_s=time_budget_s,
        marks=marks,
        on_mark=on_mark,
        progress=progress,
        should_stop=should_stop,
        start=start,
        optimizer=optimizer,
    )


def image_passes_per_step(batch_size, rho, image_radius, weight_steps, image_steps, members=1):
    """Images through the target (forward + backward) per step: the pair's steps plus the perturbation's
    (K perturbed copies of the batch when K members are learnt jointly)."""
    return pair_image_passes(batch_size, rho, image_radius, weight_steps, image_steps) + members * batch_size
