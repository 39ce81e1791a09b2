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
import concurrent.futures
import dataclasses
import functools
import json
import signal

import grpc
import tensorflow as tf
from aiohttp import web
from google.protobuf import any_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

from export import request_lib
from export.model_repository import ModelRepository
from export.request_lib import RequestError

__all__ = [
    "ServerConfig",
    "ModelRepository",
    "RequestError",
    "run_predict",
    "build_rest_app",
    "build_grpc_server",
    "serve",
]


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
    grace_seconds: float = 30.0  # on a stop: how long requests in flight may take


def run_predict(repository, signature_name, inputs, version=None, max_batch=64):
    """Resolves the version and signature, validates and runs one prediction; returns (version, signature
    name, {output: numpy})."""
    version, model = repository.get(version)
    signature_name, signature = request_lib.resolve_signature(model, signature_name)
    return version, signature_name, request_lib.predict(signature_name, signature, inputs, max_batch)


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
                body = json.loads(await request.read(), parse_constant=request_lib.reject_constant)
            except (UnicodeDecodeError, ValueError, RecursionError):
                raise RequestError("request body is not valid JSON") from None
            signature_name, inputs, rows = request_lib.rest_inputs(body)
            version, model = repository.get(version)  # one version and signature for the whole request
            name, signature = request_lib.resolve_signature(model, signature_name)
            if None in inputs:
                specs = signature.structured_input_signature[1]
                if len(specs) != 1:
                    raise RequestError(f"signature {name!r} takes inputs {sorted(specs)}: name them in each instance")
                inputs = {next(iter(specs)): inputs[None]}
            loop = asyncio.get_running_loop()
            run = functools.partial(request_lib.predict, name, signature, inputs, config.max_batch)
            outputs = await loop.run_in_executor(executor, run)
        except RequestError as problem:
            return error(400, str(problem))
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as problem:
            return error(400, f"invalid request: {str(problem).splitlines()[0][:200]}")
        headers = {"X-Model-Version": str(version)}
        values = {k: request_lib.json_value(k, v) for k, v in outputs.items()}
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
        return web.json_response(request_lib.rest_metadata(model, version, config.model_name))

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
            for key, (inputs, outputs) in request_lib.signature_specs(model).items():
                definition = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
                for name, spec in inputs.items():
                    definition.inputs[name].name = name
                    definition.inputs[name].dtype = spec.dtype.as_datatype_enum
                    definition.inputs[name].tensor_shape.CopyFrom(spec.shape.as_proto())
                for name, spec in outputs.items():
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


async def serve(config, stop=None, log=print):
    """The server's whole life: load the versions, start gRPC and REST, poll for new versions until `stop`
    is set, then stop accepting, let requests in flight finish (up to `config.grace_seconds`) and return.

    Without `stop`, SIGTERM and SIGINT set one (the binary's case); a test passes its own event.
    """

    def refresh():
        for message in repository.refresh():
            log(message)

    repository = ModelRepository(config.model_dir)
    refresh()
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    loop = asyncio.get_running_loop()
    signals = []  # the names of the signals received, for the stop message

    def on_signal(sig):
        signals.append(sig.name)
        stop.set()

    if stop is None:
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
    grpc_server = None
    if config.port:
        grpc_server = build_grpc_server(repository, config, executor)
        await grpc_server.start()
    runner = None
    if config.rest_port:
        runner = web.AppRunner(
            build_rest_app(repository, config, executor), access_log=None, shutdown_timeout=config.grace_seconds
        )
        await runner.setup()
        await web.TCPSite(runner, config.host, config.rest_port).start()
    log(
        f"serving model {config.model_name!r} versions {repository.versions()} from {config.model_dir} "
        f"on {config.host}: gRPC {config.port or '-'}, REST {config.rest_port or '-'}"
    )
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=config.poll_seconds)
        except TimeoutError:
            before = repository.versions()
            await loop.run_in_executor(executor, refresh)
            if repository.versions() != before:
                log(f"loaded versions {repository.versions()}")
    reason = signals[0] if signals else "stop requested"
    log(f"{reason}: no new requests; finishing those in flight (up to {config.grace_seconds:g} s)")
    # Both protocols stop accepting at once, then wait for their requests in flight.
    await asyncio.gather(
        *([grpc_server.stop(config.grace_seconds)] if grpc_server is not None else []),
        *([runner.cleanup()] if runner is not None else []),
    )
    executor.shutdown(wait=True)
    # gRPC counts a call done once its answer is handed to the transport; a large answer (N = 64 at
    # 224 px is 38 MB) can still be on its way, and returning now would reset the connection under it.
    await asyncio.sleep(min(2.0, config.grace_seconds))
    log("stopped")
