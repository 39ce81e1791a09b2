"""TensorBoard, checked for real: the `tensorboard` binary serves a short run's logdir over HTTP.

A tiny training run (3 epochs of 4 steps, pictures every 2 steps) and an
evaluation written into the same logdir; then `tensorboard --logdir` on
127.0.0.1 and a free port, read through its HTTP data API (the one its
dashboards use): every scalar series with its number of points, the picture
series with theirs, the config and report text.
"""

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from conftest import tiny_train_config
from helpers.server import free_port

EPOCHS, STEPS_PER_EPOCH, PICTURES_EVERY = 3, 4, 2
TRAIN_SCALARS = ["train/loss", "train/fooling_loss", "train/diversity_loss", "train/fooling_rate"]
EVAL_SCALARS = ["eval/fooling_rate", "eval/loss", "eval/pair_cosine"]
DIVERSITY_SCALARS = ["diversity/pairwise_cosine", "diversity/fooling_rate_std_over_z"]


def _tensorboard_command():
    beside_python = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    return [beside_python] if os.path.exists(beside_python) else [sys.executable, "-m", "tensorboard.main"]


def _get(port, path, **query):
    url = f"http://127.0.0.1:{port}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def board(image_folder, tmp_path_factory):
    from nag_tf.evaluation import evaluate_lib, report, sources
    from nag_tf.training import train_lib

    config = tiny_train_config(
        image_folder,
        tmp_path_factory.mktemp("board") / "run",
        epochs=EPOCHS,
        steps_per_epoch=STEPS_PER_EPOCH,
        image_every_steps=PICTURES_EVERY,
    )
    result = train_lib.train(config)
    source = sources.load_source(config.logdir)
    evaluation = evaluate_lib.evaluate(
        [source], ["tiny_cnn"], image_folder, weights="none", white_box_samples=4, batch_size=8, interpolation_steps=3
    )
    paths = report.write_report(evaluation, os.path.join(config.logdir, "report"), [source])
    report.write_tensorboard(evaluation, paths, config.logdir)

    port = free_port()
    with open(tmp_path_factory.mktemp("tb") / "tensorboard.log", "w+") as log:
        process = subprocess.Popen(
            [*_tensorboard_command(), f"--logdir={config.logdir}", "--host=127.0.0.1", f"--port={port}",
             "--samples_per_plugin=images=100", "--reload_interval=1"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.time() + 120
            while True:  # until it answers and has read every run
                try:
                    if {"train", "eval", "evaluation"} <= set(_get(port, "/data/plugin/scalars/tags")):
                        break
                except OSError:
                    pass
                if process.poll() is not None or time.time() > deadline:
                    log.seek(0)
                    raise RuntimeError("tensorboard did not serve the run: " + log.read()[-3000:])
                time.sleep(0.5)
            yield port, result
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_training_and_evaluation_scalars_are_served_with_one_point_per_step_or_epoch(board):
    port, result = board
    steps = EPOCHS * STEPS_PER_EPOCH
    assert result.steps == steps
    for tag in TRAIN_SCALARS:
        points = _get(port, "/data/plugin/scalars/scalars", run="train", tag=tag)
        assert [step for _, step, _ in points] == list(range(1, steps + 1)), tag
    for tag in DIVERSITY_SCALARS:
        points = _get(port, "/data/plugin/scalars/scalars", run="train", tag=tag)
        assert [step for _, step, _ in points] == list(range(PICTURES_EVERY, steps + 1, PICTURES_EVERY)), tag
        assert all(-1.0 <= value <= 1.0 for _, _, value in points) if tag.endswith("cosine") else True
    for tag in EVAL_SCALARS:
        points = _get(port, "/data/plugin/scalars/scalars", run="eval", tag=tag)
        assert [step for _, step, _ in points] == [STEPS_PER_EPOCH * (e + 1) for e in range(EPOCHS)], tag
        if tag == "eval/fooling_rate":
            assert all(0.0 <= value <= 1.0 for _, _, value in points)
    evaluation = _get(port, "/data/plugin/scalars/tags")["evaluation"]
    assert "fooling_rate/run/tiny_cnn" in evaluation


def test_picture_series_are_served_every_n_steps_and_at_the_end(board):
    port, _ = board
    steps = EPOCHS * STEPS_PER_EPOCH
    tags = _get(port, "/data/plugin/images/tags")
    expected_steps = sorted(set(range(PICTURES_EVERY, steps + 1, PICTURES_EVERY)) | {steps})
    for tag in ("perturbations", "adversarial_images"):
        assert tag in tags["train"], tags
        entries = _get(port, "/data/plugin/images/images", run="train", tag=tag, sample=0)
        assert sorted({e["step"] for e in entries}) == expected_steps, tag
        picture = f"http://127.0.0.1:{port}/data/plugin/images/individualImage?{entries[-1]['query']}"
        with urllib.request.urlopen(picture, timeout=30) as response:
            assert response.read(8) == b"\x89PNG\r\n\x1a\n"  # a real PNG
    assert {"run_grid", "run_crops", "run_interpolation"} <= set(tags["evaluation"]), tags["evaluation"]


def test_config_and_report_text_are_served(board):
    port, _ = board
    tags = _get(port, "/data/plugin/text/tags")
    assert "config" in tags["train"] and "report" in tags["evaluation"], tags
    config = _get(port, "/data/plugin/text/text", run="train", tag="config")
    assert len(config) == 1 and "tiny_cnn" in config[0]["text"] and "learning_rate" in config[0]["text"]
    text = _get(port, "/data/plugin/text/text", run="evaluation", tag="report")
    assert "Fooling rate" in text[0]["text"]
