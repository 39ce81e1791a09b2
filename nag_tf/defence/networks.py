"""The defence's networks: a detector of universal perturbations, a rectifier that undoes them, and the
rectifier composed with the frozen target into one classifier (what an adaptive attack attacks).

Both small networks see 0-255 RGB photos at the target's size. A universal perturbation is one fixed
pattern on every photo, mostly high-frequency at xi = 10, so the detector reads the photo's high-pass
residual (the photo minus its 3 x 3 local mean), where the pattern stands out from image content.
The rectifier adds a learnt correction to its input and starts as the identity (its last layer is zero),
so the defended classifier starts with the bare target's clean accuracy.
"""

import keras
import tensorflow as tf

__all__ = ["build_detector", "build_rectifier", "DefendedClassifier", "export_defended"]

# The correction's scale on the 0-255 range: the last layer's unit output moves a pixel by this much, about
# twice the L-inf budget the defence is trained against (xi = 10), so undoing one takes small weights.
_CORRECTION_SCALE = 20.0


def build_detector(image_size, width=16, seed=0):
    """A small CNN on the high-pass residual: 0-255 photos [N, S, S, 3] -> logit [N, 1] (> 0: perturbed).

    Args:
      image_size: S, the target's input side.
      width: channels of the first convolution (doubled at each of the three strided ones).
      seed: the initialisation's seed.
    """
    initializer = keras.initializers.GlorotUniform(seed=seed)
    images = keras.Input((image_size, image_size, 3), name="images")
    local_mean = keras.layers.AveragePooling2D(3, strides=1, padding="same", name="local_mean")(images)
    # On the 0-255 scale a perturbation of xi = 10 leaves residuals of about 10: scaled to about 1.
    residual = keras.layers.Rescaling(0.1, name="residual_scale")(
        keras.layers.Subtract(name="high_pass")([images, local_mean])
    )
    hidden = residual
    for level in range(3):
        hidden = keras.layers.Conv2D(
            width * 2**level,
            3,
            strides=2,
            padding="same",
            activation="relu",
            kernel_initializer=initializer,
            name=f"conv_{level}",
        )(hidden)
    # Mean and max over positions: a pattern everywhere (a universal perturbation) and a strong local one.
    pooled = keras.layers.Concatenate(name="pooled")(
        [keras.layers.GlobalAveragePooling2D()(hidden), keras.layers.GlobalMaxPooling2D()(hidden)]
    )
    logit = keras.layers.Dense(1, kernel_initializer=initializer, name="logit")(pooled)
    return keras.Model(images, logit, name="uap_detector")


def build_rectifier(image_size, width=32, depth=4, seed=0):
    """An image-to-image residual CNN: 0-255 photos -> 0-255 photos, x + correction(x) clipped to the range;
    the identity at initialisation (its last layer's weights are zero).

    Args:
      image_size: S, the target's input side.
      width: channels of its hidden convolutions.
      depth: convolutions in all, the last one giving the 3-channel correction.
      seed: the initialisation's seed.
    """
    initializer = keras.initializers.GlorotUniform(seed=seed)
    images = keras.Input((image_size, image_size, 3), name="images")
    hidden = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_unit")(images)
    for level in range(depth - 1):
        hidden = keras.layers.Conv2D(
            width, 3, padding="same", activation="relu", kernel_initializer=initializer, name=f"conv_{level}"
        )(hidden)
    correction = keras.layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros", name="correction")(hidden)
    correction = keras.layers.Rescaling(_CORRECTION_SCALE, name="correction_scale")(correction)
    rectified = keras.layers.Add(name="rectified")([images, correction])
    rectified = keras.layers.Activation(lambda x: keras.ops.clip(x, 0.0, 255.0), name="pixel_range")(rectified)
    return keras.Model(images, rectified, name="rectifier")


class DefendedClassifier(keras.Model):
    """The rectifier in front of the frozen target, as one classifier: 0-255 photos -> the target's logits.

    What is exported and attacked as a whole: an attack on it gets the gradient through the rectifier.
    """

    def __init__(self, rectifier, target, **kwargs):
        super().__init__(**kwargs)
        self.rectifier = rectifier
        self.target = target  # a keras_apps Target (frozen, batch norm in inference mode)

    def call(self, images, training=False):
        return self.target(self.rectifier(tf.cast(images, tf.float32), training=training)).logits


def export_defended(defended, export_dir):
    """Writes the defended classifier as a SavedModel (Keras' export: a `serve` endpoint on float32 0-255
    photos [N, S, S, 3] returning logits) that `--target=DIR@none` loads like any model file; returns DIR."""
    size = defended.target.image_size
    defended(tf.zeros([1, size, size, 3]))  # builds it
    archive = keras.export.ExportArchive()
    archive.track(defended)
    archive.add_endpoint(
        "serve", lambda images: defended(images), input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)]
    )
    archive.write_out(export_dir, verbose=False)
    return export_dir
