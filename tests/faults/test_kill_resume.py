"""kill -9 during training (a real process, at random moments), then the same command again.

The resumed run continues from the last complete checkpoint with its step
counter, every checkpoint on disk restores, and the final generator equals
an uninterrupted run's: data, z and shuffles are functions of (seed, step),
and the generator, optimizer and step are checkpointed together.
"""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

pytestmark = pytest.mark.faults
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _command(image_folder, logdir):
    return [sys.executable, "-m", "nag_tf.train", "--target=tiny_cnn", "--weights=none", f"--data_dir={image_folder}", "--holdout=8",
            "--batch_size=8", "--epochs=8", "--latent_dim=4", "--generator=light", f"--logdir={logdir}", "--eval_samples=2",
            "--image_every_steps=2", "--verbose=0"]


def _env():
    return dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")


def _final_weights(logdir):
    from nag_tf.generator import build_generator

    generator = build_generator(32, 4, 10.0, "light")
    generator.load_weights(os.path.join(logdir, "final.weights.h5"))
    return generator.get_weights()


def test_kill_9_at_random_moments_then_resume_equals_an_uninterrupted_run(image_folder, tmp_path):
    straight = str(tmp_path / "straight")
    subprocess.run(_command(image_folder, straight), check=True, env=_env(), cwd=ROOT, timeout=600, capture_output=True)

    killed = str(tmp_path / "killed")
    rng = random.Random(7)
    kills = 0
    for _ in range(3):
        process = subprocess.Popen(_command(image_folder, killed), env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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

    result = subprocess.run(_command(image_folder, killed), env=_env(), cwd=ROOT, timeout=600, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    if before:
        step = int(before.rsplit("-", 1)[1])
        assert f"resumed from {before} at step {step}" in result.stdout
    assert "trained 40 steps" in result.stdout  # 8 epochs x (40 images // 8): the count continued
    # Every checkpoint left on disk is complete and restores.
    from nag_tf.generator import build_generator

    for path in tf.train.get_checkpoint_state(checkpoints).all_model_checkpoint_paths:
        probe = tf.train.Checkpoint(generator=build_generator(32, 4, 10.0, "light"))
        probe.restore(path).expect_partial().assert_existing_objects_matched()
    for a, b in zip(_final_weights(straight), _final_weights(killed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
