"""Targets from `keras.applications`, plus a tiny CNN for tests and CPU demos.

Every classifier is built with `classifier_activation=None` so the registry's
`Target` gets logits and computes the softmax itself in float32.
"""

import contextlib

import keras
from keras.src.applications import efficientnet as _keras_efficientnet

from keras_apps.specs import TargetSpec, register

_apps = keras.applications


def _app(constructor, **extra):
    def build(weights):
        return constructor(weights=weights, classifier_activation=None, **extra)

    return build


# (name, constructor, preprocess module, input size, preprocessing mode, reference-code layer, feature layer).
# The feature layer ends the stride-8 stage (28 x 28 at 224 px; Inception: 35 x 35 at 299), as BIA's VGG16
# pool3 and ResNet layer2 do.
_KERAS_APPLICATIONS = (
    ("vgg16", _apps.VGG16, _apps.vgg16, 224, "caffe", None, "block3_pool"),
    ("vgg19", _apps.VGG19, _apps.vgg19, 224, "caffe", None, "block3_pool"),
    # The authors' code reads ResNet-50 'res4f' (Caffe naming), the last block of stage 4.
    ("resnet50", _apps.ResNet50, _apps.resnet50, 224, "caffe", "conv4_block6_out", "conv3_block4_out"),
    ("resnet101", _apps.ResNet101, _apps.resnet, 224, "caffe", None, "conv3_block4_out"),
    ("resnet152", _apps.ResNet152, _apps.resnet, 224, "caffe", None, "conv3_block8_out"),
    ("inception_v3", _apps.InceptionV3, _apps.inception_v3, 299, "tf", None, "mixed2"),
    ("mobilenet_v2", _apps.MobileNetV2, _apps.mobilenet_v2, 224, "tf", None, "block_5_add"),
    # EfficientNetB0 rescales inside the model: its preprocess_input is the identity.
    ("efficientnet_b0", _apps.EfficientNetB0, _apps.efficientnet, 224, "none", None, "block3b_add"),
)


@contextlib.contextmanager
def _imagenet_weights_from(path):
    """Makes Keras' EfficientNet take its "imagenet" weights from `path` instead of downloading them.

    Why: EfficientNet's graph depends on the weights argument (an extra input
    Rescaling only for "imagenet"), so a weights file saved from an ImageNet
    model (a hardened copy, say) must be loaded into the "imagenet" graph;
    Keras offers no way to ask for that graph without the download. The
    swap is undone on exit.
    """
    original = _keras_efficientnet.file_utils.get_file
    _keras_efficientnet.file_utils.get_file = lambda *args, **kwargs: path
    try:
        yield
    finally:
        _keras_efficientnet.file_utils.get_file = original


def _efficientnet_from_file(constructor):
    def build(path):
        with _imagenet_weights_from(path):
            return constructor(weights="imagenet", classifier_activation=None)

    return build


_FILE_BUILDERS = {"efficientnet_b0": _efficientnet_from_file(_apps.EfficientNetB0)}

for _name, _constructor, _module, _size, _mode, _layer, _feature_layer in _KERAS_APPLICATIONS:
    register(
        TargetSpec(
            name=_name,
            build=_app(_constructor),
            build_from_file=_FILE_BUILDERS.get(_name),
            preprocess=_module.preprocess_input,
            image_size=_size,
            preprocess_mode=_mode,
            reference_layer=_layer,
            feature_layer=_feature_layer,
        )
    )
