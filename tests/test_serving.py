"""The perturbation endpoint as a real process on 127.0.0.1 (gRPC and REST answers, 400s, hot reload),
and its lifecycle (serving_lib.serve) in process."""

import json
import time
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from helpers.artifacts import scaled_generator
from helpers.server import running_server

from export import saved_model_lib
from export.client import GrpcClient, RestClient


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    generator = scaled_generator(seed=0)
    base = str(tmp_path_factory.mktemp("exports") / "nag")
    version1 = saved_model_lib.export_saved_model(generator, base, 10.0, "tiny_cnn")
    log = tmp_path_factory.mktemp("logs") / "server.log"
    with running_server(base, log, "--max_batch=8", "--poll_seconds=0.5", "--max_request_mb=1") as (
        process,
        grpc_port,
        rest_port,
    ):
        yield {
            "rest": RestClient(f"http://127.0.0.1:{rest_port}", "nag"),
            "grpc": GrpcClient(f"127.0.0.1:{grpc_port}", "nag"),
            "reference": tf.saved_model.load(version1),
            "base": base,
            "generator": generator,
            "process": process,
            "rest_port": rest_port,
        }


def test_grpc_predict_matches_the_saved_model_for_each_signature(server):
    reference, client = server["reference"], server["grpc"]
    z = np.random.default_rng(0).uniform(-1, 1, [3, 4]).astype(np.float32)
    np.testing.assert_allclose(
        client.predict("serving_default", {"z": z})["perturbation"],
        reference.signatures["serving_default"](z=tf.constant(z))["perturbation"].numpy(),
        atol=1e-5,
    )
    seeds = np.array([17, 3], np.int64)
    np.testing.assert_allclose(
        client.predict("sample", {"seed": seeds})["perturbation"],
        reference.signatures["sample"](seed=tf.constant(seeds))["perturbation"].numpy(),
        atol=1e-5,
    )
    images = np.random.default_rng(1).integers(0, 256, [2, 20, 24, 3]).astype(np.uint8)
    got = client.predict("perturb", {"images": images, "seed": seeds})["adversarial_images"]
    np.testing.assert_array_equal(
        got,
        reference.signatures["perturb"](images=tf.constant(images), seed=tf.constant(seeds))[
            "adversarial_images"
        ].numpy(),
    )
    metadata = client.metadata()
    assert metadata.model_spec.name == "nag" and "signature_def" in metadata.metadata


def test_rest_predict_row_and_columnar_formats_match_the_saved_model(server):
    reference, rest = server["reference"], server["rest"]
    seeds = [5, 17]
    expected = reference.signatures["sample"](seed=tf.constant(seeds, tf.int64))["perturbation"].numpy()
    status, body = rest.post({"signature_name": "sample", "instances": seeds})
    assert status == 200
    np.testing.assert_allclose(np.array(body["predictions"]), expected, atol=1e-5)
    status, body = rest.post({"signature_name": "sample", "inputs": {"seed": seeds}})
    np.testing.assert_allclose(np.array(body["outputs"]), expected, atol=1e-5)
    z = [[0.1, -0.2, 0.3, 0.9]]
    status, body = rest.post({"instances": [{"z": z[0]}]})  # serving_default, named row
    assert status == 200
    np.testing.assert_allclose(
        np.array(body["predictions"]),
        reference.signatures["serving_default"](z=tf.constant(z))["perturbation"].numpy(),
        atol=1e-5,
    )
    images = np.zeros([1, 32, 32, 3], np.uint8).tolist()
    status, body = rest.post({"signature_name": "perturb", "inputs": {"images": images, "seed": [4]}})
    assert status == 200
    np.testing.assert_array_equal(
        np.array(body["outputs"]),
        reference.signatures["perturb"](images=tf.zeros([1, 32, 32, 3], tf.uint8), seed=tf.constant([4], tf.int64))[
            "adversarial_images"
        ].numpy(),
    )
    assert rest.status()["model_version_status"][0]["state"] == "AVAILABLE"


BAD_REQUESTS = [
    ("not json", b"{not json", "not valid JSON"),
    ("invalid utf-8", b"\xff\xfe\xfd", "not valid JSON"),
    ("neither format", {"foo": 1}, "exactly one of"),
    ("unknown signature", {"signature_name": "nope", "instances": [1]}, "signature_name 'nope' unknown"),
    ("wrong dtype", {"signature_name": "sample", "inputs": {"seed": ["a", "b"]}}, "input 'seed' must be numeric"),
    ("float seed", {"signature_name": "sample", "inputs": {"seed": [1.5]}}, "must hold integers"),
    ("negative seed", {"signature_name": "sample", "inputs": {"seed": [-1]}}, "values must be in"),
    ("huge seed", {"signature_name": "sample", "inputs": {"seed": [2**40]}}, "values must be in"),
    ("wrong rank", {"signature_name": "sample", "inputs": {"seed": [[1, 2]]}}, "must have rank 1"),
    ("wrong latent size", {"inputs": {"z": [[0.1, 0.2]]}}, "dimension 1 must be 4"),
    ("ragged", {"inputs": {"z": [[0.1, 0.2, 0.3, 0.4], [0.1]]}}, "not a rectangular array"),
    ("batch too large", {"signature_name": "sample", "inputs": {"seed": list(range(9))}}, "above the maximum 8"),
    (
        "image values",
        {"signature_name": "perturb", "inputs": {"images": [[[[300, 0, 0]]]], "seed": [1]}},
        "values must be in [0, 255]",
    ),
    (
        "image channels",
        {"signature_name": "perturb", "inputs": {"images": [[[[1, 2]]]], "seed": [1]}},
        "dimension 3 must be 3",
    ),
    (
        "seed count",
        {"signature_name": "perturb", "inputs": {"images": np.zeros([2, 4, 4, 3], int).tolist(), "seed": [1]}},
        "one entry per image",
    ),
    ("missing input", {"signature_name": "perturb", "inputs": {"seed": [1]}}, "missing input"),
    ("nan", {"inputs": {"z": [[float("nan")] * 4]}}, "not valid JSON"),
]


@pytest.mark.parametrize("name, body, message", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_rest_requests_get_400_with_a_json_error_and_the_server_keeps_serving(server, name, body, message):
    data = body if isinstance(body, bytes) else json.dumps(body).replace("NaN", "NaN").encode()
    request = urllib.request.Request(f"http://127.0.0.1:{server['rest_port']}/v1/models/nag:predict", data=data)
    try:
        urllib.request.urlopen(request, timeout=30)
        pytest.fail("expected HTTP 400")
    except urllib.error.HTTPError as error:
        assert error.code == 400
        assert message in json.loads(error.read())["error"]
    assert server["rest"].post({"signature_name": "sample", "instances": [1]})[0] == 200


def test_bad_grpc_request_is_invalid_argument(server):
    import grpc

    with pytest.raises(grpc.RpcError) as raised:
        server["grpc"].predict("sample", {"seed": np.array([-5], np.int64)})
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert server["grpc"].predict("sample", {"seed": np.array([5], np.int64)})["perturbation"].shape == (1, 32, 32, 3)


def test_oversized_body_is_rejected(server):
    request = urllib.request.Request(
        f"http://127.0.0.1:{server['rest_port']}/v1/models/nag:predict", data=b"[" + b"0," * 700_000 + b"0]"
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=30)
    assert raised.value.code == 413


def test_new_version_is_served_without_restart(server):
    generator = server["generator"]
    saved_model_lib.export_saved_model(generator, server["base"], 10.0, "tiny_cnn")
    for _ in range(100):
        if len(server["rest"].status()["model_version_status"]) == 2:
            break
        time.sleep(0.2)
    assert [s["version"] for s in server["rest"].status()["model_version_status"]] == ["1", "2"]
    pinned = RestClient(f"http://127.0.0.1:{server['rest_port']}", "nag", version=1)
    assert pinned.post({"signature_name": "sample", "instances": [1]})[0] == 200


def test_the_lifecycle_in_process_serves_then_stops_on_its_event_and_closes_both_ports(tmp_path):
    """`serving_lib.serve`, the library function the binary runs: it answers once it says it serves, and
    when its stop event is set it finishes, says so and frees the ports (no process, no signal)."""
    import asyncio
    import socket

    from helpers.server import free_port

    from export import serving_lib

    base = str(tmp_path / "nag")
    version1 = saved_model_lib.export_saved_model(scaled_generator(seed=0), base, 10.0, "tiny_cnn")
    config = serving_lib.ServerConfig(
        base, "nag", port=free_port(), rest_port=free_port(), poll_seconds=0.2, grace_seconds=0.2
    )
    messages = []
    seeds = np.array([17, 3], np.int64)

    async def a_client_then_a_stop():
        stop = asyncio.Event()
        server = asyncio.create_task(serving_lib.serve(config, stop, messages.append))
        while not any(message.startswith("serving model") for message in messages):
            assert not server.done(), messages
            await asyncio.sleep(0.05)
        rest = RestClient(f"http://127.0.0.1:{config.rest_port}", "nag")
        answer = await asyncio.get_running_loop().run_in_executor(None, rest.sample, seeds)
        stop.set()
        await asyncio.wait_for(server, timeout=30)
        return answer

    answer = asyncio.run(a_client_then_a_stop())
    expected = tf.saved_model.load(version1).signatures["sample"](seed=tf.constant(seeds))["perturbation"]
    np.testing.assert_allclose(answer, expected.numpy(), atol=1e-5)
    assert messages[-2].startswith("stop requested: no new requests") and messages[-1] == "stopped"
    for port in (config.port, config.rest_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still accepts after the stop"
