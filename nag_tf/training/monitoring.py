"""What a NAG run shows in TensorBoard: scalars every step, held-out scalars every epoch, pictures.

Keras' own TensorBoard callback logs scalars but cannot draw the generator's perturbations, so
`NAGTensorBoard` writes everything with tf.summary, one writer per sub-directory (train/, eval/),
namespaced tags.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from nag_tf.core.model import perturb
from nag_tf.evaluation import metrics

__all__ = ["NAGTensorBoard"]


def _grid(images, columns):
    """Tiles [N, H, W, C] floats in [0, 1] into one [1, rows*H, columns*W, C] image."""
    count, height, width, channels = images.shape
    rows = -(-count // columns)
    padded = np.ones([rows * columns, height, width, channels], np.float32)
    padded[:count] = images
    tiled = padded.reshape(rows, columns, height, width, channels).transpose(0, 2, 1, 3, 4)
    return tiled.reshape(1, rows * height, columns * width, channels)


class NAGTensorBoard(keras.callbacks.Callback):
    """Scalars every step, held-out scalars every epoch, pictures and diversity every N steps.

    Pictures: a grid of perturbations from fixed z (rescaled from [-xi, xi]
    to [0, 1]) and a few held-out images with a perturbation added. (Diversity
    scalars come from `CollapseDetector`.)
    """

    def __init__(self, logdir, nag_model, xi, sample_images, config_text, image_every_steps=100, num_samples=8, seed=0):
        super().__init__()
        self.nag = nag_model
        self.xi = float(xi)
        self.sample_images = tf.convert_to_tensor(sample_images)
        self.config_text = config_text
        self.image_every_steps = image_every_steps
        self.fixed_z = metrics.sample_latents(num_samples, nag_model.latent_dim, seed)
        self.train_writer = tf.summary.create_file_writer(os.path.join(logdir, "train"))
        self.eval_writer = tf.summary.create_file_writer(os.path.join(logdir, "eval"))

    def on_train_begin(self, logs=None):
        with self.train_writer.as_default(step=int(self.nag.step.numpy())):
            tf.summary.text("config", self.config_text)

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.nag.step.numpy())
        with self.train_writer.as_default(step=step):
            for name, value in (logs or {}).items():
                tf.summary.scalar(f"train/{name}", float(value))
            tf.summary.scalar("train/skipped_steps", float(self.nag.skipped_steps.numpy()))
            # mu, the diversity penalty's weight (adapted by dual ascent): where windup would show.
            tf.summary.scalar("train/diversity_penalty_weight", float(self.nag.perturbation_diversity_weight.numpy()))
            if step % self.image_every_steps == 0:
                self._pictures()

    def _pictures(self):
        self.nag.prepare_for_inference()
        delta = self.nag.generator(self.fixed_z, training=False)
        shown = (delta.numpy() / self.xi + 1.0) / 2.0
        tf.summary.image("perturbations", _grid(shown, columns=4))
        count = int(self.sample_images.shape[0])
        adversarial = perturb(self.sample_images, delta[:count], self.nag.loss_config.clip)
        tf.summary.image("adversarial_images", _grid(np.clip(adversarial.numpy() / 255.0, 0, 1), columns=count))

    def on_epoch_end(self, epoch, logs=None):
        step = int(self.nag.step.numpy())
        with self.eval_writer.as_default(step=step):
            for name, value in (logs or {}).items():
                if name.startswith("val_"):
                    tf.summary.scalar(f"eval/{name[4:]}", float(value))
        self.train_writer.flush()
        self.eval_writer.flush()

    def on_train_end(self, logs=None):
        with self.train_writer.as_default(step=int(self.nag.step.numpy())):
            self._pictures()
        self.train_writer.flush()
        self.eval_writer.flush()
