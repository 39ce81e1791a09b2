"""tf.distribute for real on CPU: MirroredStrategy over 2 logical devices, 2 local multi-worker processes."""

import json
import os
import socket
import subprocess
import sys

import pytest
import tensorflow as tf

HELPERS = os.path.join(os.path.dirname(__file__), "helpers")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def test_mirrored_over_two_logical_cpus_matches_one_device(image_folder, tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(HELPERS, "mirrored_check.py"), image_folder, str(tmp_path)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["steps"] == [4, 4]
    # Same global batch, same z: the loss (mean over the global batch) is the same.
    assert report["mirrored_loss"] == pytest.approx(report["single_loss"], rel=1e-4)
    # Same gradients: after 4 Adam steps (lr 1e-3) most weights agree within a tenth of one step;
    # the rest differ by at most the lr-sized steps Adam takes on near-zero gradients whose sign is
    # float noise (a summation order differs between one and two devices). How many flip depends on
    # the CPU's kernels: over 99% agree with AVX512 ones, 97.3% with oneDNN held to AVX2
    # (ONEDNN_MAX_CPU_ISA=AVX2, as on the other machine kind).
    assert report["fraction_equal_weights"] > 0.95, report
    assert report["max_weight_difference"] <= 4 * 1e-3 + 1e-6, report


def _ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _run_cluster(image_folder, logdir, epochs):
    ports = _ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    for index in range(2):
        env = dict(ENV, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        processes.append(
            subprocess.Popen(
                [sys.executable, os.path.join(HELPERS, "multi_worker_train.py"), image_folder, logdir, str(epochs)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        outputs.append(out)
    return outputs


@pytest.mark.slow  # four worker processes; the mirrored test above keeps the strategy path in the default run
def test_two_local_workers_train_and_the_chiefs_checkpoint_resumes(image_folder, tmp_path):
    logdir = str(tmp_path / "run")
    first = _run_cluster(image_folder, logdir, epochs=1)
    assert all("done: steps=3" in out and "2 replica(s)" in out for out in first)
    assert tf.train.latest_checkpoint(os.path.join(logdir, "checkpoints")).endswith("ckpt-3")
    assert os.path.exists(os.path.join(logdir, "config.json"))  # written by the chief only
    second = _run_cluster(image_folder, logdir, epochs=2)
    assert "resumed from" in second[0] and "at step 3" in second[0]
    assert all("done: steps=6" in out for out in second)
    assert tf.train.latest_checkpoint(os.path.join(logdir, "checkpoints")).endswith("ckpt-6")
