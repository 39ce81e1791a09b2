"""The fine-tuning step of a hardened classifier, and what perturbs its images: the schemes `nag_tf.harden`
compares.

Every scheme runs inside the same `HardeningModel.train_step` (the same epochs, learning rate,
adversarial fraction and batch-norm handling), so they differ only in the perturbations:
  nag      fresh NAG samples every batch (a distribution of universal perturbations);
  sga      one fixed SGA perturbation;
  sga_set  K SGA perturbations in turn, one a batch (the same compute as one NAG run: K runs of 1/K);
  uat      universal adversarial training (Shafahi et al., AAAI 2020): one perturbation that a signed
           ascent step moves on every batch while the classifier trains on that batch, the standard
           baseline for this question;
  none     no perturbation: clean fine-tuning, the control.
"""

import keras
import tensorflow as tf

from nag_tf.baselines.sgd_uap_lib import project
from nag_tf.core import latent
from nag_tf.core.model import perturb

__all__ = ["GeneratorSamples", "HardeningModel", "PerturbationsInTurn", "UniversalAdversarialTraining"]


class GeneratorSamples:
    """Scheme nag: a fresh z for every image of every batch."""

    ascends = False

    def __init__(self, generator, seed=0):
        self.generator = generator
        self.generator.trainable = False
        self.rng = tf.random.Generator.from_seed(seed)
        self.latent_dim = int(generator.input_shape[-1])

    def draw(self, batch):
        return self.generator(latent.draw(self.rng, batch, self.latent_dim), training=False)


class PerturbationsInTurn:
    """Schemes sga (K = 1), sga_set (K > 1, the next one each batch) and none (one perturbation of zeros)."""

    ascends = False

    def __init__(self, perturbations):
        self.perturbations = tf.constant(perturbations, tf.float32)  # [K, S, S, 3]
        self.turn = tf.Variable(0, dtype=tf.int64, trainable=False, name="turn")

    def draw(self, batch):
        count = tf.cast(tf.shape(self.perturbations)[0], tf.int64)
        delta = tf.gather(self.perturbations, self.turn % count)
        self.turn.assign_add(1)
        return tf.broadcast_to(delta[tf.newaxis], tf.concat([[batch], tf.shape(delta)], 0))


class UniversalAdversarialTraining:
    """Scheme uat: delta <- project(delta + step * sign(d loss / d delta)) after every batch, from zero.

    The classifier descends and delta ascends the same batch's loss (Shafahi et al.'s simultaneous
    update); `step` on the 0-255 scale is ours (xi / 10 by default in HardenOptions).
    """

    ascends = True

    def __init__(self, image_size, xi, step, norm="linf"):
        self.delta = tf.Variable(tf.zeros([image_size, image_size, 3]), trainable=False, name="uat_delta")
        self.xi, self.step, self.norm = float(xi), float(step), norm

    def draw(self, batch):
        return tf.broadcast_to(self.delta[tf.newaxis], tf.concat([[batch], tf.shape(self.delta)], 0))

    def ascend(self, gradient):
        self.delta.assign(project(self.delta + self.step * tf.sign(gradient), self.xi, self.norm))


class HardeningModel(keras.Model):
    """Fine-tunes `classifier` on batches where a fraction of the images carry the scheme's perturbation.

    The labels are the original classifier's clean labels: the goal is a model whose
    decision does not move under the perturbation (the fooling rate's own definition),
    and it needs no ground truth. Batch norm stays in inference mode: a few hundred
    images would otherwise overwrite ImageNet statistics.
    """

    def __init__(self, classifier, preprocess, scheme, adversarial_fraction=0.5, clip=True, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.preprocess = preprocess
        self.scheme = scheme
        self.adversarial_fraction = float(adversarial_fraction)
        self.clip = clip
        self.rng = tf.random.Generator.from_seed(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.clean_accuracy = keras.metrics.SparseCategoricalAccuracy(name="clean_agreement")
        self.adversarial_accuracy = keras.metrics.SparseCategoricalAccuracy(name="adversarial_agreement")
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker, self.clean_accuracy, self.adversarial_accuracy]

    def call(self, images, training=False):
        return self.classifier(self.preprocess(tf.cast(images, tf.float32)), training=False)

    def train_step(self, data):
        images, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        images = tf.cast(images, tf.float32)
        batch = tf.shape(images)[0]
        perturbed = self.rng.uniform([batch]) < self.adversarial_fraction  # a fresh mix each batch
        variables = self.classifier.trainable_variables
        with tf.GradientTape() as tape:
            if self.scheme.ascends:
                tape.watch(self.scheme.delta)
            delta = self.scheme.draw(batch)
            mixed = tf.where(perturbed[:, None, None, None], perturb(images, delta, self.clip), images)
            logits = tf.cast(self.classifier(self.preprocess(mixed), training=False), tf.float32)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        if self.scheme.ascends:
            *gradients, delta_gradient = tape.gradient(loss, [*variables, self.scheme.delta])
            self.scheme.ascend(delta_gradient)
        else:
            gradients = tape.gradient(loss, variables)
        self.optimizer.apply(gradients, variables)
        self.loss_tracker.update_state(loss)
        self.clean_accuracy.update_state(labels, logits, sample_weight=tf.cast(~perturbed, tf.float32))
        self.adversarial_accuracy.update_state(labels, logits, sample_weight=tf.cast(perturbed, tf.float32))
        return {m.name: m.result() for m in self.metrics}
