"""SGA (Liu et al., ICCV 2023, "Enhancing Generalization of Universal Adversarial Perturbation
through Gradient Aggregation"): one universal perturbation, the strongest published
single-perturbation method at the time of writing.

Per batch of B images (clean labels c cached once, as for NAG):
  1. Inner loop, starting from the current v: K * B / m times, draw m of the B
     images (without replacement), take g = d/dv mean min(CE(f(x + v_in), c), beta),
     step v_in <- clip(v_in + alpha * sign(g), -xi, xi) and add g to an aggregate.
  2. Outer step: v <- clip(v + alpha * sign(sum of the inner g), -xi, xi).
alpha = step_fraction * xi is constant (the authors' code: 0.1 * xi, beta = 9,
K = 4, m = 10, B = 250). The inner steps explore around v; the aggregated
gradient of those small, noisy minibatches is what generalises.

Ours (issue #50), `members` M > 1: the joint form, M perturbations [M, S, S, 3] learnt together against a
best-of-M objective, each photo's min(CE, beta) taken on the member that fools it best, softly (the soft
maximum of `losses.coverage_loss`, as DM-UAP's joint form), so the M specialise on different photos. The
steps are SGA's per member (sign of each member's own gradient, each projected onto its own ball); an inner
step sends M perturbed copies of its minibatch through the target. The members start at uniform noise in
[-xi, xi] (seed stream `sga_joint_start`): from SGA's zero start every member would get the same gradient
and stay equal.
"""

import tensorflow as tf

from nag_tf import seeds
from nag_tf.baselines.sgd_uap_lib import (
    clamped_cross_entropy_gradient,
    initial_perturbation,
    member_ascent_direction,
    member_clamped_cross_entropy,
    project_members,
    run_budgeted,
)
from nag_tf.core import losses
from nag_tf.inputs import batches

__all__ = ["train_sga", "sga_outer_step", "joint_gradient"]


def joint_gradient(target, perturbation, images, labels, beta, softness, clip=True):
    """d/dv of the joint objective of M members v [M, S, S, 3]: the mean over photos of the soft maximum over
    members of min(CE(f(x_n + v_m), c_n), beta) (-coverage_loss of the negated clamp, tau = softness). Each
    photo's gradient goes, by softmax(clamp / tau) over m, to the member that fools it best.
    Returns float32 [M, S, S, 3]."""
    with tf.GradientTape() as tape:
        tape.watch(perturbation)
        clamped = member_clamped_cross_entropy(target, perturbation, tf.cast(images, tf.float32), labels, beta, clip)
        objective = -losses.coverage_loss(-clamped, softness)
    return tape.gradient(objective, perturbation)


def sga_outer_step(
    loss_gradient,
    perturbation,
    images,
    labels,
    xi,
    step_size,
    inner_iterations,
    minibatch,
    seed,
    norm="linf",
    members=1,
):
    """One SGA batch update; returns (new perturbation, the aggregated inner gradient).

    Args:
      loss_gradient: (perturbation, images [m, S, S, 3], labels [m]) -> d loss / d perturbation.
      perturbation: float32 [S, S, 3], the current v (members M > 1: [M, S, S, 3], each member stepped by
        the sign of its own gradient and projected onto its own ball).
      images, labels: the batch (B images and their clean labels).
      inner_iterations: K; the inner loop runs K * B // m steps.
      minibatch: m.
      seed: int32 [2], seed of the minibatch draws.
    """
    batch = tf.shape(images)[0]
    steps = inner_iterations * batch // minibatch

    def inner(j, inner_perturbation, aggregate):
        order = tf.argsort(tf.random.stateless_uniform([batch], seed=tf.stack([seed[0], seed[1] + j])))
        chosen = order[:minibatch]
        gradient = loss_gradient(inner_perturbation, tf.gather(images, chosen), tf.gather(labels, chosen))
        return (
            j + 1,
            project_members(
                inner_perturbation + step_size * member_ascent_direction(gradient, norm, members), xi, norm, members
            ),
            aggregate + gradient,
        )

    _, _, aggregate = tf.while_loop(
        lambda j, *_: j < steps, inner, (tf.constant(0), perturbation, tf.zeros_like(perturbation))
    )
    moved = perturbation + step_size * member_ascent_direction(aggregate, norm, members)
    return project_members(moved, xi, norm, members), aggregate


def train_sga(
    target,
    cached,
    xi=10.0,
    batch_size=250,
    minibatch=10,
    inner_iterations=4,
    step_fraction=0.1,
    beta=9.0,
    steps=1000,
    time_budget_s=0.0,
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
    """Trains one perturbation; returns a RunState (perturbation, outer steps, optimisation seconds, no optimiser).

    Only the time inside the steps counts against `time_budget_s` (as for NAG
    and SGD-UAP); on_mark(seconds, perturbation) is called as each of `marks`
    is passed. A step sends inner_iterations * batch_size images through the
    target (forward + backward), members times that for the joint form (members M > 1: M perturbations
    learnt jointly, tau = softness; the perturbation returned is then [M, S, S, 3]).
    """
    size = target.image_size
    batch_size = min(batch_size, len(cached))
    if members == 1:
        perturbation = tf.Variable(initial_perturbation(size, start), name="sga")

        def loss_gradient(v, images, labels):
            return clamped_cross_entropy_gradient(target, v, images, labels, beta=beta, clip=clip)

    else:
        noise = tf.random.stateless_uniform(
            [members, size, size, 3], seed=[seeds.derive(seed, "sga_joint_start"), 0], minval=-xi, maxval=xi
        )
        perturbation = tf.Variable(initial_perturbation(size, start, project_members(noise, xi, norm, members)))

        def loss_gradient(v, images, labels):
            return joint_gradient(target, v, images, labels, beta, softness, clip=clip)

    @tf.function(reduce_retracing=True)
    def step(images, labels, seed_pair):
        updated, _ = sga_outer_step(
            loss_gradient,
            perturbation,
            images,
            labels,
            xi=xi,
            step_size=step_fraction * xi,
            inner_iterations=inner_iterations,
            minibatch=minibatch,
            seed=seed_pair,
            norm=norm,
            members=members,
        )
        perturbation.assign(updated)

    stream = batches.training_batches(cached, batch_size, seed)
    return run_budgeted(
        lambda taken, images, labels, spent: step(
            images, labels, tf.constant([seeds.derive(seed, "sga_minibatch"), taken], tf.int32)
        ),
        stream,
        perturbation,
        steps,
        time_budget_s=time_budget_s,
        marks=marks,
        on_mark=on_mark,
        progress=progress,
        should_stop=should_stop,
        start=start,
    )
