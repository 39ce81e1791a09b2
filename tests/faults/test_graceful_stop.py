"""SIGTERM and SIGINT to the server, the evaluation and the baselines (training: test_kill_resume.py).

The server stops accepting, completes the request in flight and exits 0;
evaluation stops with one line, exit 128 + N and no report; a baseline keeps
its state (perturbation, steps, seconds) in its run folder, leaves `<out>`
unwritten, exits 128 + N, and the same command resumes it.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest
from helpers.artifacts import write_run_dir
from helpers.cli import CHILD_PYTHONPATH
from helpers.server import running_server

from export import saved_model_lib
from export.client import GrpcClient
from nag_tf.core.generator import build_generator

pytestmark = pytest.mark.faults
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _start(module, *flags):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # the binary's own quiet start
    return subprocess.Popen(
        [sys.executable, "-m", module, *flags],
        cwd=ROOT,
        env=dict(env, PYTHONPATH=CHILD_PYTHONPATH),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_output(process, text, timeout=120):
    """Reads stdout until `text` appears (the binary is past its start-up, its handlers installed)."""
    seen = ""
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        seen += process.stdout.read(1)
        if text in seen:
            return seen
    raise AssertionError(f"never printed {text!r}: {seen[-2000:]} {process.stderr.read()[-2000:]}")


def _last_line(stderr):
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr[-3000:]
    return lines[-1]


# One handler for both signals: SIGINT's server run is in the slow suite.
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_server_finishes_the_request_in_flight_then_exits_0(tmp_path, signal_number):
    base = str(tmp_path / "nag")
    saved_model_lib.export_saved_model(build_generator(224, 10, 10.0, "light", seed=0), base, 10.0, "untrained")
    log_path = tmp_path / "server.log"
    with running_server(base, log_path, "--grace_seconds=60", "--max_batch=256") as (process, grpc_port, rest_port):
        client = GrpcClient(f"127.0.0.1:{grpc_port}", "nag")
        client.predict("sample", {"seed": np.arange(4, dtype=np.int64)})  # warm-up: the first call also traces
        seeds = np.arange(16, dtype=np.int64)
        begin = time.monotonic()
        client.predict("sample", {"seed": seeds})
        per_seed = (time.monotonic() - begin) / len(seeds)
        count = int(min(256, max(8, 3.0 / per_seed)))  # a request of ~3 s, fewer seeds on a fast machine
        # The signal comes a quarter into the request's expected time, so a fast machine (256 seeds in well
        # under a second) still signals while it is in flight.
        signal_delay = min(0.5, 0.25 * count * per_seed)
        answer = {}

        def in_flight():
            answer["started"] = time.monotonic()
            answer["outputs"] = client.predict("sample", {"seed": np.arange(count, dtype=np.int64)})
            answer["finished"] = time.monotonic()

        thread = threading.Thread(target=in_flight)
        thread.start()
        time.sleep(signal_delay)
        process.send_signal(signal_number)
        signalled = time.monotonic()
        time.sleep(0.3)
        with pytest.raises(OSError):  # no new connections once the signal arrived
            urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/v1/models/nag", timeout=5)
        thread.join(timeout=120)
        assert process.wait(timeout=120) == 0
    assert answer["finished"] > signalled, "the request was not in flight when the signal arrived"
    assert answer["outputs"]["perturbation"].shape == (count, 224, 224, 3)
    log = log_path.read_text()
    name = signal.Signals(signal_number).name
    assert f"{name}: no new requests; finishing those in flight" in log and log.strip().endswith("stopped"), log


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_run_dir(tmp_path_factory.mktemp("run"))


def test_evaluation_stops_on_sigterm_without_a_report(run_dir, image_folder, tmp_path):
    out_dir = tmp_path / "report"
    process = _start(
        "nag_tf.evaluate",
        f"--sources={run_dir}",
        "--targets=tiny_cnn",
        "--weights=none",
        f"--data_dir={image_folder}",
        "--white_box_samples=100000",
        "--batch_size=8",
        f"--out_dir={out_dir}",
        "--verbose=0",
    )
    _wait_for_output(process, "evaluating 1 source(s)")
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert _last_line(stderr) == (
        "stopped: SIGTERM during evaluation: no report was written; run the same command again"
    )
    assert not os.path.exists(out_dir / "report.md")


@pytest.mark.parametrize("method", ["sgd_uap", "sga"])
def test_a_baseline_keeps_its_state_exits_128_plus_n_and_resumes(image_folder, tmp_path, method):
    out = tmp_path / "uap.npy"
    flags = [
        "--target=tiny_cnn",
        "--weights=none",
        f"--data_dir={image_folder}",
        f"--out={out}",
        "--steps=1000000",
        "--time_budget_s=6",
        *(["--batch_size=8", "--minibatch=4"] if method == "sga" else ["--batch_size=8"]),
    ]
    process = _start(f"nag_tf.baselines.{method}", *flags)
    _wait_for_output(process, "s of optimisation")  # the progress bar is running
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert _last_line(stderr).startswith("stopped: SIGTERM after ")
    assert f"{method}'s state is in {tmp_path / 'uap_run'}; the same call resumes it" in _last_line(stderr)
    assert not out.exists()
    with np.load(tmp_path / "uap_run" / "state.npz") as state:
        taken, spent, perturbation = int(state["steps"]), float(state["seconds"]), state["perturbation"]
    assert taken >= 1 and spent < 6 and perturbation.shape == (32, 32, 3)
    assert 0 < np.abs(perturbation).max() <= 10.0 + 1e-4
    # The same command resumes from where the run stood and spends the rest of its budget.
    process = _start(f"nag_tf.baselines.{method}", *flags)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-2000:]
    record = json.loads((tmp_path / "uap_run" / "run.json").read_text())
    assert record["finished"] and record["steps"] > taken and record["seconds"] >= 6
    assert np.load(out).shape == (32, 32, 3)


def test_a_stop_is_not_swallowed_by_code_that_catches_exception(tmp_path, monkeypatch):
    """Evaluation raises the stop from the signal handler wherever the main thread is. A loader that
    turns any Exception into "damaged file" (or AutoGraph, which logs "could not transform" and carries
    on) must let it through: TrainingStopped is a BaseException, as KeyboardInterrupt is."""
    from nag_tf.errors import NAGError, TrainingStopped
    from nag_tf.evaluation import sources
    from nag_tf.signals import SignalCatcher

    generator = build_generator(32, 4, 10.0, "light", seed=0)
    weights = str(tmp_path / "g.weights.h5")
    generator.save_weights(weights)

    def load_weights_when_the_signal_arrives(path):
        os.kill(os.getpid(), signal.SIGTERM)  # Python runs the handler at the next bytecode, inside the try
        for _ in range(1000):
            time.sleep(0.001)
        raise AssertionError("the signal never interrupted loading")

    monkeypatch.setattr(generator, "load_weights", load_weights_when_the_signal_arrives)
    with SignalCatcher(interrupt="during evaluation"), pytest.raises(TrainingStopped) as stopped:
        sources.load_generator_weights(generator, weights)
    assert not isinstance(stopped.value, NAGError | Exception)
    assert str(stopped.value) == "SIGTERM during evaluation" and stopped.value.exit_code == 128 + signal.SIGTERM
