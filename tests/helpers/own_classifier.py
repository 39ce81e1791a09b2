"""A user's own classifier, as a test needs one: trained here on synthetic 10-class 32 px images, saved to a file.

Class k is a grating at angle 18k degrees with a random phase and frequency: a
CNN learns it in a few epochs, so its predictions mean something and a
generator has something to fool (a random-weight network would give a flat
softmax and no gradient).
"""

import os

import keras
import numpy as np
import tensorflow as tf

CLASSES = 10
SIZE = 32


def grating_images(count, seed=0, size=SIZE):
    """uint8 [count, size, size, 3] gratings and their int labels (class k: angle 18k degrees)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % CLASSES
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = []
    for label in labels:
        angle = np.pi * label / CLASSES
        frequency = rng.uniform(2.5, 4.0)
        wave = np.sin(2 * np.pi * frequency * (np.cos(angle) * xx + np.sin(angle) * yy) + rng.uniform(0, 2 * np.pi))
        colour = rng.uniform(0.6, 1.0, size=3)
        image = 127.5 + 40.0 * wave[..., None] * colour + rng.normal(0, 12, (size, size, 3))
        images.append(np.clip(image, 0, 255))
    return np.asarray(images, np.uint8), labels


def write_grating_folder(directory, count, seed=0):
    """The gratings as JPEGs with a labels.csv (file,class_index), as nag_tf's data folders take them."""
    images, labels = grating_images(count, seed)
    os.makedirs(directory, exist_ok=True)
    rows = ["file,class_index"]
    for i, (image, label) in enumerate(zip(images, labels)):
        name = f"g{i:03d}.png"
        tf.io.write_file(os.path.join(directory, name), tf.io.encode_png(image))
        rows.append(f"{name},{label}")
    with open(os.path.join(directory, "labels.csv"), "w") as handle:
        handle.write("\n".join(rows) + "\n")
    return str(directory)


def train_own_classifier(epochs=8, seed=0, softmax=True):
    """A small CNN on 0-255 images scaled by x / 127.5 - 1 (the 'tf' preprocessing), with a final softmax."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(CLASSES, activation="softmax" if softmax else None, name="predictions")(x)
    model = keras.Model(inputs, outputs, name="own_classifier")
    images, labels = grating_images(400, seed=seed + 100)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax),
        metrics=["accuracy"],
    )
    model.fit(images.astype(np.float32) / 127.5 - 1.0, labels, epochs=epochs, batch_size=32, verbose=0)
    return model


def save_as_saved_model(model, directory):
    """A SavedModel with one serving_default signature taking float images, as tf.saved_model.save writes it."""
    module = tf.Module()
    module.model = model

    @tf.function(input_signature=[tf.TensorSpec([None, SIZE, SIZE, 3], tf.float32, name="image")])
    def serve(image):
        return {"probabilities": model(image, training=False)}

    tf.saved_model.save(module, directory, signatures={"serving_default": serve})
    return directory
