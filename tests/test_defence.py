"""The defence (issue #52) on the tiny target: the detector and the rectifier learn to separate and undo
planted perturbations, the defended classifier exports as one model, the draws and measures by hand."""

import json

import numpy as np
import pytest
import tensorflow as tf
from conftest import write_image_folder

import keras_apps
from nag_tf.baselines import sgd_uap_lib
from nag_tf.defence import draws, measures, networks, training
from nag_tf.inputs import batches

XI = 16.0


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """The tiny target, 48 training and 32 held-out photos, and a universal perturbation that fools it."""
    target = keras_apps.load_target("tiny_cnn", "none")
    train = batches.load_folder(write_image_folder(tmp_path_factory.mktemp("train"), 48, seed=1), target, 16, "train")
    held_out = batches.load_folder(write_image_folder(tmp_path_factory.mktemp("held"), 32, seed=2), target, 16, "held")
    uap = sgd_uap_lib.train_sgd_uap(target, train, xi=XI, batch_size=16, steps=30, seed=0).perturbation
    return target, train, held_out, uap


def _agreement(classify, held_out, perturbations=None):
    # The target's clean labels as the truth: the tiny target's ground truth means nothing.
    return measures.accuracy(classify, held_out.images, held_out.clean_labels, perturbations)[0]


def test_the_draws_give_set_members_and_random_signs_of_the_budget():
    members = np.stack([np.full([4, 4, 3], value, np.float32) for value in (1.0, 2.0, 3.0)])
    drawn = draws.SetMembers(members, seed=0).draw(300).numpy()
    assert set(np.unique(drawn)) == {1.0, 2.0, 3.0} and drawn.shape == (300, 4, 4, 3)
    signs = draws.RandomSigns(4, XI, seed=0).draw(50).numpy()
    assert set(np.unique(signs)) == {-XI, XI} and abs(np.mean(signs > 0) - 0.5) < 0.05
    assert not np.array_equal(signs[0], signs[1])  # fresh for every photo


def test_a_mixture_gives_each_photo_one_components_perturbation_in_even_shares():
    def constant(value):
        return draws.SetMembers(np.full([1, 4, 4, 3], value, np.float32))

    drawn = draws.Mixture([constant(1.0), constant(2.0), draws.RandomSigns(4, XI, seed=1)], seed=0).draw(600).numpy()
    per_photo = [set(np.unique(photo)) for photo in drawn]
    assert all(values in ({1.0}, {2.0}, {-XI, XI}) for values in per_photo)  # whole photos, never a blend
    shares = [np.mean([values == wanted for values in per_photo]) for wanted in ({1.0}, {2.0}, {-XI, XI})]
    assert all(abs(share - 1 / 3) < 0.06 for share in shares), shares
    with pytest.raises(ValueError, match="at least two draws"):
        draws.Mixture([constant(1.0)])


def test_the_levers_on_nags_source_train_nag_runs_only():
    from nag_tf.defence.defence_options import DefenceOptions

    options = DefenceOptions(sources=("nag_signs", "nag_several", "signs"), unseen=("sga",), adaptive=())
    assert options.methods() == ["nag", "sga"]


def test_detection_measures_on_hand_scores():
    clean = np.arange(100, dtype=np.float64)  # the 95th percentile: 94.05
    result = measures.detection(clean, np.array([94.0, 95.0, 200.0, 300.0]))
    assert result["tpr"] == 0.75
    assert measures.detection(clean, clean + 1000.0)["auc"] == pytest.approx(1.0, abs=1e-3)
    assert measures.detection(clean, clean)["auc"] == pytest.approx(0.5, abs=0.02)


def test_photos_get_the_members_in_turn():
    images = tf.zeros([5, 2, 2, 3])
    members = np.stack([np.full([2, 2, 3], value, np.float32) for value in (10.0, 20.0)])
    np.testing.assert_array_equal(measures.assign_members(images, members)[:, 0, 0, 0].numpy(), [10, 20, 10, 20, 10])


def test_the_detector_learns_to_flag_a_planted_perturbation_on_photos_it_never_saw(setting):
    target, train, held_out, uap = setting
    detector = networks.build_detector(target.image_size, seed=0)
    clean = measures.detector_scores(detector, held_out.images)
    before = measures.detection(clean, measures.detector_scores(detector, held_out.images, uap[np.newaxis]))
    fitted = training.fit_steps(
        training.DetectorTraining(detector, draws.SetMembers(uap[np.newaxis], seed=0)),
        batches.training_batches(train, 16, seed=0),
        steps=60,
        learning_rate=3e-3,
    )
    clean = measures.detector_scores(detector, held_out.images)
    after = measures.detection(clean, measures.detector_scores(detector, held_out.images, uap[np.newaxis]))
    assert fitted["loss"] < 0.3, fitted
    assert after["auc"] > 0.95 and after["tpr"] > 0.8, (before, after)
    assert after["auc"] > before["auc"] + 0.2, (before, after)


def test_the_rectifier_undoes_a_planted_perturbation_and_keeps_clean_photos(setting):
    target, train, held_out, uap = setting
    rectifier = networks.build_rectifier(target.image_size, width=16, depth=3, seed=0)
    defended = networks.DefendedClassifier(rectifier, target)
    bare_under = _agreement(lambda x: target(x).logits, held_out, uap[np.newaxis])
    assert _agreement(defended, held_out) == 1.0  # the identity at initialisation
    training.fit_steps(
        training.RectifierTraining(rectifier, target, draws.SetMembers(uap[np.newaxis], seed=0), closeness=1.0),
        batches.training_batches(train, 16, seed=0),
        steps=80,
        learning_rate=2e-3,
    )
    rectified_under = _agreement(defended, held_out, uap[np.newaxis])
    assert bare_under < 0.6, bare_under  # the perturbation fools the bare target
    assert rectified_under > bare_under + 0.25, (bare_under, rectified_under)
    assert _agreement(defended, held_out) >= 0.85


def test_the_defended_classifier_exports_as_one_model_that_reproduces_it(setting, tmp_path):
    target, _, held_out, _ = setting
    rectifier = networks.build_rectifier(target.image_size, seed=1)
    last = rectifier.get_layer("correction")
    kernel, bias = last.get_weights()
    last.set_weights([np.random.default_rng(0).normal(0, 0.01, kernel.shape).astype(np.float32), bias])  # not identity
    defended = networks.DefendedClassifier(rectifier, target)
    images = tf.cast(held_out.images[:8], tf.float32)
    exported = keras_apps.load_target(
        keras_apps.canonical_target_name(networks.export_defended(defended, str(tmp_path / "defended")), "none")
    )
    expected = defended(images).numpy()
    assert np.abs(expected - target(images).logits.numpy()).max() > 1e-3  # the rectifier does something
    np.testing.assert_allclose(exported(images).logits.numpy(), expected, atol=1e-4)  # float32, one machine


@pytest.mark.slow  # about 2 min: nine short runs, five defences, five exports
def test_the_comparison_gives_every_source_equal_steps_and_scores_unseen_and_adaptive_attacks(
    setting, image_folder, tmp_path
):
    """The whole comparison on the tiny target with second-long budgets: the plumbing, not the figures."""
    import dataclasses

    from conftest import tiny_train_config

    from nag_tf import methods
    from nag_tf.comparison.plan import ComparisonPlan
    from nag_tf.defence import compare
    from nag_tf.defence.defence_options import DefenceOptions

    held = write_image_folder(tmp_path / "held", 24, seed=5)
    settings = {
        "nag": tiny_train_config(image_folder, str(tmp_path / "unused")),
        "sga": methods.settings_for("sga", batch_size=8, minibatch=4, inner_iterations=1, xi=10.0),
        "sgd_uap": methods.settings_for("sgd_uap", batch_size=8, xi=10.0),
    }
    plan = ComparisonPlan("tiny_cnn", image_folder, held, "test", settings, samples=3, workdir=str(tmp_path / "w"))
    options = DefenceOptions(
        sources=("nag", "nag_signs", "nag_several", "sga", "signs"),
        source_budget_s=2.0,
        set_size=2,
        nag_generators=2,
        unseen=("sgd_uap", "sga"),
        adaptive=("sga", "nag"),
        attack_budget_s=1.0,
        defence_steps=3,
        defence_batch=8,
    ).validate()
    result = compare.defend(dataclasses.replace(plan, settings={**settings}), options)
    assert set(result["sources"]) == {"nag", "nag_signs", "nag_several", "sga", "signs"}
    assert result["sources"]["signs"]["seconds"] == 0.0
    assert result["sources"]["nag_signs"]["seconds"] == result["sources"]["nag"]["seconds"]  # one run serves both
    for name in ("sga", "nag", "nag_several"):  # at least the budget (each run overruns by its last step)
        assert result["sources"][name]["seconds"] >= 2.0 * 0.9, name
    several = [json.loads(path.read_text()) for path in (tmp_path / "w" / "sources" / "nag_several").glob("*/run.json")]
    assert [record["identity"]["budget"]["seconds"] for record in several] == [1.0, 1.0]  # the budget split in two
    assert several[0]["identity"]["seed"] != several[1]["identity"]["seed"]
    for row in result["sources"].values():
        assert set(row["accuracy"]) == {"clean", "sgd_uap", "sga"}
        assert set(row["detection"]) == {"sgd_uap", "sga"} and all(
            0 <= d["auc"] <= 1 for d in row["detection"].values()
        )
        assert set(row["adaptive"]) == {"sga", "nag"}
    # What the adaptive attacks trained on, and the attacks, in the folder of the rectifier they attacked.
    (rectifier_folder,) = (tmp_path / "w" / "defences" / "nag").glob("rectifier-*")
    assert (rectifier_folder / "defended" / "saved_model.pb").exists()
    assert {path.name for path in (rectifier_folder / "adaptive").iterdir()} == {"sga", "nag"}
    assert set(result["nag_minus_best_other"]) == {"nag", "nag_signs", "nag_several"}
    for differences in result["nag_minus_best_other"].values():
        assert set(differences) >= {"clean", "sgd_uap", "sga"}
        assert {d["best_other"] for d in differences.values()} <= {"sga", "signs"}  # never another NAG source
    assert len(result["per_photo"]["bare"]["clean"]) == 24
    assert json.loads(compare.summary_line(result))["held_out_photos"] == 24
    assert "detector: TPR at 5% false positives" in compare.format_table(result)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(sources=("nag", "pgd")), "sources=nag,pgd: pick among nag, sga, dm_uap, signs"),
        (dict(sources=()), "sources=: pick among"),
        (dict(unseen=("fgsm",)), "unseen=fgsm: pick among"),
        (dict(adaptive=("dm_uap",)), "adaptive=dm_uap: pick among nag, sga"),
        (dict(source_budget_s=0.0), "source_budget_s=0.0 must be positive"),
        (dict(attack_budget_s=-1.0), "attack_budget_s=-1.0 must be positive"),
        (dict(set_size=1), "set_size=1 must be at least 2"),
        (dict(nag_generators=1), "nag_generators=1 must be at least 2"),
        (dict(defence_steps=0), "defence_steps=0 must be at least 1"),
        (dict(defence_batch=1), "defence_batch=1 must be at least 2"),
        (dict(learning_rate=0.0), "learning_rate=0.0 must be positive"),
        (dict(closeness=-1.0), "closeness=-1.0 must be >= 0"),
    ],
)
def test_every_defence_option_refuses_a_bad_value_by_name(overrides, message):
    from nag_tf.defence.defence_options import DefenceOptions
    from nag_tf.errors import NAGError

    with pytest.raises(NAGError, match=message):
        DefenceOptions(**overrides).validate()


def _defence_run(split, seed, per_photo, **overrides):
    """A defence.json as compare.defend writes it, reduced to what pooling reads."""
    return {"target": "efficientnet_lite0", "split": split, "seed": seed, "options": {"defence_steps": 300}} | {
        "per_photo": per_photo,
        **overrides,
    }


_RUN_A = {
    "bare": {"clean": [1, 1, 1, 0], "sga": [1, 0, 0, 0]},
    "nag": {"clean": [1, 1, 0, 0], "sga": [1, 1, 0, 0]},
    "signs": {"clean": [1, 1, 1, 0], "sga": [1, 0, 1, 0]},
    "dm_uap": {"clean": [1, 1, 1, 1], "sga": [0, 0, 0, 0]},
}
_RUN_B = {
    "bare": {"clean": [1, 1, 0], "sga": [0, 0, 0]},
    "nag": {"clean": [1, 1, 1], "sga": [1, 1, 1]},
    "signs": {"clean": [1, 0, 0], "sga": [1, 0, 0]},
    "dm_uap": {"clean": [0, 1, 1], "sga": [1, 0, 0]},
}


def test_pooled_defences_pair_nag_with_the_best_other_source_over_all_runs():
    from nag_tf.defence import pool

    pooled = pool.pool([_defence_run("s4", 0, _RUN_A), _defence_run("s4", 1, _RUN_B)])
    clean, under_sga = pooled["pooled"]["nag"]["clean"], pooled["pooled"]["nag"]["sga"]
    # clean: signs 4/7, dm_uap 6/7 -> dm_uap; nag 5/7; nag - dm_uap = -1/7 over the 7 photo-runs
    assert clean["best_other"] == "dm_uap" and clean["accuracy"]["bare"] == pytest.approx(5 / 7, abs=1e-4)
    assert clean["difference"][0] == pytest.approx(-1 / 7, abs=1e-4) and clean["photo_runs"] == 7
    # under SGA: signs 3/7, dm_uap 1/7 -> signs; nag 5/7; + 2/7
    assert under_sga["best_other"] == "signs" and under_sga["difference"][0] == pytest.approx(2 / 7, abs=1e-4)
    low, high = under_sga["difference"][1:]
    assert low <= 2 / 7 <= high
    assert "nag - signs (sga): +28.6 points" in pool.format_pool(pooled)
    # Every source's accuracy over the 7 photo-runs (the table and the PNG), the bare target's too.
    assert pooled["accuracy"]["bare"] == {
        "clean": pytest.approx(5 / 7, abs=1e-4),
        "sga": pytest.approx(1 / 7, abs=1e-4),
    }
    assert pooled["accuracy"]["dm_uap"]["clean"] == pytest.approx(6 / 7, abs=1e-4)
    assert pooled["detection"] == {}  # these runs carry no detector figures


def test_pooled_detection_is_the_mean_of_the_runs_figures():
    from nag_tf.defence import pool

    def detection(tpr, auc):
        return {name: {"detection": {"sga": {"tpr": tpr, "auc": auc}}} for name in ("nag", "signs", "dm_uap")}

    runs = [
        _defence_run("s4", 0, _RUN_A, sources=detection(0.2, 0.6)),
        _defence_run("s5", 1, _RUN_B, sources=detection(0.4, 0.9)),
    ]
    pooled = pool.pool(runs)
    assert pooled["detection"]["nag"]["sga"] == {"tpr": pytest.approx(0.3), "auc": pytest.approx(0.75)}
    assert "detector: TPR at 5% false positives / AUC" in pool.format_pool(pooled)


@pytest.mark.parametrize(
    "second, expected",
    [
        (dict(seed=0), "split 's4' seed 0 is given twice"),
        (dict(options={"defence_steps": 100}), "disagree on options"),
        (dict(per_photo=None), "no per-photo lists"),
    ],
)
def test_pooling_defences_refuses_a_run_twice_other_options_and_a_summary_line(second, expected):
    from nag_tf.defence import pool
    from nag_tf.errors import NAGError

    other = _defence_run(second.pop("split", "s4"), second.pop("seed", 1), _RUN_B) | second
    if other["per_photo"] is None:
        del other["per_photo"]
    with pytest.raises(NAGError, match=expected):
        pool.pool([_defence_run("s4", 0, _RUN_A), other])
    with pytest.raises(NAGError, match="two or more"):
        pool.pool([other])


def test_the_defend_binary_pools_files_and_names_an_unreadable_one(tmp_path):
    import os
    import subprocess
    import sys

    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    paths[0].write_text(json.dumps(_defence_run("s4", 0, _RUN_A)))
    paths[1].write_text(json.dumps(_defence_run("s5", 0, _RUN_B)))
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

    def defend(*args):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root)
        return subprocess.run([sys.executable, "-m", "nag_tf.defend", *args], capture_output=True, text=True, env=env)

    pooled = defend(f"--pool={paths[0]},{paths[1]}", f"--pool_png={tmp_path / 'pooled.png'}")
    assert pooled.returncode == 0, pooled.stderr[-2000:]
    assert json.loads(pooled.stdout.strip().splitlines()[-1])["runs"][1] == {"split": "s5", "seed": 0}
    assert (tmp_path / "pooled.png").read_bytes()[:4] == b"\x89PNG"
    alone = defend(f"--pool_png={tmp_path / 'x.png'}")
    assert alone.returncode != 0 and "pass --pool=" in alone.stderr and "Traceback" not in alone.stderr
    broken = defend(f"--pool={paths[0]},{tmp_path / 'missing.json'}")
    assert broken.returncode != 0 and "cannot read" in broken.stderr and "Traceback" not in broken.stderr


def test_a_trained_defence_is_read_back_from_the_workdir_and_another_identity_trains_anew(tmp_path):
    """An interrupted comparison resumes without retraining the defences it finished; options that change
    the training (defence_steps) give another defence, kept beside the first."""
    import keras

    from nag_tf.defence import store

    def build(value):
        model = keras.Sequential([keras.Input([3]), keras.layers.Dense(2)])
        model.set_weights([np.full([3, 2], value, np.float32), np.zeros([2], np.float32)])
        return model

    trained = []
    identity = {"kind": "rectifier", "source": "signs", "options": {"defence_steps": 100}}
    first = build(1.0)
    assert not store.load_or_train(
        first,
        str(tmp_path),
        identity,
        lambda: trained.append(first.set_weights([np.full([3, 2], 7.0, np.float32), np.ones([2], np.float32)])),
    )
    again = build(0.0)
    assert store.load_or_train(again, str(tmp_path), identity, lambda: trained.append("retrained"))
    assert len(trained) == 1
    np.testing.assert_array_equal(again.get_weights()[0], np.full([3, 2], 7.0))  # the trained weights, read back
    other = build(0.0)
    assert not store.load_or_train(other, str(tmp_path), identity | {"options": {"defence_steps": 300}}, lambda: None)
    assert len(list((tmp_path / "defences" / "signs").iterdir())) == 2
    assert not [p for p in (tmp_path / "defences").rglob("tmp*")]  # no staging file left behind


def test_an_attacks_seed_does_not_depend_on_the_other_attacks_asked_for(tmp_path):
    """--adaptive=sga and then --adaptive=nag,sga must train the same SGA run, so the second reuses it."""
    import types

    from nag_tf.defence import perturbations

    seeds_seen = []

    def train(method, budget_s, seed, workdir):
        seeds_seen.append((method, seed))
        source = types.SimpleNamespace(distinct_samples=1, sample=lambda count, start: np.zeros((count, 4, 4, 3)))
        return types.SimpleNamespace(source=source)

    plan = types.SimpleNamespace(seed=3, train=train)
    for methods in (("sga",), ("nag", "sga"), ("dm_uap", "sgd_uap", "sga")):
        perturbations.attacks(plan, methods, 1.0, "defence_adaptive", str(tmp_path), samples=2)
    sga_seeds = {seed for method, seed in seeds_seen if method == "sga"}
    assert len(sga_seeds) == 1
    assert len({seed for _, seed in seeds_seen}) == 4  # four methods, four seeds


def test_a_rectifier_trains_on_the_same_perturbations_whether_its_detector_was_trained_or_read_back(setting, tmp_path):
    """Each defence draws its own perturbations from the start of the source's stream: a comparison that
    resumes with its detector read back trains the same rectifier as one that trained both in turn."""
    import shutil
    import types

    from nag_tf.defence import compare
    from nag_tf.defence.defence_options import DefenceOptions

    target, train, _, _ = setting
    plan = types.SimpleNamespace(seed=0, workdir=str(tmp_path), target="tiny_cnn", split="s", train_folder="t")
    options = DefenceOptions(defence_steps=3, defence_batch=8).validate()

    def make_draws():
        return draws.RandomSigns(target.image_size, XI, seed=5)

    _, in_turn, folder = compare._train_defence(plan, options, target, train, make_draws, "signs")
    shutil.rmtree(folder)  # the rectifier lost, the detector kept
    _, after_read_back, again = compare._train_defence(plan, options, target, train, make_draws, "signs")
    assert again == folder
    for trained, retrained in zip(in_turn.get_weights(), after_read_back.get_weights()):
        np.testing.assert_allclose(retrained, trained, atol=1e-5)  # one machine, the same shapes
    assert any(np.abs(w).sum() > 0 for w in in_turn.get_weights())


def test_the_pooled_table_shows_the_adaptive_columns_the_bare_target_lacks():
    from nag_tf.defence import pool

    def with_adaptive(run, values):
        return {name: rows if name == "bare" else {**rows, "adaptive_nag": values} for name, rows in run.items()}

    pooled = pool.pool(
        [
            _defence_run("s4", 0, with_adaptive(_RUN_A, [1, 1, 0, 0])),
            _defence_run("s5", 1, with_adaptive(_RUN_B, [0, 0, 1])),
        ]
    )
    assert pooled["accuracy"]["nag"]["adaptive_nag"] == pytest.approx(3 / 7, abs=1e-4)
    header, *rows = pool.format_pool(pooled).splitlines()[1:6]
    assert header.split() == ["source", "clean", "sga", "adaptive_nag"]
    assert rows[0].split()[-1] == "0.143" and rows[1].split()[-1] == "0.429"  # bare: no adaptive cell
