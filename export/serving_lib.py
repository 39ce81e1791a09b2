"""A perturbation endpoint that speaks TF Serving's own protocols, over the same export directory.

TF Serving's binary is in no package registry these machines reach, so this
server stands in for it in tests and small deployments: gRPC
`tensorflow.serving.PredictionService` (Predict, GetModelMetadata) from the
`tensorflow-serving-api` service definitions, and TF Serving's REST API
(`POST /v1/models/<name>[/versions/<v>]:predict` in row or columnar format,
`GET /v1/models/<name>[/versions/<v>]` status and `.../metadata`) on aiohttp.
Unchanged TF Serving clients work against either.

Like TF Serving it polls the base directory and loads new numbered versions
without a restart; a damaged version (variables missing or truncated) is
refused with a logged reason, retried only once its files change, and the
last good version keeps serving. A request runs on one version from start to
end (REST answers name it in the `X-Model-Version` header; gRPC in
`model_spec.version`). String outputs whose alias ends in `_bytes` go back
over REST as {"b64": ...}, TF Serving's rule for binary data. Every request is validated against the signature before
TensorFlow sees it: a bad one gets 400 / INVALID_ARGUMENT naming the field,
and the server keeps serving.
"""

import asyncio
import base64
import dataclasses
import functools
import json
import os
import re
import threading

import grpc
import numpy as np
import tensorflow as tf
from aiohttp import web
from google.protobuf import any_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

from nag_tf.errors import NAGError
from nag_tf.sources import load_saved_model

__all__ = ["ServerConfig", "ModelRepository", "RequestError", "run_predict", "build_rest_app", "build_grpc_server"]

SEED_MAX = 2**31 - 1
MAX_IMAGE_SIDE = 4096
OPTIONAL_SEED_SIGNATURES = ("perturb", "perturb_png")  # their seed may be empty: seeds 0..N-1


class RequestError(ValueError):
    """A client error: HTTP 400 / gRPC INVALID_ARGUMENT, with the message sent back."""


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    model_dir: str
    model_name: str
    host: str = "127.0.0.1"  # loopback unless asked otherwise
    port: int = 8500
    rest_port: int = 8501
    max_batch: int = 64
    max_request_bytes: int = 32 * 1024 * 1024
    poll_seconds: float = 2.0


class ModelRepository:
    """The loaded versions of one model; `refresh()` picks up new version folders.

    A version that fails to load is remembered with its files' sizes and times and
    tried again only when they change (a copy still in progress, a repaired export).
    """

    def __init__(self, base_dir):
        self.base_dir = base_dir
        self._versions = {}
        self._failed = {}  # version -> (files' fingerprint, reason)
        self._lock = threading.Lock()

    def _fingerprint(self, version_dir):
        entries = []
        for folder, _, files in os.walk(version_dir):
            for name in files:
                path = os.path.join(folder, name)
                try:
                    info = os.stat(path)
                except OSError:
                    continue
                entries.append((os.path.relpath(path, version_dir), info.st_size, info.st_mtime_ns))
        return tuple(sorted(entries))

    def refresh(self):
        """Loads new versions; returns messages about versions refused (empty when all is well)."""
        if not os.path.isdir(self.base_dir):
            return []
        found = sorted(
            int(n)
            for n in os.listdir(self.base_dir)
            if re.fullmatch(r"\d+", n) and os.path.exists(os.path.join(self.base_dir, n, "saved_model.pb"))
        )
        messages = []
        for version in found:
            if version in self._versions:
                continue
            version_dir = os.path.join(self.base_dir, str(version))
            fingerprint = self._fingerprint(version_dir)
            if version in self._failed and self._failed[version][0] == fingerprint:
                continue
            try:
                loaded = load_saved_model(version_dir)
            except NAGError as problem:
                with self._lock:  # failed() reads it from the request threads
                    self._failed[version] = (fingerprint, str(problem))
                messages.append(f"version {version} not loaded: {problem}; still serving versions {self.versions()}")
                continue
            with self._lock:
                self._versions[version] = loaded
                self._failed.pop(version, None)
        return messages

    def failed(self):
        """{version: reason} for versions present on disk that could not be loaded."""
        with self._lock:
            return {version: reason for version, (_, reason) in self._failed.items()}

    def versions(self):
        with self._lock:
            return sorted(self._versions)

    def get(self, version=None):
        with self._lock:
            if not self._versions:
                raise RequestError("no version of the model is loaded yet")
            if version is None:
                return max(self._versions), self._versions[max(self._versions)]
            if version not in self._versions:
                raise RequestError(f"version {version} is not available; available: {sorted(self._versions)}")
            return version, self._versions[version]


def _signature(model, name):
    name = name or "serving_default"
    if name not in model.signatures:
        raise RequestError(f"signature_name {name!r} unknown; available: {sorted(model.signatures)}")
    return name, model.signatures[name]


def _validate(signature_name, signature, inputs, max_batch):
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


def run_predict(repository, signature_name, inputs, version=None, max_batch=64):
    """Validates and runs one prediction; returns (version, signature name, {output: numpy})."""
    version, model = repository.get(version)
    signature_name, signature = _signature(model, signature_name)
    tensors = _validate(signature_name, signature, inputs, max_batch)
    outputs = signature(**tensors)
    return version, signature_name, {name: value.numpy() for name, value in outputs.items()}


def _metadata(model, version, name):
    metadata = {
        "model_spec": {"name": name, "signature_name": "", "version": str(version)},
        "metadata": {"signature_def": {"signature_def": {}}},
    }
    for key, signature in model.signatures.items():
        metadata["metadata"]["signature_def"]["signature_def"][key] = {
            "inputs": {
                k: {"dtype": s.dtype.name, "shape": [-1 if d is None else d for d in s.shape]}
                for k, s in signature.structured_input_signature[1].items()
            },
            "outputs": {
                k: {"dtype": s.dtype.name, "shape": [-1 if d is None else d for d in s.shape]}
                for k, s in signature.structured_outputs.items()
            },
            "method_name": "tensorflow/serving/predict",
        }
    return metadata


def _json_value(name, array):
    """An output as JSON: numbers as they are; strings as text, or {"b64": ...} when the alias ends in `_bytes`."""
    if array.dtype.kind not in "OSU":
        return array.tolist()
    if name.endswith("_bytes"):
        encode = lambda item: {"b64": base64.b64encode(item).decode("ascii")}  # noqa: E731
    else:
        encode = lambda item: item.decode("utf-8", "replace") if isinstance(item, bytes) else item  # noqa: E731
    return np.vectorize(encode, otypes=[object])(array).tolist() if array.size else array.tolist()


def _reject_constant(name):
    """Standard JSON has no NaN or Infinity (Python's json module accepts them)."""
    raise ValueError(f"{name} is not valid JSON")


def _rest_inputs(body):
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


def build_rest_app(repository, config, executor=None):
    """aiohttp application with TF Serving's REST routes."""

    def error(status, message):
        return web.json_response({"error": message}, status=status)

    def check_name(request):
        if request.match_info["name"] != config.model_name:
            raise web.HTTPNotFound(
                text=json.dumps({"error": f"model {request.match_info['name']!r} not found"}),
                content_type="application/json",
            )

    def parse_version(request):
        raw = request.match_info.get("version")
        if raw is None:
            return None
        if not raw.isdigit() or len(raw) > 12:
            raise RequestError(f"version {raw!r} must be a positive integer")
        return int(raw)

    async def predict(request):
        check_name(request)
        try:
            version = parse_version(request)
            try:
                body = json.loads(await request.read(), parse_constant=_reject_constant)
            except (UnicodeDecodeError, ValueError, RecursionError):
                raise RequestError("request body is not valid JSON") from None
            signature_name, inputs, rows = _rest_inputs(body)
            version, model = repository.get(version)  # one version for the whole request
            name, signature = _signature(model, signature_name)
            if None in inputs:
                specs = signature.structured_input_signature[1]
                if len(specs) != 1:
                    raise RequestError(f"signature {name!r} takes inputs {sorted(specs)}: name them in each instance")
                inputs = {next(iter(specs)): inputs[None]}
            loop = asyncio.get_running_loop()
            predict = functools.partial(run_predict, version=version, max_batch=config.max_batch)
            _, _, outputs = await loop.run_in_executor(executor, predict, repository, name, inputs)
        except RequestError as problem:
            return error(400, str(problem))
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as problem:
            return error(400, f"invalid request: {str(problem).splitlines()[0][:200]}")
        headers = {"X-Model-Version": str(version)}
        values = {k: _json_value(k, v) for k, v in outputs.items()}
        if rows:
            if len(values) == 1:
                return web.json_response({"predictions": next(iter(values.values()))}, headers=headers)
            count = len(next(iter(values.values())))
            return web.json_response(
                {"predictions": [{k: v[i] for k, v in values.items()} for i in range(count)]}, headers=headers
            )
        if len(values) == 1:
            return web.json_response({"outputs": next(iter(values.values()))}, headers=headers)
        return web.json_response({"outputs": values}, headers=headers)

    async def status(request):
        check_name(request)
        try:
            version = parse_version(request)
        except RequestError as problem:
            return error(400, str(problem))
        # As TF Serving reports them: loaded versions AVAILABLE, versions that failed to load END with the reason.
        states = {v: ("AVAILABLE", "OK", "") for v in repository.versions()}
        states.update({v: ("END", "DATA_LOSS", reason) for v, reason in repository.failed().items()})
        if version is not None:
            states = {v: state for v, state in states.items() if v == version}
        if not states:
            return error(404, f"version {version} not found")
        return web.json_response(
            {
                "model_version_status": [
                    {"version": str(v), "state": state, "status": {"error_code": code, "error_message": message}}
                    for v, (state, code, message) in sorted(states.items())
                ]
            }
        )

    async def metadata(request):
        check_name(request)
        try:
            version, model = repository.get(parse_version(request))
        except RequestError as problem:
            return error(400, str(problem))
        return web.json_response(_metadata(model, version, config.model_name))

    app = web.Application(client_max_size=config.max_request_bytes)
    app.add_routes(
        [
            web.post(r"/v1/models/{name:[^/:]+}:predict", predict),
            web.post(r"/v1/models/{name:[^/:]+}/versions/{version:[^/:]+}:predict", predict),
            web.get(r"/v1/models/{name:[^/:]+}", status),
            web.get(r"/v1/models/{name:[^/:]+}/versions/{version:[^/:]+}", status),
            web.get(r"/v1/models/{name:[^/:]+}/metadata", metadata),
            web.get(r"/v1/models/{name:[^/:]+}/versions/{version:[^/:]+}/metadata", metadata),
        ]
    )
    return app


def build_grpc_server(repository, config, executor=None):
    """grpc.aio server with TF Serving's PredictionService (Predict, GetModelMetadata)."""

    class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
        async def Predict(self, request, context):
            if request.model_spec.name != config.model_name:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"model {request.model_spec.name!r} not found")
            version = request.model_spec.version.value if request.model_spec.HasField("version") else None
            try:
                inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
                loop = asyncio.get_running_loop()
                predict = functools.partial(run_predict, version=version, max_batch=config.max_batch)
                served, name, outputs = await loop.run_in_executor(
                    executor, predict, repository, request.model_spec.signature_name, inputs
                )
            except (RequestError, tf.errors.InvalidArgumentError, ValueError, TypeError) as problem:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(problem).splitlines()[0][:300])
            response = predict_pb2.PredictResponse()
            response.model_spec.name = config.model_name
            response.model_spec.version.value = served
            response.model_spec.signature_name = name
            for key, value in outputs.items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
            return response

        async def GetModelMetadata(self, request, context):
            if request.model_spec.name != config.model_name:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"model {request.model_spec.name!r} not found")
            try:
                version, model = repository.get(
                    request.model_spec.version.value if request.model_spec.HasField("version") else None
                )
            except RequestError as problem:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(problem))
            signature_map = get_model_metadata_pb2.SignatureDefMap()
            for key, signature in model.signatures.items():
                definition = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
                for name, spec in signature.structured_input_signature[1].items():
                    definition.inputs[name].name = name
                    definition.inputs[name].dtype = spec.dtype.as_datatype_enum
                    definition.inputs[name].tensor_shape.CopyFrom(spec.shape.as_proto())
                for name, spec in signature.structured_outputs.items():
                    definition.outputs[name].name = name
                    definition.outputs[name].dtype = spec.dtype.as_datatype_enum
                    definition.outputs[name].tensor_shape.CopyFrom(spec.shape.as_proto())
                signature_map.signature_def[key].CopyFrom(definition)
            packed = any_pb2.Any()
            packed.Pack(signature_map)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = config.model_name
            response.model_spec.version.value = version
            response.metadata["signature_def"].CopyFrom(packed)
            return response

    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", config.max_request_bytes),
            ("grpc.max_send_message_length", 256 * 1024 * 1024),
        ]
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(), server)
    server.add_insecure_port(f"{config.host}:{config.port}")
    return server
