"""Many clients at once against a perturbation endpoint (REST and gRPC): the serving soak's driver.

Used by tests/faults/test_serving_soak.py (correctness under load and a
version switch) and `bench/serving.py --concurrency=N` (its figures), and by
anyone load-testing their own endpoint: installed with export/. Its calls record the raw status of
every answer, malformed requests included, which export/client.py's clients
(they raise on an error) are not for. Each
client is a thread with its own gRPC channel and its own HTTP requests; it
sends requests drawn from a fixed list until the deadline and records every
outcome, including the answer, so a caller can check each one against the
single-request answer of the version that served it.

Threads, not processes: the clients spend their time waiting on sockets
(the GIL is released there), and 16 of them saturate a 2-core server.
"""

import dataclasses
import json
import random
import statistics
import threading
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from export.client import rest_output_to_numpy

__all__ = ["Request", "Outcome", "soak_requests", "run_clients", "summarise"]

CONNECTION_FAILED = 0  # the status of a request that got no HTTP/gRPC answer at all (refused, reset, timeout)


@dataclasses.dataclass(frozen=True)
class Request:
    """One request kind. `raw_body` replaces the REST body built from `inputs` (malformed JSON and the like)."""

    key: str  # names it in the outcomes, e.g. "rest/sample/n1"
    protocol: str  # "rest" or "grpc"
    signature: str
    inputs: dict  # name -> numpy array
    valid: bool
    raw_body: bytes | None = None


@dataclasses.dataclass
class Outcome:
    key: str
    protocol: str
    valid: bool
    started: float  # time.monotonic()
    finished: float
    status: int  # HTTP status; gRPC mapped: OK 200, INVALID_ARGUMENT 400, NOT_FOUND 404, other 500; none: 0
    version: int | None  # the version that answered (REST: X-Model-Version header; gRPC: model_spec.version)
    output: np.ndarray | None  # the single output of a valid answer
    message: str = ""

    @property
    def seconds(self):
        return self.finished - self.started


def soak_requests(latent_dim, image_size, seed=0):
    """Valid requests on every signature (N = 1 and 4) over both protocols, and malformed ones over both."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, [4, image_size + 8, image_size + 3, 3]).astype(np.uint8)
    valid = {
        "serving_default": {"z": rng.uniform(-1, 1, [4, latent_dim]).astype(np.float32)},
        "sample": {"seed": np.array([17, 3, 0, 2**31 - 1], np.int64)},
        "perturb": {"images": images, "seed": np.array([5, 6, 7, 8], np.int64)},
        "sample_png": {"seed": np.array([17, 3, 0, 9], np.int64)},
        "perturb_png": {"images": images, "seed": np.array([], np.int64)},  # no seeds: 0..N-1
    }
    malformed = {
        "unknown_input": ("sample", {"seeds": np.array([1], np.int64)}),
        "negative_seed": ("sample", {"seed": np.array([-1], np.int64)}),
        "z_wrong_width": ("serving_default", {"z": np.zeros([2, latent_dim + 1], np.float32)}),
        "images_rank_3": ("perturb", {"images": images[0], "seed": np.array([1], np.int64)}),
        "unknown_signature": ("nope", {"seed": np.array([1], np.int64)}),
    }
    requests = []
    for protocol in ("rest", "grpc"):
        for signature, inputs in valid.items():
            for n in (1, 4):
                sliced = {k: v[:n] if len(v) else v for k, v in inputs.items()}
                requests.append(Request(f"{protocol}/{signature}/n{n}", protocol, signature, sliced, True))
        for name, (signature, inputs) in malformed.items():
            requests.append(Request(f"{protocol}/bad/{name}", protocol, signature, inputs, False))
    requests.append(Request("rest/bad/not_json", "rest", "sample", {}, False, raw_body=b"{not json"))
    return requests


def _rest_call(base_url, model_name, request, timeout):
    body = request.raw_body
    if body is None:
        body = json.dumps(
            {
                "signature_name": request.signature,
                "inputs": {k: np.asarray(v).tolist() for k, v in request.inputs.items()},
            }
        ).encode()
    http = urllib.request.Request(
        f"{base_url}/v1/models/{model_name}:predict", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(http, timeout=timeout) as response:
            answer = json.loads(response.read())
            version = response.headers.get("X-Model-Version")
            return response.status, int(version) if version else None, rest_output_to_numpy(answer["outputs"]), ""
    except urllib.error.HTTPError as error:
        return error.code, None, None, error.read()[:300].decode("utf-8", "replace")


def _grpc_call(stub, model_name, request, timeout):
    proto = predict_pb2.PredictRequest()
    proto.model_spec.name = model_name
    proto.model_spec.signature_name = request.signature
    for name, value in request.inputs.items():
        proto.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    try:
        response = stub.Predict(proto, timeout=timeout)
    except grpc.RpcError as error:
        code = error.code()
        status = {
            grpc.StatusCode.INVALID_ARGUMENT: 400,
            grpc.StatusCode.NOT_FOUND: 404,
            grpc.StatusCode.UNAVAILABLE: CONNECTION_FAILED,
            grpc.StatusCode.DEADLINE_EXCEEDED: CONNECTION_FAILED,
        }.get(code, 500)
        return status, None, None, f"{code.name}: {error.details()}"[:300]
    (output,) = response.outputs.values()
    return 200, int(response.model_spec.version.value), tf.make_ndarray(output), ""


def run_clients(
    rest_url, grpc_address, model_name, requests, concurrency, duration_s, seed=0, timeout=60, extend_while=None
):
    """`concurrency` threads send requests drawn from `requests` for `duration_s` seconds; returns every Outcome.

    `extend_while()`, if given, keeps the run going past `duration_s` while it returns True (at most
    `timeout` seconds more): a soak that must see an event (a new version served) then lasts long
    enough on a slow machine, instead of ending before the event.
    """
    deadline = time.monotonic() + duration_s
    last_call = deadline + timeout

    def go_on():
        now = time.monotonic()
        return now < deadline or (extend_while is not None and now < last_call and extend_while())

    outcomes, lock = [], threading.Lock()

    def client(number):
        rng = random.Random(seed * 1000 + number)
        channel = _channel(grpc_address)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        mine = []
        try:
            while go_on():
                mine.append(_call(rest_url, stub, model_name, rng.choice(requests), timeout))
        finally:
            channel.close()
            with lock:
                outcomes.extend(mine)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes, key=lambda outcome: outcome.started)


def _channel(grpc_address):
    """A gRPC channel that accepts answers of up to 256 MB (gRPC's default is 4 MB)."""
    return grpc.insecure_channel(grpc_address, options=[("grpc.max_receive_message_length", 256 * 2**20)])


def call_each(rest_url, grpc_address, model_name, requests, timeout=60):
    """Every request once, one after another: what each kind is answered with now (after a load, say)."""
    channel = _channel(grpc_address)
    try:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return [_call(rest_url, stub, model_name, request, timeout) for request in requests]
    finally:
        channel.close()


def _call(rest_url, stub, model_name, request, timeout):
    started = time.monotonic()
    try:
        if request.protocol == "rest":
            status, version, output, message = _rest_call(rest_url, model_name, request, timeout)
        else:
            status, version, output, message = _grpc_call(stub, model_name, request, timeout)
    except (OSError, ValueError) as problem:  # refused, reset, timed out, a truncated answer
        status, version, output, message = CONNECTION_FAILED, None, None, repr(problem)[:300]
    return Outcome(
        key=request.key,
        protocol=request.protocol,
        valid=request.valid,
        started=started,
        finished=time.monotonic(),
        status=status,
        version=version,
        output=output if status == 200 else None,
        message=message,
    )


def summarise(outcomes, duration_s):
    """Per protocol: requests, requests/s, errors (valid requests not answered 200), 5xx, p50/p99 of valid ones."""
    summary = {}
    for protocol in sorted({o.protocol for o in outcomes}):
        mine = [o for o in outcomes if o.protocol == protocol]
        valid = sorted(o.seconds for o in mine if o.valid and o.status == 200)
        summary[protocol] = {
            "requests": len(mine),
            "rps": round(len(mine) / duration_s, 1),
            "valid": sum(o.valid for o in mine),
            "errors": sum(o.valid and o.status != 200 for o in mine),
            "server_errors_5xx": sum(o.status >= 500 for o in mine),
            "dropped": sum(o.status == CONNECTION_FAILED for o in mine),
            "rejected_400": sum(o.status == 400 for o in mine),
            "p50_ms": round(1000 * statistics.median(valid), 1) if valid else None,
            "p99_ms": round(1000 * valid[min(len(valid) - 1, int(0.99 * len(valid)))], 1) if valid else None,
        }
    return summary
