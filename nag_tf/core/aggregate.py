"""Aggregated inner directions for the generator (ours, after SGA: Liu et al., ICCV 2023).

SGA makes a universal perturbation generalise by exploring around it: from the
current v, K signed steps on small random minibatches, then one step along the
sum of those minibatch gradients, which no single batch's gradient matches.
Inside NAG the same exploration runs for every generated delta at once, and the
sum of the inner gradients is added to what flows back through the generator
(`NAGModel.train_step`, as `output_gradients`), so each delta is pulled the way
SGA would move it rather than the way one batch points.
"""

import tensorflow as tf

__all__ = ["INNER_STEP_FRACTION", "aggregated_gradient", "inner_minibatches"]

# SGA's inner step, alpha = 0.1 xi (the authors' code), on the L-inf budget.
INNER_STEP_FRACTION = 0.1


def inner_minibatches(perturbations, batch, minibatch, seed):
    """[P, m] indices: for each of the P perturbations, m of the batch's images drawn without replacement."""
    noise = tf.random.stateless_uniform([perturbations, batch], seed=seed)
    return tf.argsort(noise, axis=1)[:, :minibatch]


def aggregated_gradient(loss_gradient, delta, images, labels, xi, steps, minibatch, seed):
    """Sum over `steps` inner steps of d loss / d delta_t, delta_t walking by signed descent steps from delta.

    Args:
      loss_gradient: (delta [P, S, S, 3], images [P * m, S, S, 3], labels [P * m, ...]) -> d loss / d delta,
        where image i of the minibatch gets delta[i // m]; the loss is one to minimise.
      delta: float32 [P, S, S, 3], the generated perturbations (treated as constants).
      images, labels: the step's batch (B images, their clean labels; several members' labels as [B, M]).
      xi: the L-inf budget; each inner step moves every pixel by INNER_STEP_FRACTION * xi, within +-xi.
      steps: K >= 1.
      minibatch: m, images per perturbation per inner step (at most B).
      seed: int32 [2], seed of the minibatch draws.

    Returns:
      float32 [P, S, S, 3], the sum of the K inner gradients (zero where the loss is flat).
    """
    delta = tf.stop_gradient(tf.cast(delta, tf.float32))
    count = tf.shape(delta)[0]
    batch = tf.shape(images)[0]
    step_size = INNER_STEP_FRACTION * xi

    def inner(t, current, total):
        chosen = inner_minibatches(count, batch, minibatch, tf.random.experimental.stateless_fold_in(seed, t))
        flat = tf.reshape(chosen, [-1])
        gradient = loss_gradient(current, tf.gather(images, flat), tf.gather(labels, flat))
        stepped = tf.clip_by_value(current - step_size * tf.sign(gradient), -xi, xi)
        return t + 1, stepped, total + gradient

    _, _, total = tf.while_loop(
        lambda t, *_: t < steps, inner, (tf.constant(0), delta, tf.zeros_like(delta)), parallel_iterations=1
    )
    return total
