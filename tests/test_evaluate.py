"""Evaluation: metrics on hand-built inputs, the transfer matrix, interpolation, SGD-UAP, files."""

import os
import re

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_train_config

import keras_apps
from nag_tf.baselines import sgd_uap_lib
from nag_tf.evaluation import evaluate_lib, metrics, sources
from nag_tf.inputs import batches, data
from nag_tf.training import train_lib


def test_fooling_rate_on_hand_built_predictions():
    # labels change for images 1 and 3 of 4 -> 0.5; ground truth is not used.
    assert metrics.fooling_rate([1, 2, 3, 4], [1, 5, 3, 0]) == 0.5
    assert metrics.fooling_rate([7, 7], [7, 7]) == 0.0
    with pytest.raises(ValueError):
        metrics.fooling_rate([1], [1, 2])


def test_classes_covering_95_percent_on_a_hand_built_histogram():
    # Shares 0.5, 0.3, 0.1, 0.06, 0.04: cumulative 0.5, 0.8, 0.9, 0.96 -> 4 classes.
    histogram = np.array([0.1, 0.5, 0.04, 0.3, 0.06])
    assert evaluate_lib.classes_covering(histogram) == 4
    assert evaluate_lib.classes_covering(histogram, 0.5) == 1
    assert evaluate_lib.classes_covering(np.eye(10)[3]) == 1  # one dominant label


def test_label_histogram_is_the_mean_over_deltas():
    histogram = evaluate_lib.label_histogram(np.array([[0, 0, 1, 1], [2, 2, 2, 2]]), 3)
    np.testing.assert_allclose(histogram, [0.25, 0.25, 0.5])


def test_mean_pairwise_cosine_on_hand_built_vectors():
    # pairs: (a,b) = 0, (a,c) = 1, (b,c) = 0 -> mean 1/3
    assert metrics.mean_pairwise_cosine(np.array([[1.0, 0.0], [0.0, 3.0], [2.0, 0.0]])) == pytest.approx(1 / 3)
    assert metrics.mean_pairwise_cosine(np.ones([4, 2, 2, 3])) == pytest.approx(1.0)


def test_sgd_uap_projection_and_training_keep_the_budget(image_folder):
    projected = sgd_uap_lib.project(tf.constant([-30.0, -3.0, 0.0, 9.9, 40.0]), 10.0).numpy()
    np.testing.assert_allclose(projected, [-10.0, -3.0, 0.0, 9.9, 10.0], rtol=1e-6)
    target = keras_apps.load_target("tiny_cnn", "none")
    records = data.read_image_folder(image_folder)
    cached = batches.cache_with_clean_labels(data.decode_records(records, 32), target, 16, records)
    perturbation, steps, _, _ = sgd_uap_lib.train_sgd_uap(target, cached, xi=10.0, batch_size=8, steps=5)
    assert steps == 5 and perturbation.shape == (32, 32, 3)
    assert np.max(np.abs(perturbation)) <= 10.0 and np.max(np.abs(perturbation)) == pytest.approx(
        10.0
    )  # sign steps saturate


@pytest.fixture(scope="module")
def two_generators(tmp_path_factory, image_folder):

    paths = []
    for target in ("tiny_cnn", "tiny_cnn_b"):
        logdir = str(tmp_path_factory.mktemp(target))
        train_lib.train(tiny_train_config(image_folder, logdir, target=target, epochs=1, eval_samples=2))
        paths.append(logdir)
    return paths


def test_transfer_matrix_shape_and_white_box_diagonal(two_generators, image_folder):
    loaded = [sources.load_source(p, name) for p, name in zip(two_generators, ("gen_a", "gen_b"))]
    report = evaluate_lib.evaluate(
        loaded,
        ["tiny_cnn", "tiny_cnn_b"],
        image_folder,
        "none",
        white_box_samples=6,
        black_box_samples=3,
        interpolation_steps=0,
    )
    assert report.matrix().shape == (2, 2)
    samples = [[len(s.per_target[t].fooling_rates) for t in report.targets] for s in report.sources]
    assert samples == [[6, 3], [3, 6]]  # the diagonal (own target) is white-box


def test_interpolation_endpoints_are_the_two_samples(two_generators):
    source = sources.load_source(two_generators[0])
    deltas, ends = source.interpolate(5, seed=3)
    # A batch of 5 against a batch of 1: equal up to float32 rounding that depends on the batch's shape
    # (seen: 2.9e-5 on an AVX2-only CPU); bound 1e-5 of xi, see test_export's same-seed test.
    tolerance = 1e-5 * source.xi
    np.testing.assert_allclose(
        deltas[0].numpy(), source.generator(ends[:1], training=False)[0].numpy(), rtol=0, atol=tolerance
    )
    np.testing.assert_allclose(
        deltas[-1].numpy(), source.generator(ends[1:], training=False)[0].numpy(), rtol=0, atol=tolerance
    )


def test_evaluate_binary_writes_every_file(two_generators, image_folder, tmp_path):
    from helpers.cli import run_module

    target = keras_apps.load_target("tiny_cnn", "none")
    uap = sources.save_perturbation(np.full([32, 32, 3], 10.0, np.float32), str(tmp_path / "uap.npy"), 10.0, "tiny_cnn")
    out_dir, logdir = tmp_path / "report", tmp_path / "tb"
    result = run_module(
        "nag_tf.evaluate",
        f"--sources={two_generators[0]},{uap}",
        "--weights=none",
        f"--data_dir={image_folder}",
        "--white_box_samples=4",
        "--black_box_samples=2",
        "--interpolation_steps=3",
        f"--out_dir={out_dir}",
        f"--logdir={logdir}",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    name = os.path.basename(two_generators[0])
    for file in (
        "report.md",
        "report.csv",
        "report.json",
        f"{name}_perturbations.png",
        f"{name}_dominant_labels.png",
        f"{name}_interpolation.png",
        "uap_perturbations.png",
        "uap_dominant_labels.png",
    ):
        assert (out_dir / file).stat().st_size > 0, file
    assert "classes covering 95%" in (out_dir / "report.md").read_text()
    assert list((logdir / "evaluation").glob("events.out.tfevents.*"))
    del target


def test_an_exported_saved_model_is_a_source_too(two_generators, tmp_path):
    from export import saved_model_lib

    source = sources.load_source(two_generators[0])
    version = saved_model_lib.export_saved_model(source.generator, str(tmp_path / "nag"), source.xi, source.target_name)
    exported = sources.load_source(version)
    assert exported.target_name == "tiny_cnn" and exported.image_size == 32 and exported.name == "nag_v1"
    np.testing.assert_allclose(exported.sample(3, seed=5).numpy(), source.sample(3, seed=5).numpy(), atol=1e-4)


@pytest.mark.parametrize("choice", [{"target_class": 3}, {"clip": False}, {"resize": "stretch"}])
def test_an_export_is_scored_exactly_as_its_training_log_directory(choice, image_folder, tmp_path):
    """A targeted, unclipped or stretched run keeps its choice through the export (scored as untargeted,
    clipped and cropped before the metadata recorded them)."""
    from helpers.artifacts import scaled_generator, write_run_dir
    from helpers.cli import run_module

    from nag_tf.core.config import TrainConfig

    run = tmp_path / "run"
    run.mkdir()
    config = TrainConfig.from_logdir(write_run_dir(str(run), scaled_generator(seed=1), **choice))
    exported = run_module("export.saved_model", f"--checkpoint={run}", f"--export_dir={tmp_path / 'nag'}", timeout=300)
    assert exported.returncode == 0, exported.stderr[-2000:]
    pair = [sources.load_source(str(run), "run"), sources.load_source(str(tmp_path / "nag" / "1"), "export")]
    assert [(s.clip, s.resize, s.target_class) for s in pair] == [(config.clip, config.resize, config.target_class)] * 2
    report = evaluate_lib.evaluate(pair, ["tiny_cnn"], image_folder, "none", white_box_samples=4, interpolation_steps=0)
    from_run, from_export = (s.per_target["tiny_cnn"] for s in report.sources)
    assert report.sources[0].rate_name == report.sources[1].rate_name
    np.testing.assert_allclose(from_export.fooling_rates, from_run.fooling_rates, atol=1e-9)
    np.testing.assert_array_equal(from_export.histogram, from_run.histogram)


def test_collapse_detector_fires_on_a_generator_that_ignores_z_and_not_otherwise():
    import keras

    from nag_tf.core.generator import ScaledTanh
    from nag_tf.core.model import NAGModel
    from nag_tf.training.callbacks import CollapseDetector

    target = keras_apps.load_target("tiny_cnn", "none")
    images = np.random.default_rng(0).integers(0, 256, [16, 32, 32, 3]).astype(np.uint8)
    clean = target.predict_labels(images).numpy()
    for ignores_z in (True, False):
        # z -> Dense -> 32x32x3 -> xi * tanh. A zero kernel ignores z: every z gives the bias' perturbation.
        z = keras.Input((4,))
        dense = keras.layers.Dense(
            32 * 32 * 3,
            bias_initializer=keras.initializers.RandomNormal(0, 3, seed=1),
            kernel_initializer="zeros" if ignores_z else keras.initializers.RandomNormal(0, 3, seed=2),
        )
        generator = keras.Model(z, ScaledTanh(10.0)(keras.layers.Reshape((32, 32, 3))(dense(z))))
        model = NAGModel(generator, target)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        detector = CollapseDetector(model, every_steps=1, patience=3, holdout_images=(images, clean))
        results = [detector.check() for _ in range(3)]
        assert detector.warned == ignores_z, results
        cosine, spread = results[-1]
        if ignores_z:
            assert cosine > 0.999 and spread == 0.0
        else:
            assert cosine < 0.5


def test_sources_with_the_same_name_get_distinct_rows(image_folder, tmp_path):
    first = sources.save_perturbation(
        np.full([32, 32, 3], 10.0, np.float32), str(tmp_path / "a" / "uap.npy"), 10.0, "tiny_cnn"
    )
    second = sources.save_perturbation(
        np.full([32, 32, 3], -10.0, np.float32), str(tmp_path / "b" / "uap.npy"), 10.0, "tiny_cnn"
    )
    loaded = [sources.load_source(first), sources.load_source(second)]
    report = evaluate_lib.evaluate(loaded, ["tiny_cnn"], image_folder, "none", 1, 1, interpolation_steps=0)
    assert [s.name for s in report.sources] == ["uap", "uap_2"]


def test_evaluation_scores_each_source_the_way_it_was_trained(two_generators, image_folder, tmp_path, monkeypatch):
    # A run's config.json says --noclip, --resize=stretch and a target class: its source carries them ...
    import json
    import shutil

    from nag_tf.core.config import TrainConfig

    run = tmp_path / "targeted_noclip"
    shutil.copytree(two_generators[0], run)
    config = TrainConfig.from_logdir(str(run))
    (run / "config.json").write_text(
        json.dumps({**json.loads(config.to_json()), "clip": False, "resize": "stretch", "target_class": "3"})
    )
    source = sources.load_source(str(run))
    assert (source.clip, source.resize, source.target_class) == (False, "stretch", 3)
    # ... and evaluation applies them: no clipping, the stretched images, the targeted success rate.
    calls = []
    real = metrics.fooling_rates

    def spy(deltas, target, cached, batch_size=32, clip=True, target_class=None):
        calls.append((clip, target_class, cached.images.shape))
        return real(deltas, target, cached, batch_size, clip, target_class)

    monkeypatch.setattr(metrics, "fooling_rates", spy)
    evaluation = evaluate_lib.evaluate([source], ["tiny_cnn"], image_folder, "none", 2, 2, interpolation_steps=0)
    assert calls and all(call[:2] == (False, 3) for call in calls)
    assert evaluation.sources[0].rate_name == "targeted_success_rate"


@pytest.mark.parametrize(
    "module, flag, message",
    [
        ("nag_tf.evaluate", "--white_box_samples=0", "--white_box_samples=0 must be at least 1"),
        ("export.serve", "--poll_seconds=0", "flag --poll_seconds=0.0: --poll_seconds must be positive"),
    ],
)
def test_the_evaluation_and_serving_binaries_refuse_a_bad_flag_in_one_line(module, flag, message):
    from helpers.cli import error_line, run_module

    assert error_line(
        run_module(module, "--sources=x", flag) if module == "nag_tf.evaluate" else run_module(module, flag)
    ) == (f"error: {message}")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"sources": ()}, "sources is required"),
        ({"black_box_samples": 0}, "black_box_samples=0 must be at least 1"),
        ({"interpolation_steps": -1}, "interpolation_steps=-1 must be 0 or more"),
        ({"batch_size": 0}, "batch_size=0 must be at least 1"),
        ({"seed": -2}, "seed=-2 must be 0 or more"),
        ({"verbose": 2}, "verbose=2: pick 0"),
    ],
)
def test_the_evaluation_options_refuse_each_bad_value_by_name(change, message):
    """The record the binary's flags are read into (and a notebook builds): one NAGError per bad field."""
    import dataclasses

    from nag_tf.errors import NAGError
    from nag_tf.evaluation.evaluate_options import EvaluateOptions

    good = EvaluateOptions(sources=("runs/quickstart",)).validate()
    with pytest.raises(NAGError, match=re.escape(message)):
        dataclasses.replace(good, **change).validate()


def test_the_evaluate_flags_are_the_options_fields_with_their_defaults():
    """Flags made from the record (nag_tf.record_flags) and read back give the record: no default twice."""
    from absl import flags

    from nag_tf import record_flags
    from nag_tf.evaluation.evaluate_options import EvaluateOptions

    values = flags.FlagValues()
    record_flags.define_settings_flags(EvaluateOptions(), values)
    values(["evaluate", "--sources=a,b", "--black_box_samples=3"])
    read = record_flags.settings_from_flags(EvaluateOptions(), values)
    assert read == EvaluateOptions(sources=("a", "b"), black_box_samples=3)
    assert values["white_box_samples"].default == EvaluateOptions().white_box_samples == 100
