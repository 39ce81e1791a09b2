"""Targets whose Keras graph depends on the weights argument build the same graph for a weights file."""

import numpy as np
import pytest

import keras_apps


def test_an_efficientnet_b0_weights_file_gets_the_imagenet_graph(tmp_path):
    # Keras' EfficientNet adds an input Rescaling only for weights="imagenet"; a weights file saved from an
    # ImageNet model (e.g. a hardened copy) must be loaded into that graph, not the weights=None one.
    spec = keras_apps.get_spec("efficientnet_b0")
    plain = spec.build(None)
    random_file = str(tmp_path / "random.weights.h5")
    plain.save_weights(random_file)
    imagenet_graph = spec.build_from_file(random_file)  # the "imagenet" graph with these weights, no download
    assert sum("rescaling" in layer.name for layer in imagenet_graph.layers) == 1 + sum(
        "rescaling" in layer.name for layer in plain.layers
    )
    saved = str(tmp_path / "b0.weights.h5")
    imagenet_graph.save_weights(saved)
    target = keras_apps.load_target("efficientnet_b0", saved)  # --weights=PATH
    images = np.random.default_rng(0).uniform(0, 255, [2, 224, 224, 3]).astype(np.float32)
    expected = imagenet_graph(target.preprocess(images)).numpy()
    got = target(images).logits.numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=0)  # same graph, same weights, same batch
    assert not np.allclose(plain(target.preprocess(images)).numpy(), expected, rtol=1e-3, atol=0)  # the graphs differ


def test_the_feature_layer_comes_from_the_same_forward_pass_and_the_clean_pass_agrees():
    import keras

    target = keras_apps.load_target("tiny_cnn", "none", feature_layer="default")  # conv2: stride 4 at 32 px
    images = np.random.default_rng(0).uniform(0, 255, [3, 32, 32, 3]).astype(np.float32)
    outputs = target(images)
    layer = keras.Model(target.classifier.inputs, target.classifier.get_layer("conv2").output)
    expected = layer(target.preprocess(images)).numpy()
    assert outputs.mid_features.shape == (3, 8, 8, 32)
    np.testing.assert_allclose(outputs.mid_features.numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(target.clean_features(images).numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(  # the logits are the plain classifier's
        outputs.logits.numpy(), target.classifier(target.preprocess(images)).numpy(), rtol=1e-5, atol=1e-5
    )
    assert keras_apps.load_target("tiny_cnn", "none")(images).mid_features is None  # no layer asked: none returned


def test_a_feature_layer_that_is_not_there_is_one_clear_error():
    import dataclasses

    from keras_apps.errors import NAGError
    from keras_apps.registry import _resolve_feature_layer

    with pytest.raises(NAGError, match="no layer 'conv9' for the feature loss"):
        keras_apps.load_target("tiny_cnn", "none", feature_layer="conv9")
    spec = dataclasses.replace(keras_apps.get_spec("tiny_cnn"), feature_layer=None)  # as a user's model file
    with pytest.raises(NAGError, match="no default feature layer; pass --feature_layer=NAME"):
        _resolve_feature_layer(spec, "default")
    assert _resolve_feature_layer(spec, "none") is None and _resolve_feature_layer(spec, "conv1") == "conv1"


@pytest.mark.slow  # builds every registered classifier (weights none): ~1 minute
@pytest.mark.parametrize("name", [n for n in keras_apps.known_targets() if not n.startswith("tiny")])
def test_every_registered_targets_default_feature_layer_exists_at_an_eighth_of_the_input_side(name):
    spec = keras_apps.get_spec(name)
    classifier = spec.build(None)
    side = classifier.get_layer(spec.feature_layer).output.shape[1]
    assert side == -(-spec.image_size // 8) or (name == "inception_v3" and side == 35), (name, side)


def test_a_target_module_of_ones_own_joins_the_registry_and_a_bad_name_is_one_clear_error(monkeypatch):
    from keras_apps.errors import NAGError

    assert "tiny_cnn" in keras_apps.known_targets()  # tests/helpers/tiny_targets.py, named by conftest
    monkeypatch.setenv("NAG_TF_TARGET_MODULES", "helpers.tiny_targets, no_such_lab.targets")
    with pytest.raises(NAGError, match="names 'no_such_lab.targets', which cannot be imported"):
        keras_apps.get_spec("vgg19")
