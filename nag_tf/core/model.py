"""NAGModel: a Keras model whose `fit` trains the generator against a frozen target.

One training step (paper Sec. 3): sample z ~ U[-1, 1]^d for the B images,
delta = G(z), build X_A = x + delta and X_S = x + delta[pi], run the frozen
target once on the concatenation [X_A; X_S], and minimise
L_f(X_A) + lambda * L_d(X_A, X_S) with respect to the generator only. The
clean labels c arrive with the data (computed once per image, never per step).

Perturbations are added to 0-255 RGB images *before* the target's own
preprocessing, so xi means the same on every target.
"""

import keras
import tensorflow as tf

from nag_tf import seeds
from nag_tf.core import latent, losses
from nag_tf.core.aggregate import aggregated_gradient
from nag_tf.core.dynamic_pairs import DynamicPairs, pair_image_passes
from nag_tf.core.generator import calibrate_batch_norm
from nag_tf.core.loss_config import LossConfig
from nag_tf.core.objective import LossValues, Objective, perturb

__all__ = ["LossValues", "NAGModel", "perturb", "CLEAN_FEATURES_PASS"]

# The paper's losses: a model built without a LossConfig trains with them.
PAPER_LOSSES = LossConfig()
# Target passes charged for the clean photos' forward pass to the feature layer (see target_images_per_step).
CLEAN_FEATURES_PASS = 1 / 3


class NAGModel(keras.Model):
    """Holds the generator (trainable) and the target (frozen).

    `call(images)` returns perturbed images, so Keras can run the model on a
    data batch (it does so under distribution strategies). Randomness (z,
    the shuffle) comes from a checkpointed `tf.random.Generator`, so a resumed
    run draws the same numbers as an uninterrupted one.
    """

    def __init__(self, generator, target, loss_config=PAPER_LOSSES, seed=0, calibration_batch=32, **kwargs):
        """`calibration_batch`: the perturbations a training step generates (batch / images per perturbation);
        the batch-norm calibration measures chunks of that size, so inference normalises as training did."""
        super().__init__(**kwargs)
        self.generator = generator
        self.calibration_batch = max(2, int(calibration_batch))
        self.target = target
        self.loss_config = loss_config
        self.latent_dim = int(generator.input_shape[-1])
        self.seed = seed
        self.rng = tf.random.Generator.from_seed(seeds.derive(seed, "latent_sampler"))
        # Held-out evaluation draws from its own generator, reset before each
        # evaluation, so every epoch is scored on the same z (a fair "best").
        self.eval_rng = tf.random.Generator.from_seed(seeds.derive(seed, "evaluation_z"))
        # Counters every replica updates identically: keep the first replica's value.
        counter = dict(dtype=tf.int64, trainable=False, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.step = tf.Variable(0, name="step", **counter)
        self.skipped_steps = tf.Variable(0, name="skipped_steps", **counter)
        self.consecutive_skipped = tf.Variable(0, name="consecutive_skipped", **counter)
        # mu of the similarity penalty: fixed, or a Lagrange multiplier adapted by dual ascent (checkpointed).
        self.objective = Objective(target, loss_config)
        self.perturbation_diversity_weight = tf.Variable(
            float(loss_config.perturbation_diversity_weight),
            name="perturbation_diversity_weight",
            **{**counter, "dtype": tf.float32},
        )
        # Both parts are built functional models: nothing for Keras to build symbolically from a
        # data batch (which it cannot do from a multi-worker PerReplica batch).
        self.built = True
        self._calibrated_at_step = None
        # Under MultiWorkerMirroredStrategy Keras 3.15 reduces step logs with a mean along axis 0,
        # which fails for scalars: train_lib sets this to return them as [1] vectors there.
        self.logs_as_vectors = False
        # Dynamic model-data pairs: the share of their radii in force (set before each step from the run's
        # progress by train_lib; 1 when a model is used alone).
        self.pairs = None
        if loss_config.dynamic_pairs:
            self.pairs = DynamicPairs(
                target,
                loss_config.pair_rho,
                loss_config.pair_image_radius,
                loss_config.pair_weight_steps,
                loss_config.pair_image_steps,
            )
            self.pair_ramp = tf.Variable(1.0, name="pair_ramp", **{**counter, "dtype": tf.float32})
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.fooling_loss_tracker = keras.metrics.Mean(name="fooling_loss")
        self.diversity_loss_tracker = keras.metrics.Mean(name="diversity_loss")
        # Untargeted: the fooling rate; targeted: the share of images classified as the target class.
        self.rate_name = "fooling_rate" if loss_config.target_class is None else "targeted_success_rate"
        self.fooling_rate_tracker = keras.metrics.Mean(name=self.rate_name)
        self.pair_cosine_tracker = keras.metrics.Mean(name="pair_cosine")

    @property
    def metrics(self):
        return [
            self.loss_tracker,
            self.fooling_loss_tracker,
            self.diversity_loss_tracker,
            self.fooling_rate_tracker,
            self.pair_cosine_tracker,
        ]

    @property
    def target_images_per_step(self):
        """Target passes (forward + backward) per batch image and training step, all members counted.

        An int, except with inner steps whose K * m is not a multiple of k (images per perturbation).
        """
        config = self.loss_config
        per_member = 2 if config.uses_shuffled_batch else 1
        if config.uses_feature_loss:
            # The clean photos' forward pass up to the feature layer: counted as a third of a pass (a forward
            # is about a third of forward + backward), an upper bound since it stops at a mid layer.
            per_member += CLEAN_FEATURES_PASS
        if config.uses_coverage_loss:
            per_member += config.coverage_samples - 1  # each photo under the next M - 1 perturbations
        if config.inner_steps:
            # K passes of m images for each of the batch / k perturbations.
            per_member += config.inner_steps * config.inner_batch / config.images_per_perturbation
        if config.dynamic_pairs:
            per_member += pair_image_passes(
                1, config.pair_rho, config.pair_image_radius, config.pair_weight_steps, config.pair_image_steps
            )
        return per_member * len(self.target.members)

    def sample_latents(self, count, rng=None):
        """z ~ U[-1, 1]^d, drawn from the model's checkpointed generator."""
        return latent.draw(rng or self.rng, count, self.latent_dim)

    def prepare_for_inference(self):
        """Before evaluation or saving: batch-norm statistics of the z distribution, evaluation RNG reset.

        The calibration runs once per training step: the pictures, the collapse
        check and validation at the same step share it (the weights are the same).
        """
        step = int(self.step.numpy())
        if self._calibrated_at_step != step:
            calibrate_batch_norm(
                self.generator,
                samples=8 * self.calibration_batch,
                batch_size=self.calibration_batch,
                seed=seeds.derive(self.seed, "batch_norm_calibration"),
            )
            self._calibrated_at_step = step
        self.eval_rng.reset_from_seed(seeds.derive(self.seed, "evaluation_z"))

    def call(self, inputs, training=False):
        if isinstance(inputs, dict):
            images, z = inputs["images"], inputs["z"]
        else:
            images, z = inputs, self.sample_latents(tf.shape(inputs)[0])
        return perturb(images, self.generator(z, training=training), self.loss_config.clip)

    def compute_losses(self, images, clean_labels, delta, shuffle_seed, loss_scale=None, augment=False):
        """One batch's LossValues (nag_tf.core.objective), with this model's current penalty weight mu."""
        return self.objective.losses(
            images, clean_labels, delta, shuffle_seed, self.perturbation_diversity_weight, loss_scale, augment
        )

    def _unpack(self, data, rng):
        """(images, labels, z, shuffle seed) from ({"images", "z", "shuffle_seed"}, labels) or (images, labels).

        z and the shuffle seed normally come with the data (a function of the
        step); plain (images, labels) batches draw them from `rng`.
        """
        inputs, clean_labels = data
        if isinstance(inputs, dict):
            return tf.cast(inputs["images"], tf.float32), clean_labels, inputs["z"], inputs["shuffle_seed"][0]
        images = tf.cast(inputs, tf.float32)
        return images, clean_labels, self.sample_latents(tf.shape(images)[0], rng), rng.make_seeds(1)[:, 0]

    def train_step(self, data):
        images, clean_labels, z, shuffle_seed = self._unpack(data, self.rng)
        batch = z.shape[0] if z.shape[0] is not None else tf.shape(z)[0]
        perturbations = batch // self.loss_config.images_per_perturbation
        with tf.GradientTape() as tape:
            delta = self.generator(z[:perturbations], training=True)
        replica_count = tf.cast(tf.distribute.get_strategy().num_replicas_in_sync, tf.float32)
        # Loss scaling under mixed_float16 (else unchanged); the mean over replicas' losses.
        scale = lambda loss: self.optimizer.scale_loss(loss / replica_count)  # noqa: E731
        if self.pairs is None:
            values, delta_gradient = self._losses_and_gradient(images, clean_labels, delta, shuffle_seed, scale)
        else:
            # The perturbations must beat the target and photos where they defend best; the weights are
            # restored on leaving, before the generator's update.
            with self.pairs.defended(images, clean_labels, self.pair_ramp) as defended_images:
                values, delta_gradient = self._losses_and_gradient(
                    defended_images, clean_labels, delta, shuffle_seed, scale
                )
        variables = self.generator.trainable_variables
        # d loss / d weights = (d delta / d weights)^T (d loss / d delta): one pass back through the generator.
        gradients = tape.gradient(delta, variables, output_gradients=delta_gradient)
        finite = tf.reduce_all(tf.math.is_finite(images)) & tf.math.is_finite(values.total)
        if not isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            # A LossScaleOptimizer expects overflowing gradients now and then and skips those steps itself.
            finite &= tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in gradients])
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            # All replicas agree on skipping; optimizer.apply synchronises replicas, which a tf.cond
            # cannot contain, so a bad step applies zero gradients instead: the weights stay as
            # they are only up to Adam's momentum (on one device the step is skipped outright).
            votes = tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, tf.cast(finite, tf.float32)
            )
            finite = votes > replicas - 0.5
            self.optimizer.apply([tf.where(finite, g, tf.zeros_like(g)) for g in gradients], variables)
            self._count(finite)
            self._track(values)
            self._adapt_diversity_weight(values.pair_cosine, finite)
            self.step.assign_add(1)
            return self._logs()

        def apply():
            self.optimizer.apply(gradients, variables)
            self._track(values)
            self._adapt_diversity_weight(values.pair_cosine, finite)
            return tf.constant(True)

        tf.cond(finite, apply, lambda: tf.constant(False))
        self._count(finite)
        self.step.assign_add(1)
        return self._logs()

    def _losses_and_gradient(self, images, clean_labels, delta, shuffle_seed, scale):
        """The batch's LossValues and d(scaled loss)/d delta, SGA's inner directions added when configured."""
        values = self.compute_losses(images, clean_labels, delta, shuffle_seed, scale, augment=True)
        delta_gradient = values.delta_gradient
        if self.loss_config.inner_steps:
            # SGA's exploration around each delta: its inner gradients' sum joins the batch's gradient.
            inner_seed = tf.random.experimental.stateless_fold_in(tf.cast(shuffle_seed, tf.int64), 2)
            delta_gradient += aggregated_gradient(
                self.objective.inner_fooling_gradient(scale),
                delta,
                images,
                clean_labels,
                self.generator.get_layer("perturbation").xi,  # the budget lives in the generator
                self.loss_config.inner_steps,
                self.loss_config.inner_batch,
                tf.cast(inner_seed, tf.int32),
            )
        return values, delta_gradient

    def _logs(self):
        if self.logs_as_vectors:
            return {m.name: tf.reshape(m.result(), [1]) for m in self.metrics}
        return {m.name: m.result() for m in self.metrics}

    def _count(self, finite):
        """Counts skipped (non-finite) steps, in all and in a row."""
        bad = 1 - tf.cast(finite, tf.int64)
        self.skipped_steps.assign_add(bad)
        self.consecutive_skipped.assign((self.consecutive_skipped + bad) * bad)

    def _adapt_diversity_weight(self, pair_cosine, finite):
        """Dual ascent on mu (with a target pairwise cosine); replicas agree, so the first one's update counts."""
        config = self.loss_config
        if config.adapts_diversity_weight:
            updated = losses.dual_ascent(
                self.perturbation_diversity_weight,
                pair_cosine,
                config.target_pairwise_cosine,
                config.cosine_dual_rate,
                config.cosine_dual_max,
            )
            self.perturbation_diversity_weight.assign(tf.where(finite, updated, self.perturbation_diversity_weight))

    def _track(self, values):
        self.loss_tracker.update_state(values.total)
        self.fooling_loss_tracker.update_state(values.fooling)
        self.diversity_loss_tracker.update_state(values.diversity)
        self.fooling_rate_tracker.update_state(tf.cast(values.fooled, tf.float32))
        self.pair_cosine_tracker.update_state(values.pair_cosine)

    def test_step(self, data):
        """Held-out batch: one delta per image (z from the data, else the evaluation RNG), inference mode."""
        images, clean_labels, z, shuffle_seed = self._unpack(data, self.eval_rng)
        delta = self.generator(z, training=False)
        self._track(self.compute_losses(images, clean_labels, delta, shuffle_seed))
        return self._logs()
