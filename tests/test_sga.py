"""SGA: one aggregated step on hand values, the budget, and training on a tiny target."""

import numpy as np
import pytest
import tensorflow as tf
from helpers.cli import CHILD_PYTHONPATH

import keras_apps
from nag_tf.baselines import sga_lib
from nag_tf.inputs import batches, data


def test_one_aggregated_step_by_hand():
    # d loss/dv = mean(images) - v pulls v towards c = mean(images) = [3, -0.5]; alpha = 1, xi = 2,
    # K = 2 inner passes over a batch of 1 with minibatches of 1 -> 2 inner steps from v = 0:
    #   j=0: g0 = c - 0 = [3, -0.5];      v_in = clip(0 + sign(g0)) = [1, -1]
    #   j=1: g1 = c - [1, -1] = [2, 0.5]; v_in = clip([1, -1] + [1, 1]) = [2, 0]
    # aggregate g0 + g1 = [5, 0]; outer step from v (not v_in): clip(0 + sign([5, 0])) = [1, 0].
    # (The last inner gradient alone would give sign([2, 0.5]) = [1, 1].)
    images = tf.constant([[3.0, -0.5]])

    def loss_gradient(v, batch_images, labels):
        return tf.reduce_mean(batch_images, axis=0) - v

    updated, aggregate = sga_lib.sga_outer_step(
        loss_gradient,
        tf.zeros([2]),
        images,
        tf.constant([0]),
        xi=2.0,
        step_size=1.0,
        inner_iterations=2,
        minibatch=1,
        seed=tf.constant([0, 0]),
    )
    np.testing.assert_allclose(aggregate.numpy(), [5.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(updated.numpy(), [1.0, 0.0], atol=1e-6)


def test_inner_steps_and_the_outer_step_stay_in_the_ball():
    # A gradient that always pushes up: inner steps saturate at xi, the outer step moves alpha from v and is clipped.
    def loss_gradient(v, batch_images, labels):
        return tf.ones_like(v)

    images = tf.zeros([20, 3])
    updated, aggregate = sga_lib.sga_outer_step(
        loss_gradient,
        tf.fill([3], 9.5),
        images,
        tf.zeros([20], tf.int32),
        xi=10.0,
        step_size=1.0,
        inner_iterations=4,
        minibatch=10,
        seed=tf.constant([1, 2]),
    )
    np.testing.assert_allclose(aggregate.numpy(), [8.0, 8.0, 8.0])  # 4 * 20 / 10 = 8 inner steps
    np.testing.assert_allclose(updated.numpy(), [10.0, 10.0, 10.0])


def test_joint_members_step_and_project_each_on_their_own():
    # Two members, the gradient +1 for member 0 and -1 for member 1: each moves by its own sign, and each is
    # clipped onto its own ball (member 0 saturates at xi = 10 from 9.5, member 1 moves down from 0).
    def loss_gradient(v, batch_images, labels):
        return tf.stack([tf.ones_like(v[0]), -tf.ones_like(v[1])])

    start = tf.stack([tf.fill([3], 9.5), tf.zeros([3])])
    updated, aggregate = sga_lib.sga_outer_step(
        loss_gradient,
        start,
        tf.zeros([4, 3]),
        tf.zeros([4], tf.int32),
        xi=10.0,
        step_size=1.0,
        inner_iterations=1,
        minibatch=2,
        seed=tf.constant([0, 0]),
        members=2,
    )
    np.testing.assert_allclose(aggregate.numpy(), [[2.0] * 3, [-2.0] * 3])  # 2 inner steps
    np.testing.assert_allclose(updated.numpy(), [[10.0] * 3, [-1.0] * 3])


def test_the_joint_gradient_goes_to_each_photos_best_member(image_folder):
    """With a near-hard minimum (tau small) the joint gradient of member m is the sum, over the photos m fools
    best (highest clamped CE), of that photo's own gradient, over the batch size; with one member it is the
    authors' gradient."""
    from nag_tf.baselines import sgd_uap_lib

    target = keras_apps.load_target("tiny_cnn", "none")
    records = data.read_image_folder(image_folder)
    cached = batches.cache_with_clean_labels(data.decode_records(records, 32), target, 16, records)
    images, labels = next(iter(batches.training_batches(cached, 6, seed=0)))
    images, labels = tf.cast(images, tf.float32), tf.convert_to_tensor(labels, tf.int32)
    members = tf.random.stateless_uniform([2, 32, 32, 3], seed=[3, 0], minval=-60.0, maxval=60.0)
    clamped = sgd_uap_lib.member_clamped_cross_entropy(target, members, images, labels, 9.0).numpy()
    best = clamped.argmax(axis=0)
    assert len(set(best)) == 2  # both members are some photo's best (else the test says little)
    gradient = sga_lib.joint_gradient(target, members, images, labels, beta=9.0, softness=1e-4).numpy()
    for m in range(2):
        by_hand = (
            sum(
                sgd_uap_lib.clamped_cross_entropy_gradient(
                    target, members[m], images[n : n + 1], labels[n : n + 1], 9.0
                )
                for n in range(6)
                if best[n] == m
            )
            / 6.0
        )
        np.testing.assert_allclose(gradient[m], by_hand, atol=1e-4 * np.abs(by_hand).max() + 1e-7)
    one = sga_lib.joint_gradient(target, members[:1], images, labels, beta=9.0, softness=1.0).numpy()[0]
    authors = sgd_uap_lib.clamped_cross_entropy_gradient(target, members[0], images, labels, 9.0).numpy()
    np.testing.assert_allclose(one, authors, rtol=1e-4, atol=1e-6)


def test_sga_training_keeps_the_budget_and_counts_steps(image_folder):
    target = keras_apps.load_target("tiny_cnn", "none")
    records = data.read_image_folder(image_folder)
    cached = batches.cache_with_clean_labels(data.decode_records(records, 32), target, 16, records)
    marks = []
    perturbation, steps, seconds, _ = sga_lib.train_sga(
        target,
        cached,
        xi=10.0,
        batch_size=20,
        minibatch=5,
        inner_iterations=2,
        steps=3,
        marks=[0.0],
        on_mark=lambda mark, v: marks.append((mark, float(np.max(np.abs(v))))),
    )
    assert steps == 3 and seconds > 0 and perturbation.shape == (32, 32, 3)
    assert np.max(np.abs(perturbation)) <= 10.0 + 1e-6
    assert np.max(np.abs(perturbation)) == pytest.approx(3.0)  # 3 outer sign steps of 0.1 xi from 0
    assert len(marks) == 1 and marks[0][1] == pytest.approx(1.0)  # the mark at 0 s fires after the first step


def test_the_sga_binary_trains_saves_and_shows_progress(image_folder, tmp_path):
    import json
    import os
    import subprocess
    import sys

    root = os.path.join(os.path.dirname(__file__), "..")
    out = tmp_path / "sga.npy"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nag_tf.baselines.sga",
            "--target=tiny_cnn",
            "--weights=none",
            f"--data_dir={image_folder}",
            "--batch_size=20",
            "--minibatch=5",
            "--steps=2",
            f"--out={out}",
        ],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=CHILD_PYTHONPATH),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2/2" in result.stdout  # the progress bar reached its end
    assert np.load(out).shape == (32, 32, 3)
    assert json.loads((tmp_path / "sga.json").read_text())["method"] == "sga"
    bad = subprocess.run(
        [sys.executable, "-m", "nag_tf.baselines.sga", "--target=tiny_cnn", "--weights=none", "--minibatch=300"],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=CHILD_PYTHONPATH),
    )
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: --minibatch=300 is larger")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--xi=300"], "--xi=300.0 is outside"),
        (["--norm=l2", "--xi=-1"], "--xi=-1.0 must be positive"),
        (["--norm=l3"], "--norm='l3' is not one of"),
        (["--steps=0"], "--steps=0 must be positive"),
        (["--time_budget_s=-1"], "--time_budget_s=-1.0 >= 0"),
        (["--out=runs/uap.txt"], "must end with .npy"),
        (["--minibatch=300"], "--minibatch=300 is larger than batch_size=250"),
        (["--members=0"], "members=0 must be at least 1"),
        (["--member_softness=0"], "member_softness=0.0 must be positive"),
    ],
)
def test_the_baseline_flags_become_one_checked_job(argv, message):
    """The method's flags come from its settings record (names, defaults), read back into one."""
    from absl import flags

    from nag_tf.errors import NAGError
    from nag_tf.methods import baseline_flags, sga

    values = flags.FlagValues()
    baseline_flags.define_flags("sga", values)
    values(["prog", "--target=tiny_cnn"])
    job = baseline_flags.job_from_flags(values, "sga")
    assert job.out == "runs/sga/uap.npy" and job.workdir == "runs/sga/uap_run" and job.target.name == "tiny_cnn"
    assert job.settings == sga.Settings() and job.budget.steps == 200 and job.verbose
    values(["prog", *argv])
    with pytest.raises(NAGError, match=message.replace("(", r"\(")):
        baseline_flags.job_from_flags(values, "sga")
