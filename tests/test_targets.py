"""Targets whose Keras graph depends on the weights argument build the same graph for a weights file."""

import numpy as np

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
