"""A user's own classifier as a target: a `.keras` file, a SavedModel directory or a keras-hub preset.

A registered target knows its input size, classes and preprocessing; a model
file tells only the first two, so what it expects of 0-255 RGB input must be
said (`--preprocess`): a wrong guess would silently change the budget, since
xi is measured on the 0-255 scale (the method's pixel-space rule). The target's
name records that choice, `PATH@MODE` (an absolute path), so every consumer of
the name (a run's config.json, an export's metadata, a `.npy` baseline's JSON,
evaluation) rebuilds the same target without being told again.

Training needs logits (the softmax is computed by nag_tf in float32): a final
softmax, as a layer or as the last Dense layer's activation, is cut off; where
the graph cannot be read (a SavedModel) and the output is a probability vector,
its logarithm is used (log-probabilities differ from logits by a per-image
constant, so the softmax and every loss are unchanged). `TargetSpec.output_kind`
says which, and the run's log prints it.
"""

import os

import keras
import numpy as np

from keras_apps.errors import NAGError

__all__ = [
    "PREPROCESS_MODES",
    "normalise_preprocess",
    "is_model_file",
    "names_model_file",
    "canonical_model_name",
    "split_model_name",
    "model_file_spec",
]

# What --preprocess names: the keras.applications conventions, EfficientNet-Lite's, none, and x * A + B.
PREPROCESS_MODES = ("caffe", "tf", "torch", "lite", "none", "scale=A,B")
_SEPARATOR = "@"


KERAS_HUB = "keras_hub:"


def is_model_file(path):
    """A `.keras` (or legacy `.h5`) file name, a directory holding a SavedModel, or `keras_hub:PRESET`."""
    return (
        path.startswith(KERAS_HUB)
        or path.endswith((".keras", ".h5"))
        or os.path.isfile(os.path.join(path, "saved_model.pb"))
    )


def normalise_preprocess(text):
    """'scale=A,B' (the flag's form) or 'scale=A:B' (the name's, free of the ensemble's commas) -> 'scale=A:B'."""
    text = (text or "").strip()
    if text.startswith("scale="):
        parts = text[len("scale=") :].replace(":", ",").split(",")
        try:
            scale, offset = (float(part) for part in parts)
        except ValueError:
            raise NAGError(
                f"--preprocess={text!r}: scale takes two numbers, x * A + B, e.g. scale=0.00392157,0"
            ) from None
        return f"scale={scale:g}:{offset:g}"
    if text and text not in PREPROCESS_MODES[:-1]:
        raise NAGError(f"--preprocess={text!r}: expected one of {', '.join(PREPROCESS_MODES)}")
    return text


def names_model_file(name):
    """Whether a target name is a model file's, with its preprocessing ('PATH@MODE') or without."""
    path, mode = split_model_name(name)
    return bool(mode) or is_model_file(path)


def split_model_name(name):
    """'PATH@MODE' -> (PATH, MODE); a name without a mode -> (name, '')."""
    path, separator, mode = name.rpartition(_SEPARATOR)
    if separator and (mode in PREPROCESS_MODES[:-1] or mode.startswith("scale=")):
        return path, mode
    return name, ""


def canonical_model_name(name, preprocess=""):
    """The target name of a model file: its absolute path and its preprocessing, 'PATH@MODE'.

    Raises:
      NAGError: no preprocessing given (the choices are listed), or two that disagree.
    """
    path, mode = split_model_name(name)
    mode, given = normalise_preprocess(mode), normalise_preprocess(preprocess)
    if mode and given and mode != given:
        raise NAGError(f"--target={name} says preprocessing {mode!r} but --preprocess={preprocess!r}; give one")
    mode = mode or given
    path = path.strip() if path.startswith(KERAS_HUB) else os.path.abspath(path)
    if not mode:
        raise NAGError(
            f"--target={path} is a model file: say what it expects of 0-255 RGB input with --preprocess="
            f"{'|'.join(PREPROCESS_MODES)} (caffe: BGR minus the ImageNet mean; tf: x/127.5 - 1; torch: x/255 "
            "then ImageNet mean/std; lite: (x - 127)/128; none: 0-255 as it is; scale=A,B: x * A + B). "
            "There is no default: a wrong guess silently changes the perturbation budget"
        )
    return f"{path}{_SEPARATOR}{mode}"


def _preprocess_function(mode):
    """The registered targets' own functions (keras.applications' modes, EfficientNet-Lite's), or x * A + B."""
    if mode in ("caffe", "tf", "torch"):
        return lambda x: keras.applications.imagenet_utils.preprocess_input(x, mode=mode)
    if mode == "lite":
        from keras_apps.efficientnet_lite import preprocess_input  # here: it registers targets when imported

        return preprocess_input
    if mode == "none":
        return lambda x: x
    scale, offset = (float(v) for v in mode[len("scale=") :].split(":"))
    return lambda x: x * scale + offset


def _first_line(problem):
    return (str(problem).strip().splitlines() or [type(problem).__name__])[0][:200]


def _load_keras_file(path):
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as problem:  # noqa: BLE001 -- Keras raises ValueError, OSError, TypeError... by damage
        raise NAGError(
            f"could not load the model file {path!r} ({type(problem).__name__}: {_first_line(problem)}); "
            "it must be a Keras model saved with model.save('NAME.keras') (custom layers must be registered)"
        ) from None


def _load_saved_model(path):
    """A SavedModel's serving signature as a Keras model (keras.layers.TFSMLayer), with its input shape."""
    import tensorflow as tf

    try:
        signature = tf.saved_model.load(path).signatures["serving_default"]
    except Exception as problem:  # noqa: BLE001
        raise NAGError(
            f"could not load the SavedModel {path!r} with a serving_default signature ({_first_line(problem)})"
        ) from None
    specs = signature.structured_input_signature[1]
    if len(specs) != 1:
        raise NAGError(
            f"SavedModel {path!r} takes {len(specs)} inputs ({', '.join(specs)}); a classifier takes one image"
        )
    (spec,) = specs.values()
    layer = keras.layers.TFSMLayer(path, call_endpoint="serving_default", trainable=False)
    inputs = keras.Input(tuple(spec.shape[1:]), name="image")
    outputs = layer(inputs)
    if isinstance(outputs, dict):
        if len(outputs) != 1:
            raise NAGError(
                f"SavedModel {path!r} returns {len(outputs)} outputs ({', '.join(outputs)}); a classifier returns one"
            )
        (outputs,) = outputs.values()
    return keras.Model(inputs, outputs, name=os.path.basename(os.path.normpath(path)))


def _load_keras_hub(preset):
    """A keras-hub ImageClassifier from a preset in keras-hub's local cache (its logits: no final softmax).

    The classifier's own preprocessor is not part of its call, so --preprocess says what it expects.
    """
    try:
        import keras_hub  # optional: pip install keras-hub
    except ImportError:
        raise NAGError(f"--target={KERAS_HUB}{preset} needs keras-hub: pip install keras-hub") from None
    try:
        return keras_hub.models.ImageClassifier.from_preset(preset)
    except Exception as problem:  # noqa: BLE001 -- a missing preset fails in the download client, by many types
        cache = os.environ.get("KAGGLEHUB_CACHE", os.path.expanduser("~/.cache/kagglehub"))
        raise NAGError(
            f"keras-hub preset {preset!r} could not be loaded ({type(problem).__name__}: {_first_line(problem)}); "
            f"without internet it must already be in keras-hub's cache ({cache}, or KAGGLEHUB_CACHE), or be a "
            "local preset folder"
        ) from None


def _check_shapes(model, path):
    """(image size, classes) from the model's input and output; one clear error for anything else."""
    shape = tuple(model.inputs[0].shape) if model.inputs else None
    if shape is None or len(shape) != 4:
        raise NAGError(f"{path}: the model's input has shape {shape}; a target takes images [batch, S, S, 3]")
    if shape[3] != 3:
        raise NAGError(f"{path}: the model's input has {shape[3]} channel(s) (shape {shape}); a target takes RGB (3)")
    if shape[1] is None or shape[1] != shape[2]:
        raise NAGError(
            f"{path}: the model's input is {shape[1]} x {shape[2]}; a target needs a fixed square size (save the "
            "model with keras.Input((S, S, 3)))"
        )
    output = tuple(model.outputs[0].shape)
    if len(output) != 2 or output[1] is None or output[1] < 2:
        raise NAGError(f"{path}: the model's output has shape {output}; a classifier returns a class vector [batch, K]")
    return int(shape[1]), int(output[1])


def _logits_model(model, preprocess, image_size):
    """(a model whose output is logits, what its output is): a final softmax cut off, or log-probabilities."""
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    is_softmax_layer = isinstance(last, keras.layers.Softmax) or (
        isinstance(last, keras.layers.Activation) and activation is keras.activations.softmax
    )
    try:
        if is_softmax_layer:
            return keras.Model(
                model.inputs[0], last.input, name=f"{model.name}_logits"
            ), "logits (before the final softmax)"
        if activation is keras.activations.softmax:
            config = {**last.get_config(), "activation": "linear", "name": f"{last.name}_logits"}
            linear = type(last).from_config(config)
            outputs = linear(last.input)
            linear.set_weights(last.get_weights())
            return keras.Model(
                model.inputs[0], outputs, name=f"{model.name}_logits"
            ), "logits (before the final softmax)"
    except (ValueError, AttributeError):  # a layer reused at several places: its input is ambiguous
        pass
    probe = preprocess(
        keras.ops.convert_to_tensor(np.random.default_rng(0).uniform(0, 255, (2, image_size, image_size, 3)), "float32")
    )
    out = np.asarray(model(probe, training=False), np.float64)
    if np.all(out >= 0) and np.allclose(out.sum(axis=-1), 1.0, atol=1e-3):
        inputs = keras.Input(tuple(model.inputs[0].shape[1:]))
        outputs = keras.ops.log(keras.ops.maximum(keras.ops.cast(model(inputs), "float32"), 1e-30))
        return keras.Model(inputs, outputs, name=f"{model.name}_log_probs"), "log-probabilities (softmax output)"
    return model, "logits"


def model_file_spec(name):
    """The TargetSpec of a canonical model-file name 'PATH@MODE' (see `canonical_model_name`)."""
    from keras_apps.specs import TargetSpec  # here: specs is light, and this keeps model_file TF-free

    path, mode = split_model_name(name)
    if not path.startswith(KERAS_HUB):
        if not os.path.exists(path):
            raise NAGError(f"model file {path!r} does not exist; check --target")
        if not is_model_file(path):
            raise NAGError(f"{path!r} is neither a .keras file nor a SavedModel directory (no saved_model.pb)")
    preprocess = _preprocess_function(mode)

    def load():
        if path.startswith(KERAS_HUB):
            model = _load_keras_hub(path[len(KERAS_HUB) :])
        elif os.path.isdir(path):
            model = _load_saved_model(path)
        else:
            model = _load_keras_file(path)
        image_size, classes = _check_shapes(model, path)
        logits, kind = _logits_model(model, preprocess, image_size)
        return logits, kind, image_size, classes

    first, kind, image_size, classes = load()  # the spec needs the sizes: the model is read once for them
    unused = [first]

    def build(weights):
        """The model read for the spec the first time (no second read at start-up), a fresh copy after that
        (hardening keeps an original and a copy)."""
        del weights  # the file carries them; registry.load_target loads a --weights file on top
        return unused.pop() if unused else load()[0]

    return TargetSpec(
        name=name,
        build=build,
        preprocess=preprocess,
        image_size=image_size,
        preprocess_mode=mode,
        num_classes=classes,
        source_file=path,
        output_kind=kind,
    )
