"""The stronger ways to make K perturbations at one total budget (issue #50): snapshots, forks, cold starts.

The budget arithmetic is checked on a recording `train`; the perturbations on SGA against the tiny target."""

import dataclasses
import os

import numpy as np
import pytest

from nag_tf import methods
from nag_tf.comparison import set_ways
from nag_tf.errors import NAGError

TARGET = methods.TargetSpec("tiny_cnn", weights="none")


@dataclasses.dataclass
class _Perturbation:
    value: np.ndarray

    def numpy(self):
        return self.value


@dataclasses.dataclass
class _Source:
    perturbation: _Perturbation
    perturbations: _Perturbation = None  # a joint run's members


def _recording_train(calls):
    """A train(...) that records its calls and returns runs costing what they were given (2 passes a second)."""

    def train(method, budget_s, seed, workdir, marks=(), name=None, start=None, overrides=None):
        calls.append(dict(budget_s=budget_s, seed=seed, workdir=workdir, marks=list(marks), start=start))
        calls[-1].update(overrides or {})
        delta = np.full([2, 2, 3], float(len(calls)), np.float32)
        snapshots = {mark: _Source(_Perturbation(delta + mark)) for mark in marks}
        members = _Perturbation(np.stack([delta + i for i in range((overrides or {}).get("members", 1))]))
        run = methods.MethodRun(
            method, name, _Source(_Perturbation(delta), members), 1, budget_s, int(2 * budget_s), snapshots, workdir
        )
        return run

    return train


def test_each_way_spends_the_same_total_budget_and_counts_every_run(tmp_path):
    made = {}
    for way in set_ways.SET_WAYS:
        calls = []
        method = "dm_uap" if way == "joint" else "sga"
        made[way] = set_ways.make_sets(_recording_train(calls), method, way, [5, 2], 100.0, 0, str(tmp_path))
        for k, one in made[way].items():
            assert len(one.perturbations) == k
            assert one.seconds == pytest.approx(100.0) and one.image_passes == 200
        if way == "cold":  # K runs of B/K each, for every K
            assert sorted(c["budget_s"] for c in calls) == pytest.approx([20.0] * 5 + [50.0] * 2)
        if way == "snapshots":  # one run of B buys every K; its snapshots lie in the second half
            assert len(calls) == 1 and calls[0]["budget_s"] == 100.0
            assert calls[0]["marks"] == pytest.approx([60.0, 70.0, 75.0, 80.0, 90.0])
        if way == "forks":  # a trunk of B/2, then K forks of B/(2K) from the trunk's perturbation
            trunk, *forks = calls
            assert trunk["budget_s"] == 50.0 and trunk["start"] is None
            assert sorted(c["budget_s"] for c in forks) == pytest.approx([10.0] * 5 + [25.0] * 2)
            assert {c["start"] for c in forks} == {f"{trunk['workdir']}/perturbation.npy"}
            assert len({c["seed"] for c in calls}) == len(calls)  # every fork its own data order
        if way == "joint":  # one run of B for each K, learning K members
            assert sorted((c["budget_s"], c["members"]) for c in calls) == [(100.0, 2), (100.0, 5)]
    assert set_ways.snapshot_marks(5, 100.0) == pytest.approx([60.0, 70.0, 80.0, 90.0])
    assert set_ways.snapshot_marks(1, 100.0) == []


def test_a_bad_set_method_is_refused_with_the_choices():
    assert set_ways.parse_set_ways(["forks", "cold"]) == ("cold", "forks")
    with pytest.raises(NAGError, match="pick among cold, snapshots, forks, joint"):
        set_ways.parse_set_ways(["cold", "joint_bogus"])
    with pytest.raises(NAGError, match="none given"):
        set_ways.parse_set_ways([])
    with pytest.raises(NAGError, match="joint: sgd_uap has no joint form; it is built for dm_uap, sga"):
        set_ways.make_sets(_recording_train([]), "sgd_uap", "joint", [2], 10.0, 0, "unused")
    assert set_ways.supports("dm_uap", "joint") and set_ways.supports("sga", "joint")
    assert not set_ways.supports("sgd_uap", "joint")


def test_a_joint_dm_uap_run_saves_k_members_read_back_as_one_set(image_folder, tmp_path):
    settings = methods.settings_for(
        "dm_uap", batch_size=8, weight_steps=1, image_steps=1, image_radius=500.0, members=3, learning_rate=5.0
    )
    run = methods.train(settings, TARGET, image_folder, methods.Budget(steps=3), 0, str(tmp_path / "j"), verbose=0)
    members = run.source.perturbations.numpy()
    assert members.shape == (3, 32, 32, 3) and run.source.distinct_samples == 3
    assert np.abs(members).max() <= 10.0 + 1e-5
    assert all(not np.array_equal(a, b) for i, a in enumerate(members) for b in members[i + 1 :])
    single = dataclasses.replace(settings, members=1)
    passes = methods.train(single, TARGET, image_folder, methods.Budget(steps=3), 0, str(tmp_path / "s"), verbose=0)
    assert run.image_passes - passes.image_passes == 3 * 2 * 8  # two more perturbed copies of the batch a step
    with pytest.raises(NAGError, match="holds a set of 3 perturbations; fork from one"):
        methods.train(single, TARGET, image_folder, 1.0, 0, str(tmp_path / "f"), start=run.perturbation_file)


def test_a_joint_sga_run_learns_k_different_members_and_counts_their_passes(image_folder, tmp_path):
    settings = methods.settings_for("sga", batch_size=8, minibatch=4, inner_iterations=1, members=3)
    run = methods.train(settings, TARGET, image_folder, methods.Budget(steps=2), 0, str(tmp_path / "j"), verbose=0)
    members = run.source.perturbations.numpy()
    assert members.shape == (3, 32, 32, 3) and np.abs(members).max() <= 10.0 + 1e-5
    assert all(not np.array_equal(a, b) for i, a in enumerate(members) for b in members[i + 1 :])
    single = dataclasses.replace(settings, members=1)
    passes = methods.train(single, TARGET, image_folder, methods.Budget(steps=2), 0, str(tmp_path / "s"), verbose=0)
    assert passes.image_passes == 2 * 8 and run.image_passes == 3 * passes.image_passes  # 3 members a photo


def _sga_train(image_folder, steps_per_second=None):
    """Trains tiny SGA runs; with steps_per_second, a budget of B "seconds" is B steps (deterministic)."""
    settings = methods.settings_for("sga", batch_size=8, minibatch=4, inner_iterations=1, xi=40.0)

    def train(method, budget_s, seed, workdir, marks=(), name=None, start=None):
        budget = methods.Budget(steps=max(1, round(budget_s))) if steps_per_second else budget_s
        return methods.train(
            settings, TARGET, image_folder, budget, seed, workdir, marks=marks, name=name, verbose=0, start=start
        )

    return train


def test_forks_start_from_the_trunk_and_diverge(image_folder, tmp_path):
    train = _sga_train(image_folder, steps_per_second=1)
    made = set_ways.make_sets(train, "sga", "forks", [3], 12.0, 0, str(tmp_path))[3]
    trunk = np.load(tmp_path / "sga_forks" / "trunk" / "perturbation.npy")
    forks = made.perturbations
    assert np.abs(trunk).max() > 0  # the trunk learnt something to start from
    # Two SGA steps (one inner pass each, 0.1 xi a signed step) from the trunk: within 2 x 4 of it.
    assert all(np.abs(fork - trunk).max() <= 2 * 0.1 * 40.0 + 1e-4 for fork in forks)
    assert all(not np.array_equal(a, b) for i, a in enumerate(forks) for b in forks[i + 1 :])  # they diverge
    cold = train("sga", 2, 5, str(tmp_path / "cold")).source.perturbation.numpy()  # as long, from zero
    assert all(np.abs(fork - trunk).mean() < np.abs(cold - trunk).mean() for fork in forks)


def test_snapshots_are_k_different_perturbations_of_one_run(image_folder, tmp_path):
    made = set_ways.make_sets(_sga_train(image_folder), "sga", "snapshots", [3], 3.0, 0, str(tmp_path))[3]
    assert len(made.perturbations) == 3
    assert all(not np.array_equal(a, b) for i, a in enumerate(made.perturbations) for b in made.perturbations[i + 1 :])
    assert len(list((tmp_path / "sga_snapshots").iterdir())) == 1  # one run


def test_a_fork_start_is_refused_for_nag_and_for_a_missing_file(image_folder, tmp_path):
    from conftest import tiny_train_config

    with pytest.raises(NAGError, match="give the .npy of a single-perturbation run"):
        methods.train(methods.settings_for("sga"), TARGET, image_folder, 1.0, start=str(tmp_path / "none.npy"))
    nag = tiny_train_config(image_folder, "unused")
    (tmp_path / "v.npy").write_bytes(b"")
    with pytest.raises(NAGError, match="NAG starts from its own initialisation"):
        methods.train(nag, TARGET, image_folder, 1.0, start=str(tmp_path / "v.npy"))


def test_a_fork_continues_its_trunk_and_counts_only_its_own_cost(image_folder, tmp_path):
    """With the trunk's own seed, a fork is the trunk run on (SGD-UAP's step decay counts on from the
    trunk's steps, the data order skips what it saw); a bare .npy of the same values restarts the schedule."""
    import shutil

    settings = methods.settings_for("sgd_uap", batch_size=4, xi=40.0)

    def run(steps, folder, start=None):
        return methods.train(
            settings,
            TARGET,
            image_folder,
            methods.Budget(steps=steps),
            0,
            str(tmp_path / folder),
            verbose=0,
            start=start,
        )

    trunk, whole = run(3, "trunk"), run(5, "whole")
    fork = run(2, "fork", start=trunk.perturbation_file)
    assert (fork.steps, fork.image_passes) == (2, 2 * trunk.image_passes // 3)  # its own cost, not the trunk's
    np.testing.assert_allclose(fork.source.perturbation.numpy(), whole.source.perturbation.numpy(), atol=1e-4)
    (tmp_path / "bare").mkdir()
    for suffix in (".npy", ".json"):
        shutil.copy(trunk.perturbation_file.replace(".npy", suffix), tmp_path / "bare" / f"v{suffix}")
    restarted = run(2, "restarted", start=str(tmp_path / "bare" / "v.npy"))
    assert np.abs(restarted.source.perturbation.numpy() - whole.source.perturbation.numpy()).max() > 1.0


def test_two_comparisons_writing_one_split_at_once_both_succeed(image_folder, tmp_path, monkeypatch):
    """The set ways run on two cores in one workdir: a second writer of the split, starting while the first is
    between writing and renaming, must leave both with the same complete labels.csv files."""
    from nag_tf.inputs import splits

    real_replace, interrupted = os.replace, []

    def replace_after_another_writer(source, destination):
        if not interrupted:
            interrupted.append(destination)
            splits.write_split_folders(image_folder, 8, 3, str(tmp_path / "split"))
        real_replace(source, destination)

    monkeypatch.setattr(splits.os, "replace", replace_after_another_writer)
    first = splits.write_split_folders(image_folder, 8, 3, str(tmp_path / "split"))
    assert interrupted
    monkeypatch.setattr(splits.os, "replace", real_replace)
    again = splits.write_split_folders(image_folder, 8, 3, str(tmp_path / "again"))
    for written, fresh in zip(first, again):
        with open(os.path.join(written, "labels.csv")) as one, open(os.path.join(fresh, "labels.csv")) as other:
            assert one.read() == other.read()
        assert os.listdir(written) == ["labels.csv"]
