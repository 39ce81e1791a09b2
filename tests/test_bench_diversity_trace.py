"""bench/diversity_trace.py: reads a run's mu / cosine / fooling scalars and names windup and overshoot.

Hand-written TensorBoard events stand in for a training run: one whose mu winds up while the
samples stay collapsed and then overshoots, one held at the target.
"""

import json
import os
import subprocess
import sys

import tensorflow as tf
from helpers.cli import error_line

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SCRIPT = os.path.join(ROOT, "bench", "diversity_trace.py")


def _write_run(logdir, mus, cosines):
    writer = tf.summary.create_file_writer(os.path.join(logdir, "train"))
    with writer.as_default():
        for step, (mu, cosine) in enumerate(zip(mus, cosines), start=1):
            tf.summary.scalar("train/diversity_penalty_weight", mu, step=step)
            tf.summary.scalar("train/pair_cosine", cosine, step=step)
            tf.summary.scalar("train/fooling_rate", 0.5, step=step)
    writer.flush()
    return str(logdir)


def _run(*arguments):
    return subprocess.run([sys.executable, SCRIPT, *arguments], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_the_trace_names_windup_and_overshoot_and_draws_the_png(tmp_path):
    windup = _write_run(tmp_path / "windup", [1, 2, 3, 4, 3, 2, 1], [1.0, 1.0, 1.0, 0.995, -0.3, -0.1, 0.0])
    held = _write_run(tmp_path / "held", [1, 1.5, 1.2, 1.0, 1.1, 1.0, 1.0], [0.9, 0.6, 0.38, 0.42, 0.4, 0.39, 0.41])
    png = tmp_path / "trace.png"
    result = _run(f"--runs={windup},{held}", "--labels=windup,held", f"--out={png}")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])["runs"]
    assert summary["windup"]["mu_peak"] == 4 and summary["windup"]["mu_peak_step"] == 4
    assert summary["windup"]["steps_collapsed"] == 4
    assert summary["windup"]["first_below_target_step"] == 5
    assert abs(summary["windup"]["lowest_cosine_after"] + 0.3) < 1e-6
    assert summary["held"]["steps_collapsed"] == 0 and abs(summary["held"]["lowest_cosine_after"] - 0.38) < 1e-6
    assert png.stat().st_size > 10_000


def test_a_folder_without_events_is_one_clear_error(tmp_path):
    result = _run(f"--runs={tmp_path}", f"--out={tmp_path / 'trace.png'}")
    assert result.returncode == 2
    assert "no train/events" in error_line(result)
