"""Exports a trained generator as a SavedModel that TF Serving (or TFLite) serves as it is.

Signatures (inputs and outputs keep these names, the batch dimension is -1):
  serving_default: z float32 [N, d]                  -> perturbation float32 [N, S, S, 3]
  sample:          seed int64 [N]                     -> perturbation float32 [N, S, S, 3]
  perturb:         images uint8 [N, H, W, 3],
                   seed int64 [N] (or [0]: seeds 0..N-1) -> adversarial_images uint8 [N, S, S, 3]
  sample_png:      seed int64 [N]                     -> perturbation_png_bytes string [N]
  perturb_png:     images, seed as `perturb`          -> adversarial_images_png_bytes string [N]

The `_png` signatures answer with PNG files, TF Serving's convention for
binary outputs (a DT_STRING output whose alias ends in `_bytes`, which its
REST API returns as {"b64": ...}): a 224 px answer is ~100 kB of base64
instead of ~1.5 MB of float text. `perturbation_png_bytes` shows delta on
0-255 as round((delta / xi + 1) * 127.5) (grey = 0); `adversarial_images_png_bytes`
decodes to exactly the uint8 images of `perturb` (PNG is lossless).

Perturbations are on the 0-255 scale with ||perturbation||_inf <= xi.
`sample` draws z with nag_tf's one latent sampler (`metrics.latent_vectors`:
stateless U[-1, 1]^d seeded by (seed, 0)), so "perturbation #17" is the same
on every call, every server and in evaluation (its sample 17). `perturb`
brings images of any size to S x S the way training and evaluation do
(`data.resize_to_square`: shorter side, centre crop, antialiased), adds the
perturbation of each image's seed, clips to [0, 255] and rounds to uint8.

Written with `keras.export.ExportArchive`: its variables are frozen cleanly
by the TFLite converter (a plain tf.Module around a Keras 3 model converted
to a TFLite model whose variable reads returned garbage). The metadata
(`nag_tf.export_metadata.ExportMetadata`: xi, norm, target, sizes, clip,
resize, target class, version, the training config's hash) is
`assets/nag_metadata.json`; `perturb` honours its clip and resize.
"""

import os
import re
import shutil
import tempfile

import keras
import tensorflow as tf

from nag_tf.core.model import perturb
from nag_tf.errors import NAGError
from nag_tf.evaluation import metrics
from nag_tf.export_metadata import METADATA_ASSET, ExportMetadata, config_hash, read_metadata, write_metadata
from nag_tf.inputs import data

__all__ = ["PerturbationModule", "export_saved_model", "next_version", "read_metadata", "METADATA_ASSET"]


class PerturbationModule:
    """The generator's serving functions (traced with explicit input signatures).

    `clip` and `resize` are the training run's, so `perturb` returns the adversarial images evaluation scored.
    """

    def __init__(self, generator, xi, clip=True, resize="crop"):
        self.generator = generator
        self.xi = float(xi)
        self.clip, self.resize = bool(clip), resize
        self.latent_dim = int(generator.input_shape[-1])
        self.image_size = int(generator.output_shape[1])
        self.signatures = {
            "serving_default": [tf.TensorSpec([None, self.latent_dim], tf.float32, name="z")],
            "sample": [tf.TensorSpec([None], tf.int64, name="seed")],
            "perturb": [
                tf.TensorSpec([None, None, None, 3], tf.uint8, name="images"),
                tf.TensorSpec([None], tf.int64, name="seed"),
            ],
        }
        self.signatures["sample_png"] = self.signatures["sample"]
        self.signatures["perturb_png"] = self.signatures["perturb"]
        self.functions = {
            "serving_default": self.from_z,
            "sample": self.from_seed,
            "perturb": self.perturb,
            "sample_png": self.sample_png,
            "perturb_png": self.perturb_png,
        }

    def latents(self, seed):
        """z number `seed` for each seed: nag_tf's one latent sampler, so seed k is evaluation's sample k."""
        return metrics.latent_vectors(seed, self.latent_dim)

    def from_z(self, z):
        return {"perturbation": self.generator(z, training=False)}

    def from_seed(self, seed):
        return {"perturbation": self.generator(self.latents(seed), training=False)}

    def perturb(self, images, seed):
        count = tf.shape(images)[0]
        seed = tf.cond(tf.size(seed) > 0, lambda: seed, lambda: tf.range(tf.cast(count, tf.int64)))
        tf.debugging.assert_equal(tf.size(seed), count, message="seed must have one entry per image (or none)")
        # The same resize as training and evaluation (shorter side and centre crop unless the run stretched).
        resized = data.resize_to_square(images, self.image_size, self.resize)
        adversarial = perturb(resized, self.generator(self.latents(seed), training=False), self.clip)
        # uint8 holds 0-255 only: an unclipped run's images are clipped here, at the very end.
        return {"adversarial_images": tf.cast(tf.round(tf.clip_by_value(adversarial, 0.0, 255.0)), tf.uint8)}

    def sample_png(self, seed):
        perturbation = self.from_seed(seed)["perturbation"]
        visible = tf.cast(tf.round((tf.clip_by_value(perturbation / self.xi, -1.0, 1.0) + 1.0) * 127.5), tf.uint8)
        return {"perturbation_png_bytes": _encode_png(visible)}

    def perturb_png(self, images, seed):
        return {"adversarial_images_png_bytes": _encode_png(self.perturb(images, seed)["adversarial_images"])}


def _encode_png(images):
    """uint8 [N, H, W, 3] -> string [N] of PNG files (tf.io.encode_png takes one image at a time)."""
    return tf.map_fn(tf.io.encode_png, images, fn_output_signature=tf.TensorSpec([], tf.string))


def next_version(export_dir):
    """The next TF Serving version number under `export_dir` (1 if there is none)."""
    if not os.path.isdir(export_dir):
        return 1
    versions = [int(name) for name in os.listdir(export_dir) if re.fullmatch(r"\d+", name)]
    return max(versions, default=0) + 1


def export_saved_model(
    generator, export_dir, xi, target_name, *, norm="linf", clip=True, resize="crop", target_class=None, config=None
):
    """Writes `export_dir/<next version>/` atomically (temporary folder, then rename); returns its path.

    norm, clip, resize and target_class: the training run's (`config`, its TrainConfig, names it by hash).
    """
    os.makedirs(export_dir, exist_ok=True)
    version = next_version(export_dir)
    staging = tempfile.mkdtemp(prefix=".staging-", dir=export_dir)
    try:
        metadata = ExportMetadata(
            xi=float(xi),
            target=target_name,
            latent_dim=int(generator.input_shape[-1]),
            image_size=int(generator.output_shape[1]),
            version=version,
            norm=norm,
            clip=bool(clip),
            resize=resize,
            target_class=target_class,
            config_sha256=config_hash(config) if config is not None else None,
        )
        module = PerturbationModule(generator, xi, clip=clip, resize=resize)
        archive = keras.export.ExportArchive()
        archive.track(generator)
        for name, function in module.functions.items():
            archive.add_endpoint(name, function, input_signature=module.signatures[name])
        model_dir = os.path.join(staging, "model")
        archive.write_out(model_dir, verbose=False)
        write_metadata(model_dir, metadata)  # in assets/, beside the model (TF Serving ignores files there)
        final = os.path.join(export_dir, str(version))
        if os.path.exists(final):
            raise NAGError(f"version {final} appeared during export; nothing was overwritten")
        os.rename(model_dir, final)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)
