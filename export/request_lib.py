"""What a prediction request may hold, checked before TensorFlow sees it, and how answers are written.

Shared by both protocols of `serving_lib` (REST and gRPC): a bad request gets a `RequestError` naming
the field (HTTP 400 / INVALID_ARGUMENT) and the server keeps serving.
"""

import base64

import numpy as np
import tensorflow as tf

__all__ = [
    "RequestError",
    "resolve_signature",
    "validate_inputs",
    "predict",
    "signature_specs",
    "rest_metadata",
    "json_value",
    "reject_constant",
    "rest_inputs",
]

SEED_MAX = 2**31 - 1
MAX_IMAGE_SIDE = 4096
OPTIONAL_SEED_SIGNATURES = ("perturb", "perturb_png")  # their seed may be empty: seeds 0..N-1


class RequestError(ValueError):
    """A client error: HTTP 400 / gRPC INVALID_ARGUMENT, with the message sent back."""


def resolve_signature(model, name):
    """(name, signature) for a requested signature name (empty: serving_default); RequestError if unknown."""
    name = name or "serving_default"
    if name not in model.signatures:
        raise RequestError(f"signature_name {name!r} unknown; available: {sorted(model.signatures)}")
    return name, model.signatures[name]


def validate_inputs(signature_name, signature, inputs, max_batch):
    """Converts and checks named numpy inputs against the signature; returns tensors."""
    specs = signature.structured_input_signature[1]
    unknown = set(inputs) - set(specs)
    if unknown:
        raise RequestError(
            f"unknown input(s) {sorted(unknown)} for signature {signature_name!r}; expected {sorted(specs)}"
        )
    missing = set(specs) - set(inputs)
    if missing:
        raise RequestError(f"missing input(s) {sorted(missing)} for signature {signature_name!r}")
    tensors = {}
    for name, spec in specs.items():
        value = inputs[name]
        try:
            array = np.asarray(value)
        except (ValueError, TypeError, RecursionError):
            raise RequestError(f"input {name!r} is not a rectangular array") from None
        if array.dtype == object or array.dtype.kind not in "biuf":
            raise RequestError(f"input {name!r} must be numeric ({spec.dtype.name}), got {array.dtype}")
        if array.ndim != len(spec.shape):
            raise RequestError(
                f"input {name!r} must have rank {len(spec.shape)} (shape {spec.shape}), got shape {list(array.shape)}"
            )
        for axis, (want, got) in enumerate(zip(spec.shape, array.shape)):
            if want is not None and want != got:
                raise RequestError(f"input {name!r} dimension {axis} must be {want}, got {got}")
        if spec.dtype.is_integer:
            if array.dtype.kind == "f" and (not np.all(np.isfinite(array)) or np.any(array != np.round(array))):
                raise RequestError(f"input {name!r} must hold integers")
            low, high = (0, 255) if spec.dtype == tf.uint8 else (0, SEED_MAX)
            if array.size and (array.min() < low or array.max() > high):
                raise RequestError(f"input {name!r} values must be in [{low}, {high}]")
        elif array.size and not np.all(np.isfinite(array.astype(np.float64))):
            raise RequestError(f"input {name!r} must be finite")
        if (
            name == "images"
            and array.ndim == 4
            and (min(array.shape[1:3]) < 1 or max(array.shape[1:3]) > MAX_IMAGE_SIDE)
        ):
            raise RequestError(
                f"input 'images' height and width must be in [1, {MAX_IMAGE_SIDE}], got {list(array.shape[1:3])}"
            )
        if array.shape[0] > max_batch:
            raise RequestError(f"input {name!r} has batch {array.shape[0]}, above the maximum {max_batch}")
        optional = signature_name in OPTIONAL_SEED_SIGNATURES and name == "seed"
        if array.shape[0] == 0 and not optional:
            raise RequestError(f"input {name!r} is an empty batch")
        tensors[name] = tf.convert_to_tensor(array.astype(spec.dtype.as_numpy_dtype))
    if signature_name in OPTIONAL_SEED_SIGNATURES and tensors["seed"].shape[0] not in (0, tensors["images"].shape[0]):
        raise RequestError("input 'seed' must have one entry per image, or none")
    return tensors


def predict(signature_name, signature, inputs, max_batch):
    """Validates named numpy inputs against a resolved signature and runs it: {output: numpy}."""
    tensors = validate_inputs(signature_name, signature, inputs, max_batch)
    return {name: value.numpy() for name, value in signature(**tensors).items()}


def signature_specs(model):
    """{signature: (input specs, output specs)}: what both protocols' metadata describe."""
    return {
        key: (signature.structured_input_signature[1], signature.structured_outputs)
        for key, signature in model.signatures.items()
    }


def rest_metadata(model, version, name):
    """TF Serving's REST metadata answer."""
    metadata = {
        "model_spec": {"name": name, "signature_name": "", "version": str(version)},
        "metadata": {"signature_def": {"signature_def": {}}},
    }
    for key, (inputs, outputs) in signature_specs(model).items():
        metadata["metadata"]["signature_def"]["signature_def"][key] = {
            "inputs": {
                k: {"dtype": s.dtype.name, "shape": [-1 if d is None else d for d in s.shape]}
                for k, s in inputs.items()
            },
            "outputs": {
                k: {"dtype": s.dtype.name, "shape": [-1 if d is None else d for d in s.shape]}
                for k, s in outputs.items()
            },
            "method_name": "tensorflow/serving/predict",
        }
    return metadata


def json_value(name, array):
    """An output as JSON: numbers as they are; strings as text, or {"b64": ...} when the alias ends in `_bytes`."""
    if array.dtype.kind not in "OSU":
        return array.tolist()
    if name.endswith("_bytes"):
        encode = lambda item: {"b64": base64.b64encode(item).decode("ascii")}  # noqa: E731
    else:
        encode = lambda item: item.decode("utf-8", "replace") if isinstance(item, bytes) else item  # noqa: E731
    return np.vectorize(encode, otypes=[object])(array).tolist() if array.size else array.tolist()


def reject_constant(name):
    """Standard JSON has no NaN or Infinity (Python's json module accepts them)."""
    raise ValueError(f"{name} is not valid JSON")


def rest_inputs(body):
    """TF Serving's REST request: row format ("instances") or columnar ("inputs")."""
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object with 'instances' or 'inputs'")
    if ("instances" in body) == ("inputs" in body):
        raise RequestError("give exactly one of 'instances' (row format) or 'inputs' (columnar format)")
    signature_name = body.get("signature_name")
    if signature_name is not None and not isinstance(signature_name, str):
        raise RequestError("'signature_name' must be a string")
    if "inputs" in body:
        inputs = body["inputs"]
        if not isinstance(inputs, dict):
            raise RequestError("'inputs' must be an object of named inputs")
        return signature_name, inputs, False
    instances = body["instances"]
    if not isinstance(instances, list) or not instances:
        raise RequestError("'instances' must be a non-empty list")
    if all(isinstance(row, dict) for row in instances):
        names = set(instances[0])
        if any(set(row) != names for row in instances):
            raise RequestError("every instance must name the same inputs")
        return signature_name, {name: [row[name] for row in instances] for name in names}, True
    if any(isinstance(row, dict) for row in instances):
        raise RequestError("instances mix named and unnamed inputs")
    return signature_name, {None: instances}, True
