"""Files damaged at rest: SavedModel versions and generator weights.

A version with its variables missing, truncated or overwritten is refused by
the server (reason logged, status END) while the last good version keeps
answering, and loaded once repaired; the TFLite converter and evaluation
given it stop with one line naming it. A truncated, garbage or
other-architecture `best.weights.h5` stops evaluation and export with one line
naming the file. Checkpoints damaged mid-training: tests/faults/test_kill_resume.py.
"""

import os
import shutil
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from helpers.artifacts import XI, scaled_generator, write_run_dir
from helpers.cli import CHILD_PYTHONPATH
from helpers.server import running_server

from export import saved_model_lib
from export.client import RestClient
from nag_tf.core.generator import build_generator
from nag_tf.errors import NAGError
from nag_tf.evaluation import sources

pytestmark = pytest.mark.faults
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DAMAGES = ["variables_missing", "variables_truncated", "variables_garbage", "graph_truncated"]


def _damage(version_dir, how):
    variables = os.path.join(version_dir, "variables", "variables.data-00000-of-00001")
    if how == "variables_missing":
        os.remove(variables)
        return
    path = os.path.join(version_dir, "saved_model.pb") if how == "graph_truncated" else variables
    with open(path, "rb") as handle:
        content = handle.read()
    with open(path, "wb") as handle:
        handle.write(os.urandom(len(content)) if how == "variables_garbage" else content[: len(content) // 2])


def _damaged_export(tmp_path, how, generator):
    """An exported version damaged in `how`, outside any served directory."""
    path = saved_model_lib.export_saved_model(generator, str(tmp_path / f"staging_{how}"), XI, "tiny_cnn")
    _damage(path, how)
    return path


def _run_binary(module, *flags):
    """The binary as a user runs it: no TF_CPP_MIN_LOG_LEVEL, so its own quiet start applies."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", module, *flags],
        cwd=ROOT,
        env=dict(env, PYTHONPATH=CHILD_PYTHONPATH),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_line_error(result, *expected):
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_version_is_one_clear_error_when_loaded(tmp_path, how):
    path = _damaged_export(tmp_path, how, scaled_generator(0))
    with pytest.raises(NAGError, match=f"SavedModel {path} is damaged"):
        sources.load_source(path)


@pytest.mark.slow  # a server through three versions (about 30 s); loading a damaged version is checked above
def test_server_refuses_damaged_versions_keeps_the_last_good_one_and_loads_a_repaired_one(tmp_path):
    base = str(tmp_path / "nag")
    good, repaired = scaled_generator(0), scaled_generator(1)
    saved_model_lib.export_saved_model(good, base, XI, "tiny_cnn")
    damaged = [_damaged_export(tmp_path, how, repaired) for how in DAMAGES]
    log_path = tmp_path / "server.log"
    with running_server(base, log_path, "--poll_seconds=0.3") as (process, _, rest_port):
        rest = RestClient(f"http://127.0.0.1:{rest_port}", "nag")
        expected_v1 = rest.sample([3])
        for number, path in enumerate(damaged, start=2):  # versions 2..5 appear, each damaged
            shutil.move(path, os.path.join(base, str(number)))
        deadline = time.time() + 60
        while time.time() < deadline and log_path.read_text().count("not loaded") < len(DAMAGES):
            time.sleep(0.2)
        log = log_path.read_text()
        for number in range(2, 2 + len(DAMAGES)):
            assert f"version {number} not loaded: SavedModel {base}/{number} is damaged" in log, log[-3000:]
        assert "Traceback" not in log and process.poll() is None
        statuses = {s["version"]: s for s in rest.status()["model_version_status"]}
        assert statuses["1"]["state"] == "AVAILABLE"
        assert all(statuses[str(n)]["state"] == "END" for n in range(2, 2 + len(DAMAGES)))
        np.testing.assert_array_equal(rest.sample([3]), expected_v1)  # still version 1
        request = urllib.request.Request(
            f"http://127.0.0.1:{rest_port}/v1/models/nag:predict",
            data=b'{"signature_name": "sample", "inputs": {"seed": [1]}}',
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["X-Model-Version"] == "1"
        # Repair version 3 (write a good export in its place): loaded at the next poll, served as the latest.
        shutil.rmtree(os.path.join(base, "3"))
        fresh = saved_model_lib.export_saved_model(repaired, str(tmp_path / "fresh"), XI, "tiny_cnn")
        shutil.move(fresh, os.path.join(base, "3"))
        deadline = time.time() + 60
        while time.time() < deadline and "3" not in [
            s["version"] for s in rest.status()["model_version_status"] if s["state"] == "AVAILABLE"
        ]:
            time.sleep(0.2)
        reference = saved_model_lib.PerturbationModule(repaired, XI).from_seed(np.array([3], np.int64))
        np.testing.assert_allclose(rest.sample([3]), reference["perturbation"].numpy(), rtol=0, atol=1e-5 * XI)
        assert not np.allclose(expected_v1, rest.sample([3]), atol=1e-2)


# Both damages reach the same check (the variables do not read back): the truncated one in the slow suite.
@pytest.mark.parametrize("how", ["variables_missing", pytest.param("variables_truncated", marks=pytest.mark.slow)])
def test_tflite_and_evaluate_given_a_damaged_version_stop_with_one_line(tmp_path, how):
    path = _damaged_export(tmp_path, how, scaled_generator(0))
    _one_line_error(
        _run_binary("export.tflite", f"--saved_model={path}", f"--out={tmp_path}/x.tflite"), path, "damaged"
    )
    assert not os.path.exists(tmp_path / "x.tflite")
    _one_line_error(
        _run_binary(
            "nag_tf.evaluate",
            f"--sources={path}",
            "--targets=tiny_cnn",
            "--weights=none",
            f"--out_dir={tmp_path}/report",
        ),
        path,
        "damaged",
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_run_dir(tmp_path_factory.mktemp("run"))


@pytest.mark.parametrize("how", ["truncated", "garbage", "other_architecture"])
def test_damaged_generator_weights_are_one_line_naming_the_file(run_dir, tmp_path, how):
    damaged = tmp_path / "run"
    shutil.copytree(run_dir, damaged)
    weights = damaged / "best.weights.h5"
    if how == "other_architecture":  # resize-then-convolve weights under a config that says `light`
        build_generator(32, latent_dim=4, xi=XI, variant="light_resize").save_weights(str(weights))
    else:
        content = weights.read_bytes()
        weights.write_bytes(content[: len(content) // 2] if how == "truncated" else os.urandom(len(content)))
    with pytest.raises(NAGError, match=f"{weights} cannot be loaded into this run's generator"):
        sources.load_source(str(damaged))
    if how == "truncated":  # the binaries say the same in one line
        _one_line_error(
            _run_binary("export.saved_model", f"--checkpoint={damaged}", f"--export_dir={tmp_path}/exports"),
            str(weights),
        )
        assert not os.path.exists(tmp_path / "exports")
        _one_line_error(
            _run_binary(
                "nag_tf.evaluate",
                f"--sources={damaged}",
                "--targets=tiny_cnn",
                "--weights=none",
                f"--out_dir={tmp_path}/r",
            ),
            str(weights),
        )
