"""The serving soak: 16 concurrent clients (REST and gRPC, valid and malformed, every signature) for ~24 s
(longer when the new version is slow to load: it then serves for 12 s) while a new version is exported
into the served directory mid-run; its short twin, 4 clients for ~6 s through one switch, runs by default.

Checked: no valid request fails, nothing answers 5xx, no connection is dropped;
every valid answer equals the single-request answer of the version that served
it (float outputs within 1e-5 of xi, uint8 and PNG images within one grey level
-- same machine, same batch; the two versions differ by far more) and never
matches the other version (no mixed answer); every request started after the
server reported the new version is answered by it, every one finished before
the export began by the old one; malformed requests get 400 throughout; the
server's memory grows by less than 300 MB. The counts are printed (pytest -s).
"""

import threading
import time

import numpy as np
import psutil
import pytest
import tensorflow as tf
from helpers.artifacts import XI, scaled_generator
from helpers.server import running_server

from export import load_test as load_lib
from export import saved_model_lib
from export.client import RestClient, decode_png

pytestmark = pytest.mark.faults
# (clients, seconds of load, export of version 2 at, the least time version 2 then serves the clients):
# the full soak runs with `pytest -m slow`; its short twin (one switch, 4 clients) in the default run.
SOAKS = [
    pytest.param(16, 24.0, 8.0, 12.0, marks=pytest.mark.slow, id="16_clients_24s"),
    pytest.param(4, 6.0, 2.0, 4.0, id="4_clients_6s"),
]


def _single_answers(version_dir, requests):
    """Each valid request's answer from the version loaded here, one request at a time."""
    loaded = tf.saved_model.load(version_dir)
    answers = {}
    for request in requests:
        if request.valid:
            inputs = {k: tf.constant(v) for k, v in request.inputs.items()}
            (answers[request.key],) = loaded.signatures[request.signature](**inputs).values()
    return {key: value.numpy() for key, value in answers.items()}


def _same(answer, reference):
    if reference.dtype == object:  # PNG files: compare the pictures
        answer, reference = decode_png(answer), decode_png(reference)
    if reference.dtype == np.uint8:
        return answer.shape == reference.shape and np.abs(answer.astype(int) - reference).max() <= 1
    return answer.shape == reference.shape and np.allclose(answer, reference, rtol=0, atol=1e-5 * XI)


@pytest.mark.parametrize("concurrency, duration_s, switch_at_s, after_switch_s", SOAKS)
def test_concurrent_clients_through_a_version_switch(tmp_path, concurrency, duration_s, switch_at_s, after_switch_s):
    base = str(tmp_path / "nag")
    old, new = scaled_generator(0), scaled_generator(1)
    first = saved_model_lib.export_saved_model(old, base, XI, "tiny_cnn")
    requests = load_lib.soak_requests(latent_dim=4, image_size=32)
    log_path = tmp_path / "server.log"
    with running_server(base, log_path, "--poll_seconds=0.3", "--max_batch=8") as (process, grpc_port, rest_port):
        server = psutil.Process(process.pid)
        rest_url, grpc_address = f"http://127.0.0.1:{rest_port}", f"127.0.0.1:{grpc_port}"
        load_lib.run_clients(rest_url, grpc_address, "nag", requests, concurrency=2, duration_s=2.0)  # warm-up
        memory_before = server.memory_info().rss
        switch = {}

        def export_new_version():
            time.sleep(switch_at_s)
            switch["export_started"] = time.monotonic()
            switch["path"] = saved_model_lib.export_saved_model(new, base, XI, "tiny_cnn")
            status = RestClient(rest_url, "nag")
            while not any(s["version"] == "2" for s in status.status()["model_version_status"]):
                time.sleep(0.05)
            switch["seen"] = time.monotonic()

        switcher = threading.Thread(target=export_new_version)
        switcher.start()
        # On a slow machine the new version can take longer than the run to load (17.5 s after its
        # export on an AVX2-only 2-core AMD EPYC): the clients go on until it has served for a while.
        began = time.monotonic()
        outcomes = load_lib.run_clients(
            rest_url,
            grpc_address,
            "nag",
            requests,
            concurrency,
            duration_s,
            extend_while=lambda: "seen" not in switch or time.monotonic() < switch["seen"] + after_switch_s,
        )
        ran_s = time.monotonic() - began
        switcher.join(timeout=60)
        memory_growth_mb = (server.memory_info().rss - memory_before) / 2**20
        # Every kind of request once more, after the load: the clients draw at random, so on a slow
        # machine some kind may not come up after the switch (it failed so on one loaded core).
        after_load = load_lib.call_each(rest_url, grpc_address, "nag", requests)
        assert process.poll() is None
    references = {1: _single_answers(first, requests), 2: _single_answers(switch["path"], requests)}

    summary = load_lib.summarise(outcomes, ran_s)
    by_version = {v: sum(o.version == v for o in outcomes if o.valid) for v in (1, 2)}
    print(f"\nsoak: {len(outcomes)} requests, {by_version} valid answers by version, {summary}")
    lag = switch["seen"] - switch["export_started"]
    print(f"server memory growth {memory_growth_mb:.0f} MB; new version served {lag:.2f} s after its export began")

    assert len(outcomes) > 20 * concurrency, summary
    failed = [o for o in outcomes if (o.valid and o.status != 200) or o.status >= 500 or o.status == 0]
    assert not failed, [(o.key, o.status, o.message) for o in failed[:5]]
    wrongly_accepted = [o for o in outcomes if not o.valid and o.status != 400]
    assert not wrongly_accepted, [(o.key, o.status) for o in wrongly_accepted[:5]]
    for outcome in (o for o in outcomes if o.valid):
        other = 3 - outcome.version
        assert _same(outcome.output, references[outcome.version][outcome.key]), (outcome.key, outcome.version)
        assert not _same(outcome.output, references[other][outcome.key]), outcome.key  # a mix would match neither
        if outcome.started > switch["seen"]:
            assert outcome.version == 2, (outcome.key, outcome.started - switch["seen"])
        if outcome.finished < switch["export_started"]:
            assert outcome.version == 1, outcome.key
    assert by_version[1] > 0 and by_version[2] > 0
    assert by_version[2] >= concurrency, by_version  # version 2 served the load, not only the last pass
    for outcome in after_load:  # no kind of request is left on version 1
        if outcome.valid:
            assert (outcome.status, outcome.version) == (200, 2), (outcome.key, outcome.status, outcome.version)
            assert _same(outcome.output, references[2][outcome.key]), outcome.key
        else:
            assert outcome.status == 400, (outcome.key, outcome.status)
    assert memory_growth_mb < 300
    assert "loaded versions [1, 2]" in log_path.read_text()
