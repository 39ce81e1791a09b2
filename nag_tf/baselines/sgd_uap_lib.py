"""SGD-UAP (Shafahi et al., "Universal adversarial training", AAAI 2020): one universal perturbation.

Each step: the batch-mean gradient of a clamped cross-entropy min(CE(f(x + v), c), beta)
with respect to v, a signed step of step_fraction * xi * step_decay^epoch, and
projection back to the L-inf ball ||v|| <= xi. step_decay = 1 is the constant
0.8 * xi step of the public SGD-UAP code; on the demo set a constant step
keeps bouncing between the ball's faces (fooling rate 0.39 in a 240 s run
against EfficientNet-Lite0), so the default decays it per pass over the data.
c is the target's clean label (cached once, as for
NAG), so the objective is the same "change the label" goal NAG has.
"""

import time
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from nag_tf.core.model import perturb
from nag_tf.inputs import batches

__all__ = [
    "RunState",
    "initial_perturbation",
    "project",
    "project_members",
    "ascent_direction",
    "member_ascent_direction",
    "clamped_cross_entropy_gradient",
    "member_clamped_cross_entropy",
    "train_sgd_uap",
    "run_budgeted",
]


class RunState(NamedTuple):
    """Where a run stands: its perturbation, steps taken, optimisation seconds spent and its optimiser's
    variables as numpy arrays (empty for the methods without one). What a trainer returns, and what a
    resume (a stopped run's) or a fork (the finished trunk's) starts from."""

    perturbation: np.ndarray
    steps: int
    seconds: float
    optimizer: tuple = ()


def project(perturbation, xi, norm="linf"):
    """Projection onto the L-inf (or L2) ball of radius xi."""
    if norm == "l2":
        return perturbation * tf.minimum(1.0, xi / (tf.norm(perturbation) + 1e-12))
    return tf.clip_by_value(perturbation, -xi, xi)


def project_members(perturbation, xi, norm, members):
    """Each member of a jointly learnt set [K, S, S, 3] onto its own ball (the L2 norm is per member);
    members == 1: `project` of the one perturbation [S, S, 3]."""
    if members == 1:
        return project(perturbation, xi, norm)
    return tf.stack([project(perturbation[k], xi, norm) for k in range(members)])


def member_clamped_cross_entropy(target, perturbation, images, labels, beta, clip=True):
    """min(CE(f(x_n + v_k), c_n), beta) of every member k on every photo n: float [K, B], member-major.

    `perturbation`: one [S, S, 3] (K = 1), broadcast over the photos (no copy per photo), or a set
    [K, S, S, 3], every member on every photo: K perturbed copies of the batch through the target.
    """
    batch = tf.shape(images)[0]
    if perturbation.shape.rank == 3:
        members, perturbed = 1, perturb(images, perturbation[tf.newaxis], clip)
    else:
        members = int(perturbation.shape[0])
        perturbed = perturb(tf.tile(images, [members, 1, 1, 1]), tf.repeat(perturbation, batch, axis=0), clip)
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.tile(labels, [members]), logits=target(perturbed).logits
    )
    return tf.reshape(tf.minimum(cross_entropy, beta), [members, batch])


def clamped_cross_entropy_gradient(target, perturbation, images, labels, beta, clip=True):
    """d/dv of mean_n min(CE(f(x_n + v), c_n), beta): the objective SGD-UAP and SGA climb."""
    with tf.GradientTape() as tape:
        tape.watch(perturbation)
        logits = target(perturb(tf.cast(images, tf.float32), perturbation[tf.newaxis], clip)).logits
        cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        loss = tf.reduce_mean(tf.minimum(cross_entropy, beta))
    return tape.gradient(loss, perturbation)


def ascent_direction(gradient, norm):
    """Steepest ascent of unit size: the sign for L-inf, the normalised gradient for L2."""
    if norm == "l2":
        return gradient / (tf.norm(gradient) + 1e-12)
    return tf.sign(gradient)


def member_ascent_direction(gradient, norm, members):
    """ascent_direction of each member of a set [K, S, S, 3] (the L2 normalisation is per member)."""
    if members == 1:
        return ascent_direction(gradient, norm)
    return tf.stack([ascent_direction(gradient[k], norm) for k in range(members)])


def train_sgd_uap(
    target,
    cached,
    xi=10.0,
    batch_size=32,
    steps=1000,
    time_budget_s=0.0,
    step_fraction=0.8,
    beta=12.0,
    seed=0,
    clip=True,
    step_decay=0.8,
    norm="linf",
    marks=(),
    on_mark=None,
    progress=None,
    should_stop=None,
    start=None,
):
    """Trains one perturbation; returns a RunState (perturbation, steps taken, optimisation seconds, no optimiser).

    norm="l2" takes normalised-gradient steps and projects onto the L2 ball (xi its radius).
    Only the time inside the steps counts against `time_budget_s` (as for NAG
    and SGA); on_mark(seconds, perturbation) is called as each of `marks` is passed.
    """
    size = target.image_size
    perturbation = tf.Variable(initial_perturbation(size, start), name="uap")
    step_size = tf.Variable(step_fraction * xi, trainable=False)
    steps_per_epoch = batches.steps_per_epoch(cached, batch_size)

    @tf.function(reduce_retracing=True)
    def step(images, labels):
        gradient = clamped_cross_entropy_gradient(target, perturbation, images, labels, beta=beta, clip=clip)
        perturbation.assign(project(perturbation + step_size * ascent_direction(gradient, norm), xi, norm))

    def one_step(taken, images, labels, spent):
        del spent
        step_size.assign(step_fraction * xi * step_decay ** (taken // steps_per_epoch))
        step(images, labels)

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
    )


def initial_perturbation(size, start, default=None):
    """The starting v: a stopped run's or a fork's (`start`, a RunState), else `default` (zeros when None)."""
    if start is not None:
        return tf.constant(start.perturbation, tf.float32)
    return tf.zeros([size, size, 3]) if default is None else default


def run_budgeted(
    one_step,
    stream,
    perturbation,
    steps,
    time_budget_s=0.0,
    marks=(),
    on_mark=None,
    progress=None,
    should_stop=None,
    start=None,
    optimizer=None,
):
    """The baselines' loop: one_step(taken, images, labels, spent) per batch until `steps` steps or
    `time_budget_s` seconds spent inside the steps (the same count as NAG's budget: nothing else is charged);
    `spent` is those seconds so far, for a schedule that follows the budget (DM-UAP's ramp).

    on_mark(seconds, perturbation) is called as each of `marks` is passed; progress(steps, seconds) after each
    step; should_stop() before each step ends the loop early when true (a signal: the caller saves apart).
    `start` (a RunState) resumes a stopped run: its steps and seconds count on, the data stream skips
    the batches it has seen, and marks it passed are not called again. `optimizer` (a Keras optimiser over
    `perturbation`, or None) gets the start's variables back: Adam's first step from fresh moments moves
    every pixel by the learning rate (DM-UAP's 25.5 is more than xi), so a resume or fork without them would
    throw the perturbation away.
    Returns a RunState (perturbation, steps taken, seconds, the optimiser's variables).
    """
    spent, taken = (start.seconds, start.steps) if start is not None else (0.0, 0)
    if optimizer is not None:
        _restore_optimizer(optimizer, perturbation, start.optimizer if start is not None else ())
    marks = sorted(mark for mark in marks if start is None or mark > start.seconds)
    for images, labels in stream.skip(taken):
        if taken >= steps or (time_budget_s and spent >= time_budget_s):
            break
        if should_stop is not None and should_stop():
            break
        began = time.perf_counter()
        one_step(taken, images, labels, spent)
        perturbation.read_value().numpy()  # wait for the step before stopping the clock
        spent += time.perf_counter() - began
        taken += 1
        while marks and spent >= marks[0]:
            mark = marks.pop(0)
            if on_mark is not None:
                on_mark(mark, perturbation.numpy())
        if progress is not None:
            progress(taken, spent)
    state = tuple(np.asarray(variable.numpy()) for variable in optimizer.variables) if optimizer is not None else ()
    return RunState(np.asarray(perturbation.numpy()), taken, spent, state)


def _restore_optimizer(optimizer, perturbation, saved):
    """Builds `optimizer` over `perturbation` and assigns `saved` (its variables, in order) when they fit;
    state of another shape (another method's, another image size) leaves the moments fresh."""
    optimizer.build([perturbation])
    variables = optimizer.variables
    fits = len(saved) == len(variables) and all(
        tuple(np.shape(value)) == tuple(variable.shape) for value, variable in zip(saved, variables)
    )
    if saved and fits:
        for value, variable in zip(saved, variables):
            variable.assign(value)
