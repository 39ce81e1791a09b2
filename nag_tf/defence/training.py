"""The defence's training steps, as Keras models trained with `fit` on the training photos' batches
(`nag_tf.inputs.batches.training_batches`: uint8 photos with the target's clean labels).

Detector: each batch is the photos clean (label 0) and with a drawn perturbation (label 1), binary
cross-entropy on the detector's logit.
Rectifier: the frozen target must give the clean label on R(x + delta) and on R(x), and R(x) must stay
near x: CE(f(R(x + delta)), c) + CE(f(R(x)), c) + closeness * mean(((R(x) - x) / 255)^2), c the target's
label on the clean photo (no ground truth needed). Only the rectifier's weights move.
"""

import keras
import tensorflow as tf

from nag_tf.core.model import perturb

__all__ = ["DetectorTraining", "RectifierTraining", "fit_steps"]


class DetectorTraining(keras.Model):
    """Trains `detector` to tell photos with a drawn perturbation from clean ones."""

    def __init__(self, detector, draws, clip=True, **kwargs):
        super().__init__(**kwargs)
        self.detector, self.draws, self.clip = detector, draws, clip
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy = keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy]

    def call(self, images, training=False):
        return self.detector(tf.cast(images, tf.float32), training=training)

    def train_step(self, data):
        images, _ = data
        images = tf.cast(images, tf.float32)
        batch = tf.shape(images)[0]
        inputs = tf.concat([images, perturb(images, self.draws.draw(batch), self.clip)], axis=0)
        labels = tf.concat([tf.zeros([batch, 1]), tf.ones([batch, 1])], axis=0)
        with tf.GradientTape() as tape:
            logits = self.detector(inputs, training=True)
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
        variables = self.detector.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        self.loss_tracker.update_state(loss)
        self.accuracy.update_state(labels, logits)
        return {metric.name: metric.result() for metric in self.metrics}


class RectifierTraining(keras.Model):
    """Trains `rectifier` so the frozen `target` keeps its clean label on R(x + delta) and R(x)."""

    def __init__(self, rectifier, target, draws, closeness=1.0, clip=True, **kwargs):
        super().__init__(**kwargs)
        self.rectifier, self.target, self.draws = rectifier, target, draws
        self.closeness, self.clip = float(closeness), clip
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.clean_agreement = keras.metrics.SparseCategoricalAccuracy(name="clean_agreement")
        self.perturbed_agreement = keras.metrics.SparseCategoricalAccuracy(name="perturbed_agreement")

    @property
    def metrics(self):
        return [self.loss_tracker, self.clean_agreement, self.perturbed_agreement]

    def call(self, images, training=False):
        return self.target(self.rectifier(tf.cast(images, tf.float32), training=training)).logits

    def train_step(self, data):
        images, labels = data
        images = tf.cast(images, tf.float32)
        batch = tf.shape(images)[0]
        perturbed = perturb(images, self.draws.draw(batch), self.clip)
        with tf.GradientTape() as tape:
            rectified = self.rectifier(tf.concat([perturbed, images], axis=0), training=True)
            logits = self.target(rectified).logits
            both = tf.concat([labels, labels], axis=0)
            cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=both, logits=logits)
            moved = tf.reduce_mean(tf.square((rectified[batch:] - images) / 255.0))
            loss = 2.0 * tf.reduce_mean(cross_entropy) + self.closeness * moved
        variables = self.rectifier.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        self.loss_tracker.update_state(loss)
        self.perturbed_agreement.update_state(labels, logits[:batch])
        self.clean_agreement.update_state(labels, logits[batch:])
        return {metric.name: metric.result() for metric in self.metrics}


def fit_steps(training, batches, steps, learning_rate, verbose=0):
    """Compiles `training` with Adam and fits it for `steps` batches of the endless `batches`; returns the
    last step's metrics. Every defence gets the same steps and photos: its compute is held equal."""
    training.compile(optimizer=keras.optimizers.Adam(learning_rate))
    history = training.fit(batches, epochs=1, steps_per_epoch=steps, verbose=verbose)
    return {name: float(values[-1]) for name, values in history.history.items()}
