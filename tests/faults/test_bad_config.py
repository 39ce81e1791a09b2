"""Every numeric and enum training setting rejects invalid values with one clear NAGError naming the flag."""

import dataclasses

import pytest

from nag_tf.core.config import TrainConfig
from nag_tf.errors import NAGError

pytestmark = pytest.mark.faults

BASE = TrainConfig(target="tiny_cnn", weights="none", data_dir="demo", perturbation_diversity_weight=1.0)
NUMERIC = {
    "xi": [0.0, -1.0, 255.5, float("nan"), float("inf")],
    "holdout": [0.0, -0.5, float("nan")],
    "diversity_weight": [-1.0, float("nan")],
    "perturbation_diversity_weight": [-0.5, float("nan")],
    "perturbation_cosine_margin": [-1.5, 1.0, float("nan")],
    "target_pairwise_cosine": [-1.0, 1.5, float("nan")],
    "cosine_dual_rate": [0.0, -0.1, float("inf")],
    "cosine_dual_max": [-1.0, float("nan"), 0.5],  # 0.5: below the starting weight (1 here)
    "base_perturbation_step": [0.0, -0.1, 11.0, float("inf")],
    "selection_images": [0, -4],
    "select_max_cosine": [-2.0, 1.5, float("nan")],
    "learning_rate": [0.0, -1e-3, float("nan")],
    "time_budget_s": [-1.0, float("nan")],
    "latent_dim": [0, -3],
    "batch_size": [0, 1, -8],
    "epochs": [0, -1],
    "steps_per_epoch": [-1],
    "per_class": [-1],
    "max_images": [-1],
    "image_every_steps": [0],
    "eval_samples": [0],
    "max_bad_steps": [0],
    "steps_per_execution": [0],
    "input_diversity": [-0.1, 1.5, float("nan")],
    "input_diversity_scale": [1.0, 2.5, float("nan")],
    "label_entropy_weight": [-0.5, float("nan")],
    "coverage_loss_weight": [-0.5, float("nan")],
    "coverage_softness": [0.0, -1.0, float("inf")],
    "images_per_perturbation": [0, 3, 32],
    "inner_steps": [-1],
    "feature_loss_weight": [0.0, -1.0, float("nan")],
    "pair_rho": [-1.0, float("nan")],
    "pair_image_radius": [-1.0, float("inf")],
    "pair_weight_steps": [-1],
    "pair_image_steps": [-2],
    "inner_batch": [0],  # batch 32: 3 does not divide it, 32 leaves one delta
}
ENUMS = [
    "generator",
    "diversity_distance",
    "shuffle",
    "fooling_reduction",
    "fooling_loss",
    "learning_rate_schedule",
    "resize",
    "strategy",
    "mixed_precision",
    "norm",
    "linf_output",
    "perturbation_similarity",
    "feature_loss",
]
TEXT = [
    ("preprocess", "bgr"),
    ("preprocess", "scale=2"),
    ("target_weights", "2,3"),
    ("target_weights", "-1"),
    ("target_class", "99"),
    ("target_class", "no such class"),
]
CASES = (
    [(name, value) for name, values in NUMERIC.items() for value in values]
    + [(name, "bogus") for name in ENUMS]
    + TEXT
    + [("target", "alexnet")]
)


@pytest.mark.parametrize("name, value", CASES, ids=[f"{n}={v}" for n, v in CASES])
def test_invalid_value_is_one_clear_error_naming_the_flag(name, value):
    with pytest.raises(NAGError) as raised:
        dataclasses.replace(BASE, **{name: value}).validate()
    message = str(raised.value)
    assert "\n" not in message
    assert name in message or (name == "target" and "unknown target" in message)


def test_every_setting_has_a_bad_value_case():
    """A new TrainConfig field needs a case above (or a reason to be free-form)."""
    free_form = {
        "weights",
        "data_dir",
        "holdout_dir",
        "tfds_name",
        "tfds_split",
        "tfds_holdout_split",
        "tfds_data_dir",
        "logdir",
        "jit_compile",
        "clip",
        "base_perturbation",
        "seed",
        "verbose",
        "diversity_layer",
        "feature_layer",  # a layer name: checked when the target is built (the last test here)
        "dynamic_pairs",  # a switch; what it cannot be combined with: tests/test_dm_uap.py
        "coverage_samples",  # checked when the coverage term is on: its own test here
    }
    covered = set(NUMERIC) | set(ENUMS) | {name for name, _ in TEXT} | {"target"}
    assert {f.name for f in dataclasses.fields(TrainConfig)} - free_form - covered == set()


def test_the_base_config_is_valid():
    BASE.validate()


def test_two_data_sources_or_none_are_rejected():
    with pytest.raises(NAGError, match="exactly one data source"):
        dataclasses.replace(BASE, tfds_name="imagenette").validate()
    with pytest.raises(NAGError, match="exactly one data source"):
        dataclasses.replace(BASE, data_dir=None).validate()


def test_label_entropy_is_refused_for_a_targeted_attack():
    with pytest.raises(NAGError, match="--label_entropy_weight.*--target_class"):
        dataclasses.replace(BASE, label_entropy_weight=0.5, target_class="9").validate()
    dataclasses.replace(BASE, label_entropy_weight=0.5).validate()


def test_the_coverage_term_refuses_too_few_or_too_many_samples_and_a_targeted_attack():
    covered = dataclasses.replace(BASE, coverage_loss_weight=1.0, images_per_perturbation=4)  # 8 deltas a step
    for samples in (1, 9):
        with pytest.raises(NAGError, match=f"--coverage_samples={samples} must be at least 2 and at most .* = 8"):
            dataclasses.replace(covered, coverage_samples=samples).validate()
    dataclasses.replace(covered, coverage_samples=8).validate()
    with pytest.raises(NAGError, match="--coverage_loss_weight.*--target_class"):
        dataclasses.replace(covered, target_class="9").validate()


def test_a_feature_loss_without_a_layer_is_refused_and_an_absent_layer_fails_before_training(tmp_path):
    with pytest.raises(NAGError, match="--feature_loss needs a layer"):
        dataclasses.replace(BASE, feature_loss="cosine", feature_layer="none").validate()
    from nag_tf.training import train_lib

    config = dataclasses.replace(
        BASE, feature_loss="mse", feature_layer="conv9", logdir=str(tmp_path / "run"), epochs=1
    ).validate()
    with pytest.raises(NAGError, match="no layer 'conv9' for the feature loss"):
        train_lib.train(config)
    assert not (tmp_path / "run").exists()  # a failed start leaves no log directory


def test_the_loss_choices_are_defined_once_and_the_model_gets_them_all():
    from nag_tf.core.loss_config import LossConfig

    assert issubclass(TrainConfig, LossConfig)
    assert set(TrainConfig.__annotations__) & set(LossConfig.__annotations__) == set()  # no field declared twice
    config = dataclasses.replace(BASE, fooling_loss="clamped_ce", feature_loss="mse", inner_steps=2)
    assert config.loss_config() == LossConfig(
        perturbation_diversity_weight=1.0, fooling_loss="clamped_ce", feature_loss="mse", inner_steps=2
    )
