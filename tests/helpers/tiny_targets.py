"""The tests' targets: tiny CNNs that a generator learns to fool in a few CPU steps.

Not part of the product: registered when this module is imported, which keras_apps does for the modules
named in NAG_TF_TARGET_MODULES (the way a user adds targets of their own). tests/conftest.py sets it to
`helpers.tiny_targets` and puts tests/ on PYTHONPATH, so the binaries the tests start see them too.
"""

import keras
from keras import layers

from keras_apps.specs import TargetSpec, register

TINY_IMAGE_SIZE = 32
TINY_CLASSES = 10


def build_tiny_cnn(weights, seed=0, image_size=TINY_IMAGE_SIZE):
    """A 3-layer CNN on small images (32x32 by default) with 10 classes.

    Unlike a random-weight ImageNet network (logits ~1e-10, a flat softmax, no
    gradient), its seeded random weights give logits of order 1, so a
    generator can learn to fool it in a few CPU steps: the tests' target.
    """
    if weights not in (None, "none"):
        raise ValueError("tiny_cnn has no pretrained weights; pass a weights file or 'none'")
    init = keras.initializers.HeNormal(seed=seed)
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", kernel_initializer=init, name="conv1")(
        inputs
    )
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", kernel_initializer=init, name="conv2")(x)
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", kernel_initializer=init, name="conv3")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    # Unit-variance output weights make logits of order 1-2 (a peaked softmax).
    head_init = keras.initializers.RandomNormal(0.0, 1.0, seed=seed)
    logits = layers.Dense(TINY_CLASSES, kernel_initializer=head_init, name="logits")(x)
    return keras.Model(inputs, logits, name="tiny_cnn")


def _scale_to_unit_range(images):
    return images / 127.5 - 1.0


def _tiny_builder(seed, image_size):
    return lambda weights: build_tiny_cnn(weights, seed=seed, image_size=image_size)


# tiny_cnn; a second one (other seed) for transfer-matrix tests; a third at another input
# size for ensemble tests (the perturbation is resized for it).
for _name, _seed, _size in (
    ("tiny_cnn", 0, TINY_IMAGE_SIZE),
    ("tiny_cnn_b", 1, TINY_IMAGE_SIZE),
    ("tiny_cnn_40", 2, 40),
):
    register(
        TargetSpec(
            name=_name,
            build=_tiny_builder(_seed, _size),
            preprocess=_scale_to_unit_range,
            image_size=_size,
            preprocess_mode="tf",
            reference_layer="conv2",
            feature_layer="conv2",
            num_classes=TINY_CLASSES,
        )
    )
