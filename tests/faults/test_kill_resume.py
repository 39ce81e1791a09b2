"""kill -9 or SIGTERM during training (a real process, at random moments), damaged checkpoints, then a rerun.

The resumed run continues from the last complete checkpoint with its step
counter, every checkpoint on disk restores, and the final generator equals
an uninterrupted run's: data, z and shuffles are functions of (seed, step),
and the generator, optimizer and step are checkpointed together.
"""

import glob
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from helpers.cli import CHILD_PYTHONPATH, tiny_run_flags

pytestmark = pytest.mark.faults
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _command(image_folder, logdir):
    return [
        sys.executable,
        "-m",
        "nag_tf.train",
        *tiny_run_flags(
            image_folder,
            epochs=8,
            latent_dim=4,
            generator="light",
            logdir=logdir,
            eval_samples=2,
            image_every_steps=2,
            verbose=0,
        ),
    ]


def _env():
    return dict(os.environ, PYTHONPATH=CHILD_PYTHONPATH, TF_CPP_MIN_LOG_LEVEL="3")


def _final_weights(logdir):
    from nag_tf.core.generator import build_generator

    generator = build_generator(32, 4, 10.0, "light")
    generator.load_weights(os.path.join(logdir, "final.weights.h5"))
    return generator.get_weights()


@pytest.fixture(scope="module")
def straight(image_folder, tmp_path_factory):
    """The uninterrupted reference run, trained once for every stop-and-resume test of this file."""
    logdir = str(tmp_path_factory.mktemp("straight") / "run")
    subprocess.run(_command(image_folder, logdir), check=True, env=_env(), cwd=ROOT, timeout=600, capture_output=True)
    return logdir


@pytest.mark.slow  # three killed subprocess runs; twin as for the signal test below
def test_kill_9_at_random_moments_then_resume_equals_an_uninterrupted_run(image_folder, tmp_path, straight):
    killed = str(tmp_path / "killed")
    rng = random.Random(7)
    kills = 0
    for _ in range(3):
        process = subprocess.Popen(
            _command(image_folder, killed), env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # Wait until training is under way (a checkpoint or event file exists), then kill at a random moment.
        deadline = time.time() + 120
        while time.time() < deadline and process.poll() is None and not os.path.exists(os.path.join(killed, "train")):
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 3.0))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    assert kills >= 1
    checkpoints = os.path.join(killed, "checkpoints")
    before = tf.train.latest_checkpoint(checkpoints) if os.path.isdir(checkpoints) else None

    result = subprocess.run(
        _command(image_folder, killed), env=_env(), cwd=ROOT, timeout=600, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    if before:
        step = int(before.rsplit("-", 1)[1])
        assert f"resumed from {before} at step {step}" in result.stdout
    assert "trained 32 steps" in result.stdout  # 8 epochs x (32 training images // 8): the count continued
    # Every checkpoint left on disk is complete and restores.
    from nag_tf.core.generator import build_generator

    for path in tf.train.get_checkpoint_state(checkpoints).all_model_checkpoint_paths:
        probe = tf.train.Checkpoint(generator=build_generator(32, 4, 10.0, "light"))
        probe.restore(path).expect_partial().assert_existing_objects_matched()
    for a, b in zip(_final_weights(straight), _final_weights(killed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# Subprocess runs (a reference, a stopped one and its rerun: about 90 s); the in-process twin in the default
# run is tests/test_train.py's test_a_signal_mid_epoch_checkpoints_and_the_rerun_spends_only_the_rest_of_the_budget
@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])  # one handler for both
def test_a_signal_stops_cleanly_with_a_checkpoint_and_the_rerun_equals_an_uninterrupted_run(
    image_folder, tmp_path, signal_number, straight
):
    stopped = str(tmp_path / "stopped")
    process = subprocess.Popen(
        _command(image_folder, stopped), env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # Training is under way once the first epoch's checkpoint exists (the "train" folder comes before tracing,
    # and a signal there is the start-up's, tested in tests/test_train.py).
    deadline = time.time() + 120
    checkpoints = os.path.join(stopped, "checkpoints")
    while (
        time.time() < deadline
        and process.poll() is None
        and not os.path.exists(os.path.join(checkpoints, "checkpoint"))
    ):
        time.sleep(0.05)
    time.sleep(0.5)  # mid-epoch, most likely
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=120)
    name = signal.Signals(signal_number).name
    if process.returncode == 0:  # finished before the signal arrived: nothing to check
        pytest.skip("training ended before the signal")
    assert process.returncode == 128 + signal_number, stderr[-2000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"stopped: {name} at step ") and "run the same command to resume" in last
    assert "Traceback" not in stderr
    assert tf.train.latest_checkpoint(os.path.join(stopped, "checkpoints")) is not None
    assert not os.path.exists(os.path.join(stopped, "final.weights.h5"))  # not finished: no final weights

    resumed = subprocess.run(
        _command(image_folder, stopped), env=_env(), cwd=ROOT, timeout=600, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "trained 32 steps" in resumed.stdout
    for a, b in zip(_final_weights(straight), _final_weights(stopped)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _damage(prefix, how):
    """Truncates or overwrites with garbage the data file of a checkpoint."""
    data = next(path for path in (prefix + ".data-00000-of-00001",) if os.path.exists(path))
    with open(data, "rb") as handle:
        content = handle.read()
    with open(data, "wb") as handle:
        handle.write(content[: len(content) // 3] if how == "truncated" else os.urandom(len(content)))


# Both damages take the same path (the restore fails and the previous checkpoint is tried): one in the default run.
@pytest.mark.parametrize("how", ["truncated", pytest.param("garbage", marks=pytest.mark.slow)])
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_complete_one(tiny_config, how, caplog):
    from nag_tf.training import train_lib

    config = tiny_config(epochs=2)
    train_lib.train(config)
    directory = os.path.join(config.logdir, "checkpoints")
    latest = tf.train.latest_checkpoint(directory)
    assert latest.endswith("ckpt-8")
    _damage(latest, how)
    os.remove(os.path.join(config.logdir, "final.weights.h5"))
    with caplog.at_level("WARNING"):
        result = train_lib.train(tiny_config(epochs=3))
    assert any("ckpt-8 is damaged" in record.getMessage() for record in caplog.records)
    assert result.steps == 12  # resumed at step 4 (ckpt-4), not from 0, and trained on to 3 epochs


def test_when_every_checkpoint_is_damaged_training_refuses_and_overwrites_nothing(tiny_config):
    from nag_tf.errors import NAGError
    from nag_tf.training import train_lib

    config = tiny_config(epochs=2)
    train_lib.train(config)
    directory = os.path.join(config.logdir, "checkpoints")
    for path in glob.glob(os.path.join(directory, "ckpt-*.index")):
        _damage(path[: -len(".index")], "garbage")
    before = {name: os.path.getmtime(os.path.join(directory, name)) for name in os.listdir(directory)}
    with pytest.raises(NAGError, match="every checkpoint in .* is damaged .*nothing was overwritten"):
        train_lib.train(tiny_config(epochs=3))
    assert before == {name: os.path.getmtime(os.path.join(directory, name)) for name in os.listdir(directory)}
