"""The contract every attack method keeps through `nag_tf.methods.train` (issue #51), checked on each:
the budget is respected, another seed gives another perturbation, a finished run is reused as it is, a
stop leaves a run that resumes, image passes are counted. On the tiny target: seconds a method."""

import itertools

import numpy as np
import pytest
from conftest import tiny_train_config

from nag_tf import methods
from nag_tf.errors import NAGError, TrainingStopped

TARGET = methods.TargetSpec("tiny_cnn", weights="none")
STEPS = methods.Budget(steps=3)


def _settings(name, image_folder):
    if name == "nag":
        return tiny_train_config(image_folder, "unused", selection_images=8, holdout=8)
    small = {
        "sgd_uap": dict(batch_size=8),
        "sga": dict(batch_size=8, minibatch=4, inner_iterations=1),
        "dm_uap": dict(batch_size=8, weight_steps=1, image_steps=1),
    }[name]
    return methods.settings_for(name, **small)


def _passes_per_step(name, settings):
    """What a step of each method sends through the target, worked out from its algorithm."""
    from nag_tf.baselines import dm_uap_lib

    return {
        "sgd_uap": lambda: 8,
        "sga": lambda: 8 * settings.inner_iterations,
        "dm_uap": lambda: dm_uap_lib.image_passes_per_step(8, settings.rho, settings.image_radius, 1, 1),
        "nag": lambda: None,  # the model's own count (two batches with the diversity loss): checked > batch
    }[name]()


def test_the_contract_covers_every_registered_method():
    assert set(METHOD_NAMES) == set(methods.METHODS)


METHOD_NAMES = ("nag", "sgd_uap", "sga", "dm_uap")


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_a_step_budget_is_kept_and_image_passes_are_counted(name, image_folder, tmp_path):
    settings = _settings(name, image_folder)
    run = methods.train(settings, TARGET, image_folder, STEPS, seed=0, workdir=str(tmp_path / "run"), verbose=0)
    assert (run.method, run.steps) == (name, 3)
    expected = _passes_per_step(name, settings)
    if expected is None:
        assert run.image_passes >= 3 * settings.batch_size
    else:
        assert run.image_passes == 3 * expected
    assert run.source.sample(1, 0).shape[-1] == 3


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_a_time_budget_is_spent_and_then_training_ends(name, image_folder, tmp_path):
    run = methods.train(_settings(name, image_folder), TARGET, image_folder, 1.0, workdir=str(tmp_path), verbose=0)
    assert run.seconds >= 1.0 and 1 <= run.steps < 10**5


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_another_seed_gives_another_perturbation(name, image_folder, tmp_path):
    settings = _settings(name, image_folder)
    first, second = (
        methods.train(settings, TARGET, image_folder, STEPS, seed=seed, workdir=str(tmp_path / str(seed)), verbose=0)
        for seed in (0, 1)
    )
    assert not np.allclose(first.source.sample(1, 0).numpy(), second.source.sample(1, 0).numpy())


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_a_finished_run_is_read_back_as_it_is(name, image_folder, tmp_path, monkeypatch):
    settings = _settings(name, image_folder)
    workdir = str(tmp_path / "run")
    done = methods.train(settings, TARGET, image_folder, STEPS, workdir=workdir, verbose=0)
    monkeypatch.setattr(methods.module_of(name), "train", lambda *a, **k: pytest.fail("trained again"))
    again = methods.train(settings, TARGET, image_folder, STEPS, workdir=workdir, verbose=0)
    assert (again.steps, again.seconds, again.image_passes) == (done.steps, done.seconds, done.image_passes)
    np.testing.assert_array_equal(again.source.sample(2, 0).numpy(), done.source.sample(2, 0).numpy())
    with pytest.raises(NAGError, match="holds another run"):
        methods.train(settings, TARGET, image_folder, STEPS, seed=5, workdir=workdir, verbose=0)


def test_a_run_recorded_before_a_setting_was_added_is_reused_while_the_setting_keeps_its_default(
    image_folder, tmp_path, monkeypatch
):
    """DM-UAP's members (added 2026-12-07) at 1 is the method as it was: a finished run whose record predates
    the field is the same run; members=2 is another."""
    import dataclasses
    import json
    import os

    settings = _settings("dm_uap", image_folder)
    workdir = str(tmp_path / "run")
    done = methods.train(settings, TARGET, image_folder, STEPS, workdir=workdir, verbose=0)
    record_path = os.path.join(workdir, "run.json")
    with open(record_path) as handle:
        record = json.load(handle)
    for name in ("members", "member_softness"):  # as a run from before the fields wrote it
        del record["identity"]["settings"][name]
    with open(record_path, "w") as handle:
        json.dump(record, handle)
    monkeypatch.setattr(methods.module_of("dm_uap"), "train", lambda *a, **k: pytest.fail("trained again"))
    again = methods.train(settings, TARGET, image_folder, STEPS, workdir=workdir, verbose=0)
    assert again.steps == done.steps
    with pytest.raises(NAGError, match="holds another run"):
        methods.train(dataclasses.replace(settings, members=2), TARGET, image_folder, STEPS, workdir=workdir, verbose=0)


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_a_stopped_run_resumes_to_its_budget(name, image_folder, tmp_path):
    settings = _settings(name, image_folder)
    workdir = str(tmp_path / "run")
    calls = itertools.count()
    with pytest.raises(TrainingStopped):
        methods.train(settings, TARGET, image_folder, STEPS, workdir=workdir, stop=lambda: next(calls) >= 1, verbose=0)
    run = methods.train(settings, TARGET, image_folder, STEPS, workdir=workdir, verbose=0)
    assert run.steps == 3


def test_a_bad_call_names_its_problem(image_folder):
    with pytest.raises(NAGError, match="no method's settings"):
        methods.train(object(), TARGET, image_folder, 1.0)
    with pytest.raises(NAGError, match="budget needs"):
        methods.train(methods.settings_for("sga"), TARGET, image_folder, 0)
    with pytest.raises(NAGError, match="minibatch=20 is larger"):
        methods.settings_for("sga", batch_size=8, minibatch=20)
    with pytest.raises(NAGError, match="unknown method"):
        methods.settings_for("fgsm")
