"""Exports a trained generator as a SavedModel that TF Serving (or TFLite) serves as it is.

Signatures (inputs and outputs keep these names, the batch dimension is -1):
  serving_default: z float32 [N, d]                  -> perturbation float32 [N, S, S, 3]
  sample:          seed int64 [N]                     -> perturbation float32 [N, S, S, 3]
  perturb:         images uint8 [N, H, W, 3],
                   seed int64 [N] (or [0]: seeds 0..N-1) -> adversarial_images uint8 [N, S, S, 3]

Perturbations are on the 0-255 scale with ||perturbation||_inf <= xi.
`sample` draws z ~ U[-1, 1]^d with a stateless RNG seeded by (seed, 0), so
"perturbation #17" is the same on every call and every server. `perturb`
resizes images of any size to S x S (bilinear, as the generator's target
expects), adds the perturbation of each image's seed, clips to [0, 255] and
rounds to uint8.

The model carries its metadata as variables (`xi`, `latent_dim`,
`image_size`, `target`) and as the asset `nag_metadata.json`.
"""

import json
import os
import re
import shutil
import tempfile

import tensorflow as tf

from nag_tf.errors import NAGError

__all__ = ["PerturbationModule", "export_saved_model", "next_version", "METADATA_ASSET"]

METADATA_ASSET = "nag_metadata.json"


class PerturbationModule(tf.Module):
    """The generator behind three serving signatures."""

    def __init__(self, generator, xi, target_name, metadata_path):
        super().__init__(name="nag_perturbation")
        self.generator = generator
        latent_dim = int(generator.input_shape[-1])
        size = int(generator.output_shape[1])
        self.latent_dim_value, self.size_value = latent_dim, size
        self.xi = tf.Variable(float(xi), trainable=False, name="xi")
        self.latent_dim = tf.Variable(latent_dim, trainable=False, name="latent_dim")
        self.image_size = tf.Variable(size, trainable=False, name="image_size")
        self.target = tf.Variable(target_name, trainable=False, name="target")
        self.metadata = tf.saved_model.Asset(metadata_path)

        self.serving_default = tf.function(self._from_z, input_signature=[tf.TensorSpec([None, latent_dim], tf.float32, name="z")])
        self.sample = tf.function(self._from_seed, input_signature=[tf.TensorSpec([None], tf.int64, name="seed")])
        self.perturb = tf.function(
            self._perturb,
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images"), tf.TensorSpec([None], tf.int64, name="seed")],
        )

    def latents(self, seed):
        """z for each seed: stateless U[-1, 1]^d seeded by (seed, 0)."""
        return tf.map_fn(
            lambda s: tf.random.stateless_uniform([self.latent_dim_value], seed=tf.stack([s, tf.constant(0, tf.int64)]), minval=-1.0, maxval=1.0),
            seed,
            fn_output_signature=tf.TensorSpec([self.latent_dim_value], tf.float32),
        )

    def _from_z(self, z):
        return {"perturbation": self.generator(z, training=False)}

    def _from_seed(self, seed):
        return {"perturbation": self.generator(self.latents(seed), training=False)}

    def _perturb(self, images, seed):
        count = tf.shape(images)[0]
        seed = tf.cond(tf.size(seed) > 0, lambda: seed, lambda: tf.range(tf.cast(count, tf.int64)))
        tf.debugging.assert_equal(tf.size(seed), count, message="seed must have one entry per image (or none)")
        resized = tf.image.resize(tf.cast(images, tf.float32), [self.size_value, self.size_value])
        adversarial = tf.clip_by_value(resized + self.generator(self.latents(seed), training=False), 0.0, 255.0)
        return {"adversarial_images": tf.cast(tf.round(adversarial), tf.uint8)}


def next_version(export_dir):
    """The next TF Serving version number under `export_dir` (1 if there is none)."""
    if not os.path.isdir(export_dir):
        return 1
    versions = [int(name) for name in os.listdir(export_dir) if re.fullmatch(r"\d+", name)]
    return max(versions, default=0) + 1


def export_saved_model(generator, export_dir, xi, target_name, extra_metadata=None):
    """Writes `export_dir/<next version>/` atomically (temporary folder, then rename); returns its path."""
    os.makedirs(export_dir, exist_ok=True)
    version = next_version(export_dir)
    staging = tempfile.mkdtemp(prefix=".staging-", dir=export_dir)
    try:
        metadata = {
            "xi": float(xi),
            "target": target_name,
            "latent_dim": int(generator.input_shape[-1]),
            "image_size": int(generator.output_shape[1]),
            "version": version,
            **(extra_metadata or {}),
        }
        metadata_path = os.path.join(staging, METADATA_ASSET)
        with open(metadata_path, "w") as handle:
            json.dump(metadata, handle, indent=2)
        module = PerturbationModule(generator, xi, target_name, metadata_path)
        model_dir = os.path.join(staging, "model")
        tf.saved_model.save(
            module,
            model_dir,
            signatures={"serving_default": module.serving_default, "sample": module.sample, "perturb": module.perturb},
        )
        final = os.path.join(export_dir, str(version))
        if os.path.exists(final):
            raise NAGError(f"version {final} appeared during export; nothing was overwritten")
        os.rename(model_dir, final)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)
