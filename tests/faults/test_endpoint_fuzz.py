"""Endpoint fuzzing over loopback: 300 malformed requests by default, 2,000 with `pytest -m slow`.

Only 400s (413 for oversized bodies), bounded memory, still serving. Each test stands alone.
"""

import json
import urllib.request

import numpy as np
import psutil
import pytest
from helpers.server import running_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from export import saved_model_lib
from nag_tf.core.generator import build_generator

pytestmark = pytest.mark.faults

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=40,
)
KEYS = st.sampled_from(["instances", "inputs", "signature_name", "z", "seed", "images", "x"])
SIGNATURES = st.sampled_from(["serving_default", "sample", "perturb", "", "nope"])
BODIES = st.one_of(
    st.dictionaries(KEYS, JSON_VALUES, max_size=3),
    st.builds(lambda sig, value: {"signature_name": sig, "inputs": value}, SIGNATURES, JSON_VALUES),
    st.builds(lambda sig, value: {"signature_name": sig, "instances": value}, SIGNATURES, JSON_VALUES),
    st.builds(lambda sig, name, value: {"signature_name": sig, "inputs": {name: value}}, SIGNATURES, KEYS, JSON_VALUES),
    JSON_VALUES,
)
COUNTS = {"requests": 0, "ok": 0, "rejected": 0}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    generator = build_generator(32, latent_dim=4, xi=10.0, variant="light", seed=0)
    base = str(tmp_path_factory.mktemp("exports") / "nag")
    saved_model_lib.export_saved_model(generator, base, 10.0, "tiny_cnn")
    with running_server(
        base, tmp_path_factory.mktemp("logs") / "server.log", "--max_batch=8", "--max_request_mb=1"
    ) as (process, _, rest_port):
        yield process, f"http://127.0.0.1:{rest_port}/v1/models/nag:predict"


def _post(url, data):
    COUNTS["requests"] += 1
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as response:
            COUNTS["ok"] += 1
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        COUNTS["rejected"] += 1
        return error.code, json.loads(error.read())


def _check(status, body, size):
    if status == 200:  # a random body can be a valid request
        assert "predictions" in body or "outputs" in body
        return
    assert status == (413 if size > 1024 * 1024 else 400), (status, body)
    if status == 400:
        assert isinstance(body.get("error"), str) and body["error"]


def _fuzz_json(endpoint, body):
    data = json.dumps(body).encode()
    _check(*_post(endpoint[1], data), len(data))


def _fuzz_raw(endpoint, raw):
    _check(*_post(endpoint[1], raw), len(raw))


_SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@settings(max_examples=150, **_SETTINGS)
@given(body=BODIES)
def test_random_json_bodies(endpoint, body):
    _fuzz_json(endpoint, body)


@pytest.mark.slow
@settings(max_examples=1000, **_SETTINGS)
@given(body=BODIES)
def test_random_json_bodies_at_length(endpoint, body):
    _fuzz_json(endpoint, body)


RAW = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda n: b"[" * n + b"]" * n, st.integers(1, 200_000)),
    st.builds(
        lambda n: json.dumps({"inputs": {"seed": [1] * n}, "signature_name": "sample"}).encode(),
        st.integers(0, 300_000),
    ),
)


@settings(max_examples=150, **_SETTINGS)
@given(raw=RAW)
def test_raw_bytes_deep_nesting_and_huge_arrays(endpoint, raw):
    _fuzz_raw(endpoint, raw)


@pytest.mark.slow
@settings(max_examples=1000, **_SETTINGS)
@given(raw=RAW)
def test_raw_bytes_deep_nesting_and_huge_arrays_at_length(endpoint, raw):
    _fuzz_raw(endpoint, raw)


def test_after_fuzzing_memory_is_bounded_and_a_valid_request_succeeds(endpoint):
    process, url = endpoint
    rng = np.random.default_rng(0)  # its own malformed requests first, whatever else ran before
    for size in rng.integers(1, 4096, size=100):
        _check(*_post(url, rng.bytes(int(size))), int(size))
    for depth in (10, 1000, 100_000):
        body = b"[" * depth + b"]" * depth
        _check(*_post(url, body), len(body))
    rss_mb = psutil.Process(process.pid).memory_info().rss / 2**20
    status, body = _post(url, json.dumps({"signature_name": "sample", "instances": [3]}).encode())
    assert status == 200 and np.asarray(body["predictions"]).shape == (1, 32, 32, 3)
    assert rss_mb < 2048, rss_mb
    print(
        f"fuzzed {COUNTS['requests']} requests: {COUNTS['rejected']} rejected, {COUNTS['ok']} valid by chance; "
        f"server RSS {rss_mb:.0f} MB"
    )
