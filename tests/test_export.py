"""SavedModel export: signatures match the Keras generator, determinism, versions, TFLite."""

import os

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from helpers.artifacts import scaled_generator

from export import saved_model_lib, tflite_lib
from nag_tf.evaluation import sources
from nag_tf.inputs import data

XI = 10.0


@pytest.fixture(scope="module")
def generator():
    """A generator whose outputs are far from zero (an untrained one would make comparisons meaningless)."""
    return scaled_generator(seed=0)


@pytest.fixture(scope="module")
def exported(generator, tmp_path_factory):
    base = tmp_path_factory.mktemp("exports") / "nag"
    return str(base), saved_model_lib.export_saved_model(generator, str(base), XI, "tiny_cnn")


def test_every_signature_matches_the_keras_generator(generator, exported):
    _, path = exported
    loaded = tf.saved_model.load(path)
    z = tf.random.stateless_uniform([5, 4], seed=[1, 1], minval=-1, maxval=1)
    expected = generator(z, training=False).numpy()
    assert np.abs(expected).max() > 1.0  # a meaningful comparison
    got = loaded.signatures["serving_default"](z=z)["perturbation"].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)
    seeds = tf.constant([0, 17, 3], tf.int64)
    module = saved_model_lib.PerturbationModule(generator, XI)
    by_seed = generator(module.latents(seeds), training=False).numpy()
    np.testing.assert_allclose(loaded.signatures["sample"](seed=seeds)["perturbation"].numpy(), by_seed, atol=1e-4)
    images = tf.constant(np.random.default_rng(0).integers(0, 256, [3, 40, 50, 3]), tf.uint8)
    adversarial = loaded.signatures["perturb"](images=images, seed=seeds)["adversarial_images"].numpy()
    reference = np.clip(data.resize_to_square(images, 32).numpy().astype(np.float32) + by_seed, 0, 255)
    assert adversarial.dtype == np.uint8 and adversarial.shape == (3, 32, 32, 3)
    np.testing.assert_allclose(adversarial, np.round(reference), atol=1)
    assert np.abs(by_seed).max() <= XI + 1e-4


def test_same_seed_same_perturbation_and_metadata(exported):
    _, path = exported
    loaded = tf.saved_model.load(path)
    first = loaded.signatures["sample"](seed=tf.constant([17], tf.int64))["perturbation"].numpy()
    again = tf.saved_model.load(path).signatures["sample"](seed=tf.constant([5, 17], tf.int64))["perturbation"].numpy()
    # Same inputs, same batch: identical, bit for bit.
    repeat = loaded.signatures["sample"](seed=tf.constant([5, 17], tf.int64))["perturbation"].numpy()
    np.testing.assert_array_equal(again, repeat)
    # Seed 17 at batch position 0 of 1 or 1 of 2: the same perturbation up to float32 rounding, whose order
    # oneDNN picks by the batch's shape (seen: 3e-5 on an AVX2-only CPU, 0 on AVX512). Bound: 1e-5 of xi,
    # ~80 float32 epsilons of the largest |delta| -- far below the 1/255 that would change a pixel.
    np.testing.assert_allclose(first[0], again[1], rtol=0, atol=1e-5 * XI)
    assert not np.allclose(again[0], again[1], atol=1e-3 * XI)
    metadata = saved_model_lib.read_metadata(path)
    assert (metadata.xi, metadata.target, metadata.latent_dim, metadata.image_size, metadata.version) == (
        XI,
        "tiny_cnn",
        4,
        32,
        1,
    )
    assert (metadata.norm, metadata.clip, metadata.resize, metadata.target_class) == ("linf", True, "crop", None)


def test_png_signatures_decode_to_the_uint8_images_and_the_visualised_perturbation(exported):
    """`perturb_png` is `perturb` losslessly; `sample_png` is round((delta / xi + 1) * 127.5)."""
    _, path = exported
    loaded = tf.saved_model.load(path)
    seeds = tf.constant([3, 17], tf.int64)
    images = tf.constant(np.random.default_rng(2).integers(0, 256, [2, 40, 50, 3]), tf.uint8)
    files = loaded.signatures["perturb_png"](images=images, seed=seeds)["adversarial_images_png_bytes"].numpy()
    expected = loaded.signatures["perturb"](images=images, seed=seeds)["adversarial_images"].numpy()
    assert files.shape == (2,) and all(f.startswith(b"\x89PNG") for f in files)
    np.testing.assert_array_equal(np.stack([tf.io.decode_png(f).numpy() for f in files]), expected)
    pictures = loaded.signatures["sample_png"](seed=seeds)["perturbation_png_bytes"].numpy()
    delta = loaded.signatures["sample"](seed=seeds)["perturbation"].numpy()
    decoded = np.stack([tf.io.decode_png(f).numpy() for f in pictures]).astype(np.float32)
    # One grey level of rounding: 127.5 / xi grey levels per unit of delta.
    np.testing.assert_allclose(decoded, (delta / XI + 1) * 127.5, atol=0.5 + 1e-3)
    assert decoded.min() < 100 and decoded.max() > 155  # the visualisation spans the range


def test_perturb_without_seeds_uses_0_to_n(exported):
    _, path = exported
    loaded = tf.saved_model.load(path)
    images = tf.zeros([2, 32, 32, 3], tf.uint8)
    implicit = loaded.signatures["perturb"](images=images, seed=tf.zeros([0], tf.int64))["adversarial_images"]
    explicit = loaded.signatures["perturb"](images=images, seed=tf.constant([0, 1], tf.int64))["adversarial_images"]
    np.testing.assert_array_equal(implicit.numpy(), explicit.numpy())


def test_reexport_creates_the_next_version_and_keeps_the_first(generator, exported):
    base, first = exported
    before = {f: os.path.getmtime(os.path.join(first, f)) for f in os.listdir(first)}
    second = saved_model_lib.export_saved_model(generator, base, XI, "tiny_cnn")
    assert os.path.basename(first) == "1" and os.path.basename(second) == "2"
    assert before == {f: os.path.getmtime(os.path.join(first, f)) for f in os.listdir(first)}
    assert sorted(os.listdir(base)) == ["1", "2"]  # no staging folder left behind


@pytest.mark.parametrize("quantize, tolerance", [("none", 1e-3), ("float16", 0.05 * XI)])
def test_tflite_matches_the_saved_model(exported, quantize, tolerance):
    _, path = exported
    runner = Interpreter(model_content=tflite_lib.convert(path, quantize)).get_signature_runner("serving_default")
    z = tf.random.stateless_uniform([1, 4], seed=[2, 2], minval=-1, maxval=1)
    got = runner(z=z.numpy())["perturbation"]
    expected = tf.saved_model.load(path).signatures["serving_default"](z=z)["perturbation"].numpy()
    np.testing.assert_allclose(got, expected, atol=tolerance)


def test_saved_model_cli_shows_every_signature(exported):
    import shutil
    import subprocess

    _, path = exported
    cli = shutil.which("saved_model_cli")
    assert cli, "saved_model_cli comes with tensorflow"
    result = subprocess.run([cli, "show", "--all", "--dir", path], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    for expected in (
        "signature_def['serving_default']",
        "signature_def['sample']",
        "signature_def['perturb']",
        "signature_def['sample_png']",
        "signature_def['perturb_png']",
        "outputs['perturbation_png_bytes']",
        "Method name is: tensorflow/serving/predict",
        "outputs['adversarial_images']",
        "shape: (-1, 32, 32, 3)",
    ):
        assert expected in result.stdout, expected


def test_evaluation_sample_k_is_the_exported_sample_for_seed_k(generator, exported):
    """One latent sampler: evaluation's perturbation k (seed 0) is the `sample` signature's seed k."""
    _, path = exported
    evaluated = sources.GeneratorSource(generator, XI).sample(4, seed=0).numpy()
    served = tf.saved_model.load(path).signatures["sample"](seed=tf.range(4, dtype=tf.int64))["perturbation"].numpy()
    # Same batch of 4 in the Keras model and the SavedModel graph; float32 rounding may differ between
    # the two graphs (bound: 1e-5 of xi, as above).
    np.testing.assert_allclose(served, evaluated, rtol=0, atol=1e-5 * XI)
    assert np.abs(evaluated).max() > 1.0  # meaningful: far from an all-zero output


def test_the_endpoint_adversarial_image_is_the_one_evaluation_scores(generator, exported, tmp_path):
    """One preprocessing path: a photo through `perturb` equals evaluation's decoded photo + its delta."""
    _, path = exported
    photo = np.random.default_rng(3).integers(0, 256, [45, 60, 3]).astype(np.uint8)  # not square: crop matters
    file = str(tmp_path / "photo.png")
    tf.io.write_file(file, tf.io.encode_png(photo))
    decoded, _ = data._decode_and_crop(tf.io.read_file(file), 32, "crop")  # evaluation's image
    delta = sources.GeneratorSource(generator, XI).sample(3, seed=0)[2]  # evaluation's perturbation 2
    scored = np.clip(decoded.numpy().astype(np.float32) + delta.numpy(), 0, 255)
    served = tf.saved_model.load(path).signatures["perturb"](images=photo[np.newaxis], seed=tf.constant([2], tf.int64))
    served = served["adversarial_images"].numpy()[0]
    # Rounding to uint8 after float32 differences of up to 1e-5 xi: at most 1 grey level apart.
    assert np.abs(served.astype(np.int32) - np.round(scored).astype(np.int32)).max() <= 1
    assert np.mean(served == np.round(scored).astype(np.uint8)) > 0.99


def test_an_old_export_without_the_new_fields_loads_with_a_warning(exported):
    import json
    import shutil
    import warnings

    from nag_tf.evaluation import sources
    from nag_tf.export_metadata import metadata_path

    _, path = exported
    old = path + "_old"
    shutil.copytree(path, old)
    with open(metadata_path(old), "w") as handle:  # what exports wrote before clip, resize... were recorded
        json.dump({"xi": XI, "target": "tiny_cnn", "latent_dim": 4, "image_size": 32, "version": 1}, handle)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = sources.load_source(old)
    assert any("exported before nag_tf recorded norm, clip, resize" in str(w.message) for w in caught)
    assert (source.clip, source.resize, source.target_class) == (True, "crop", None)
