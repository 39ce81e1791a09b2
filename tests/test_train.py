"""Training end to end on a tiny target: outputs, resume, flagfiles."""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from nag_tf.training import train_lib

CONFIGS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "nag_tf", "configs", "*.flags")))


def _weights(path, target_size=32):
    from nag_tf.core.generator import build_generator

    generator = build_generator(target_size, latent_dim=4, xi=10.0, variant="light")
    generator.load_weights(path)
    return generator.get_weights()


def test_train_writes_config_checkpoints_tensorboard_and_best_generator(tiny_config):
    config = tiny_config(epochs=2)
    result = train_lib.train(config)
    logdir = config.logdir
    assert result.steps == 2 * (32 // 8)  # 48 images: 8 held out, 8 for selection, 32 to train on
    with open(os.path.join(logdir, "config.json")) as handle:
        assert json.load(handle)["target"] == ["tiny_cnn"]
    assert tf.train.latest_checkpoint(os.path.join(logdir, "checkpoints")).endswith("ckpt-8")
    reader = tf.train.load_checkpoint(os.path.join(logdir, "checkpoints"))
    (rate,) = [name for name in reader.get_variable_to_shape_map() if name.startswith("optimizer/_learning_rate")]
    assert reader.get_tensor(rate) == pytest.approx(1e-3, rel=1e-6)  # the constant schedule: the base rate
    assert os.path.exists(os.path.join(logdir, "best.weights.h5"))
    assert 0.0 <= result.heldout_fooling_rate <= 1.0
    assert -1.0 <= result.pairwise_cosine <= 1.0
    tags = set()
    for event_file in glob.glob(os.path.join(logdir, "*", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            tags.update(value.tag for value in event.summary.value)
    for tag in (
        "train/fooling_loss",
        "train/diversity_loss",
        "train/fooling_rate",
        "eval/fooling_rate",
        "perturbations",
        "adversarial_images",
        "diversity/pairwise_cosine",
        "config",
    ):
        assert tag in tags, (tag, sorted(tags))


def test_a_signal_while_starting_stops_at_once_with_one_line(tiny_config, monkeypatch):
    """Before the first step (loading the data, here) there is no step to finish: the stop is immediate,
    a TrainingStopped for the binary's one line and exit code, not a KeyboardInterrupt traceback."""
    import signal

    from nag_tf.errors import TrainingStopped

    load_inputs = train_lib._load_inputs

    def signalled_while_loading(*args):
        os.kill(os.getpid(), signal.SIGINT)
        return load_inputs(*args)

    monkeypatch.setattr(train_lib, "_load_inputs", signalled_while_loading)
    with pytest.raises(
        TrainingStopped, match="^SIGINT outside a training step: run the same command to resume"
    ) as stop:
        train_lib.train(tiny_config(epochs=1))
    assert stop.value.exit_code == 128 + signal.SIGINT


def test_a_finished_run_does_nothing_more(tiny_config):
    config = tiny_config(epochs=1)
    train_lib.train(config)
    again = train_lib.train(config)
    assert again.steps == 4 and again.history == {}


def _each_step_lasts_half_a_second(monkeypatch):
    """Every training step lasts exactly 0.5 s by the budget's clock, so a time budget ends on a known step."""
    import itertools

    from nag_tf.training import callbacks as nag_callbacks

    ticks = itertools.count(0.0, 0.5)  # batch begin, batch end (+0.5 s), next begin (+0.5 s), ...
    monkeypatch.setattr(nag_callbacks.StopAfterSeconds, "clock", staticmethod(lambda: next(ticks)))


def _digest(path):
    import hashlib

    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_a_signal_mid_epoch_checkpoints_and_the_rerun_spends_only_the_rest_of_the_budget(
    tiny_config, tmp_path, monkeypatch
):
    """--time_budget_s is spent once per run: the seconds are checkpointed. A rerun of a run its budget
    ended trains nothing and leaves the chosen generator alone (it used to buy a whole new budget and
    overwrite best.weights.h5). SIGTERM after step 2, in the middle of the first epoch: the step ends, the
    epoch is cut short and checkpointed, training raises TrainingStopped, and rerunning the same config
    spends only the rest of the budget, on the cosine schedule's same clock, to the same generator as a run
    never stopped (data, z and shuffles are functions of (seed, step)). The in-process twin of
    tests/faults/test_kill_resume.py's subprocess runs (marked slow)."""
    import signal

    from nag_tf.errors import TrainingStopped
    from nag_tf.training import callbacks as nag_callbacks

    _each_step_lasts_half_a_second(monkeypatch)
    budgeted = dict(epochs=10, time_budget_s=3.0, learning_rate_schedule="cosine")  # 6 of 40 planned steps
    straight_dir = str(tmp_path / "straight")
    straight = train_lib.train(tiny_config(logdir=straight_dir, **budgeted))
    assert straight.steps == 6 and straight.optimisation_seconds == pytest.approx(3.0)
    best = os.path.join(straight_dir, "best.weights.h5")
    best_digest, best_mtime = _digest(best), os.path.getmtime(best)

    again = train_lib.train(tiny_config(logdir=straight_dir, **budgeted))
    assert (again.steps, again.history, again.optimisation_seconds) == (6, {}, pytest.approx(3.0))
    assert (_digest(best), os.path.getmtime(best)) == (best_digest, best_mtime)

    interrupted_dir = str(tmp_path / "interrupted")

    class SignalAfterStep2(nag_callbacks.StopOnSignal):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.step.numpy()) == 2:
                os.kill(os.getpid(), signal.SIGTERM)
            super().on_train_batch_end(batch, logs)

    with monkeypatch.context() as patch:
        patch.setattr(nag_callbacks, "StopOnSignal", SignalAfterStep2)
        with pytest.raises(TrainingStopped) as stopped:
            train_lib.train(tiny_config(logdir=interrupted_dir, **budgeted))
    assert str(stopped.value).startswith("SIGTERM at step 2: checkpoint written to ")
    assert stopped.value.exit_code == 128 + signal.SIGTERM
    assert tf.train.latest_checkpoint(os.path.join(interrupted_dir, "checkpoints")).endswith("ckpt-2")
    assert not os.path.exists(os.path.join(interrupted_dir, "final.weights.h5"))  # not finished
    resumed = train_lib.train(tiny_config(logdir=interrupted_dir, **budgeted))
    assert resumed.steps == 6 and resumed.optimisation_seconds == pytest.approx(3.0)
    for a, b in zip(
        _weights(os.path.join(straight_dir, "final.weights.h5")),
        _weights(os.path.join(interrupted_dir, "final.weights.h5")),
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_budgeted_run_finished_by_an_older_nag_tf_is_not_trained_again(tiny_config, monkeypatch, caplog):
    """Its checkpoints lack the seconds; its final weights say it ended (on its budget: the epochs are not
    done), so a rerun by this nag_tf trains nothing instead of buying a new budget."""
    _each_step_lasts_half_a_second(monkeypatch)
    budgeted = dict(epochs=10, time_budget_s=3.0)
    with monkeypatch.context() as patch:  # checkpoints as nag_tf wrote them before the seconds were saved
        checkpoint = tf.train.Checkpoint

        def without_the_seconds(**objects):
            objects.pop("optimisation_seconds", None)
            return checkpoint(**objects)

        patch.setattr(tf.train, "Checkpoint", without_the_seconds)
        old = train_lib.train(tiny_config(**budgeted))
    assert old.steps == 6
    again = train_lib.train(tiny_config(**budgeted))
    assert (again.steps, again.history, again.optimisation_seconds) == (6, {}, 3.0)
    assert any("its --time_budget_s counts as spent" in record.getMessage() for record in caplog.records)


def test_budget_marks_passed_before_a_resume_are_not_called_again():
    from nag_tf.training.callbacks import StopAfterSeconds

    budget = StopAfterSeconds(10.0, marks=(6, 2, 4), spent_variable=tf.Variable(4.0, dtype=tf.float64))
    assert budget.spent == 4.0 and budget.marks == [6] and not budget.exhausted


def test_a_checkpoint_written_before_the_seconds_were_saved_still_resumes(tmp_path, caplog):
    """Checkpoints from an older nag_tf lack optimisation_seconds: they restore (not "damaged"), the
    variable keeps its starting value (train_lib decides what it means), with a warning; a newer one
    restores the seconds."""
    from nag_tf.training import checkpoints

    old, new = str(tmp_path / "old"), str(tmp_path / "new")
    tf.train.Checkpoint(step=tf.Variable(5)).save(os.path.join(old, "ckpt"))
    tf.train.Checkpoint(step=tf.Variable(5), optimisation_seconds=tf.Variable(7.5, dtype=tf.float64)).save(
        os.path.join(new, "ckpt")
    )
    for folder, seconds_after in ((old, 0.0), (new, 7.5)):
        step, seconds = tf.Variable(0), tf.Variable(0.0, dtype=tf.float64)
        prefix = checkpoints.restore_newest_complete(
            tf.train.Checkpoint(step=step), folder, added_later={"optimisation_seconds": seconds}
        )
        assert prefix.endswith("ckpt-1") and int(step.numpy()) == 5 and float(seconds.numpy()) == seconds_after
    assert sum("has no optimisation_seconds" in record.getMessage() for record in caplog.records) == 1


@pytest.mark.parametrize("flagfile", CONFIGS, ids=[os.path.basename(c) for c in CONFIGS])
def test_every_flagfile_parses_and_builds_its_model(flagfile):
    from absl import flags

    import keras_apps
    from nag_tf import train as train_binary
    from nag_tf.flags_util import expand_flagfiles

    # As the binaries read them: flagfiles expanded (nested ones found by name among the packaged ones).
    arguments = [argument for argument, _ in expand_flagfiles([f"--flagfile={flagfile}", "--weights=none"])]
    if os.path.basename(flagfile).startswith("harden_"):
        from nag_tf import harden

        flag_values = flags.FlagValues()
        harden.define_harden_flags(flag_values)
        flag_values(["nag_tf.harden", *arguments])
        config, options = harden.options_from_flag_values(flag_values)
        config.validate()
        options.validate()
    else:
        flags.FLAGS.unparse_flags()
        flags.FLAGS(["nag_tf.train", *arguments])
        try:
            config = train_binary.config_from_flags().validate()
        finally:
            flags.FLAGS.unparse_flags()
    target = keras_apps.load_targets(config.target, config.weights, config.diversity_layer, config.target_weights)
    model = train_lib.build_model(config, target)
    z = model.sample_latents(1)
    assert model.generator(z).shape == (1, target.image_size, target.image_size, 3)
    assert model.latent_dim == config.latent_dim


# The constant schedule (the default) is also checked in the first test above; its own run is in the slow suite.
@pytest.mark.parametrize("schedule", [pytest.param("constant", marks=pytest.mark.slow), "cosine"])
def test_the_learning_rate_schedule_reaches_the_last_step(tiny_config, schedule):
    """cosine: the last of 8 steps runs at base * (1 + cos(7 pi / 8)) / 2; constant: at the base rate."""
    config = tiny_config(epochs=2, learning_rate=2e-3, learning_rate_schedule=schedule)
    assert train_lib.train(config).steps == 8
    reader = tf.train.load_checkpoint(os.path.join(config.logdir, "checkpoints"))
    (key,) = [name for name in reader.get_variable_to_shape_map() if name.startswith("optimizer/_learning_rate")]
    expected = 2e-3 * (1 + np.cos(7 * np.pi / 8)) / 2 if schedule == "cosine" else 2e-3
    assert reader.get_tensor(key) == pytest.approx(expected, rel=1e-5)
