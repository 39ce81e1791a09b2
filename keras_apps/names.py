"""Target names: a registered name or a model file's canonical 'PATH@MODE' to its spec, and the --target and
--target_weights texts parsed (checked against the registry) once."""

from keras_apps import model_file
from keras_apps.errors import NAGError
from keras_apps.specs import known_targets, register, registered

__all__ = ["canonical_target_name", "ensemble_image_size", "get_spec", "parse_target_names", "parse_target_weights"]


def get_spec(name):
    """The spec of a registered name, or of a model file's canonical name 'PATH@MODE' (built and kept on first use)."""
    spec = registered(name)
    if spec is not None:
        return spec
    if model_file.names_model_file(name):
        canonical = model_file.canonical_model_name(name)
        return registered(canonical) or register(model_file.model_file_spec(canonical))
    raise NAGError(
        f"unknown target {name!r}; known targets: {', '.join(known_targets())}; or a .keras file or SavedModel "
        "directory with --preprocess"
    )


def canonical_target_name(name, preprocess=""):
    """A registered name as it is; a model file as 'ABSOLUTE_PATH@MODE', its preprocessing from the name or
    `preprocess` (keras_apps.model_file), so the name alone rebuilds the target anywhere."""
    return model_file.canonical_model_name(name, preprocess) if model_file.names_model_file(name) else name


def _items(value):
    """A flag's comma-separated text, or already a sequence (a parsed config's tuple): the items as text."""
    parts = value.split(",") if isinstance(value, str) else [str(item) for item in (value or ())]
    return [part.strip() for part in parts if part.strip()]


def parse_target_names(text, preprocess=""):
    """'vgg16,resnet50' (or a sequence of names) -> ['vgg16', 'resnet50'], each checked against the registry;
    a model file becomes its canonical 'PATH@MODE', its MODE from `preprocess` (--preprocess)."""
    names = [canonical_target_name(name, preprocess) for name in _items(text)]
    if not names:
        raise NAGError("--target is empty; name a classifier, or several separated by commas")
    if len(set(names)) != len(names):
        raise NAGError(f"--target={text!r} names a classifier twice")
    for name in names:
        get_spec(name)
    return names


def parse_target_weights(text, count):
    """'1,0.5' (or a sequence of numbers) -> [1.0, 0.5]; empty -> equal weights of 1."""
    items = _items(text)
    if not items:
        return [1.0] * count
    try:
        weights = [float(w) for w in items]
    except ValueError:
        raise NAGError(f"--target_weights={text!r} must be numbers separated by commas, e.g. 1,0.5") from None
    if len(weights) != count:
        raise NAGError(
            f"--target_weights={text!r} gives {len(weights)} weights for {count} targets; give one per target"
        )
    if any(not (w >= 0 and w < float("inf")) for w in weights) or not any(weights):
        raise NAGError(f"--target_weights={text!r} must be finite, >= 0 and not all 0")
    return weights


def ensemble_image_size(text):
    """The perturbation size for a --target value: the largest member's input size."""
    return max(get_spec(name).image_size for name in parse_target_names(text))
