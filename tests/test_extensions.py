"""Ensembles, targeted NAG and budgets other than the paper's xi * tanh, on tiny random targets."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_apps
from nag_tf.core import losses
from nag_tf.core.generator import build_generator
from nag_tf.core.loss_config import LossConfig
from nag_tf.core.model import NAGModel
from nag_tf.errors import NAGError
from nag_tf.evaluation import metrics
from nag_tf.inputs import batches, data
from nag_tf.training import train_lib


def _model(target, size, loss=None, seed=0, norm="linf", linf_output="tanh", xi=10.0):
    keras.utils.set_random_seed(seed)
    generator = build_generator(
        size, latent_dim=4, xi=xi, variant="light", seed=seed, norm=norm, linf_output=linf_output
    )
    model = NAGModel(generator, target, loss or LossConfig(), seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.optimizer.build(generator.trainable_variables)
    return model


@pytest.fixture(scope="module")
def ensemble():
    return keras_apps.load_targets("tiny_cnn,tiny_cnn_40", "none", target_weights="1,0.5")


@pytest.fixture(scope="module")
def cached40(image_folder, ensemble):
    records = data.read_image_folder(image_folder)
    return batches.cache_with_clean_labels(data.decode_records(records, 40), ensemble, 16, records)


def test_targeted_loss_by_hand():
    logits = tf.math.log(tf.constant([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]]))  # softmax(log p) = p
    per_sample = losses.targeted_fooling_loss(logits, 1, "per_sample")
    batch_mean = losses.targeted_fooling_loss(logits, 1, "batch_mean")
    np.testing.assert_allclose(float(per_sample), (-np.log(0.7) - np.log(0.25)) / 2, rtol=1e-6)
    np.testing.assert_allclose(float(batch_mean), -np.log((0.7 + 0.25) / 2), rtol=1e-6)
    assert float(losses.targeted_fooling_loss(tf.constant([[-100.0, 0.0]]), 1)) == pytest.approx(0.0, abs=1e-6)


def test_targeted_success_rate_counts_only_images_not_already_of_the_class():
    clean = np.array([3, 1, 2, 3, 0])
    adversarial = np.array([3, 3, 2, 0, 3])
    # Images 0 and 3 were already class 3: of the other three, two now read 3.
    assert metrics.attack_rate(clean, adversarial, 3) == pytest.approx(2 / 3)
    assert metrics.attack_rate(clean, adversarial) == pytest.approx(3 / 5)


def test_l2_budget_holds_and_scales_onto_the_ball():
    generator = build_generator(32, latent_dim=4, xi=50.0, variant="light", seed=0, norm="l2")
    z = tf.random.stateless_uniform([6, 4], seed=[1, 2], minval=-1, maxval=1)
    raw_norm = lambda d: np.sqrt(np.sum(np.square(d.numpy()), axis=(1, 2, 3)))  # noqa: E731
    small = raw_norm(generator(z, training=False))
    layer = generator.get_layer("to_rgb")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel * 1000.0, bias])  # a raw output far outside the ball
    large = raw_norm(generator(z, training=False))
    np.testing.assert_allclose(large, 50.0, rtol=1e-4)  # scaled onto the sphere
    assert np.all(small <= 50.0 + 1e-3)
    assert float(tf.reduce_max(tf.abs(generator(z)))) < 50.0  # not an L-inf clip


def test_rescaled_linf_output_uses_the_whole_budget_without_saturating():
    generator = build_generator(32, latent_dim=4, xi=10.0, variant="light", seed=0, linf_output="rescale")
    z = tf.random.stateless_uniform([5, 4], seed=[3, 4], minval=-1, maxval=1)
    with tf.GradientTape() as tape:
        delta = generator(z, training=True)
        loss = tf.reduce_sum(delta[:, :4, :4, :])
    np.testing.assert_allclose(np.max(np.abs(delta.numpy()), axis=(1, 2, 3)), 10.0, rtol=1e-5)
    gradients = tape.gradient(loss, generator.trainable_variables)
    assert all(float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients)


def test_tanh_floor_keeps_the_output_and_floors_the_gradient_in_training_only():
    from nag_tf.core.generator import TANH_GRADIENT_FLOOR, ScaledTanh

    x = tf.constant([[4.0, -4.0, 0.5, 0.0]])
    upstream = tf.constant([[1.0, -1.0, -1.0, 2.0]])
    tanh_gradient = 1.0 - np.tanh(x.numpy().astype(np.float64)) ** 2  # 1.3e-3 at |x| = 4
    plain, floored = ScaledTanh(10.0), ScaledTanh(10.0, gradient_floor=TANH_GRADIENT_FLOOR)

    def output_and_gradient(layer, training):
        with tf.GradientTape() as tape:
            tape.watch(x)
            output = layer(x, training=training)
        return output.numpy(), tape.gradient(output, x, output_gradients=upstream).numpy()

    exact_output, exact = output_and_gradient(plain, True)
    output, gradient = output_and_gradient(floored, True)
    np.testing.assert_array_equal(output, exact_output)
    # rtol 1e-3: 1 - tanh(4)^2 loses digits to cancellation in float32.
    np.testing.assert_allclose(exact, 10.0 * upstream.numpy() * tanh_gradient, rtol=1e-3)
    np.testing.assert_allclose(
        gradient, 10.0 * upstream.numpy() * np.maximum(tanh_gradient, TANH_GRADIENT_FLOOR), rtol=1e-3
    )
    assert abs(gradient[0, 0]) > 100 * abs(exact[0, 0])  # a saturated pixel can still be moved
    # Outside training the layer is the plain tanh (what export and evaluation trace).
    np.testing.assert_allclose(output_and_gradient(floored, False)[1], exact, rtol=1e-3)
    generator = build_generator(32, latent_dim=4, variant="light", seed=0, linf_output="tanh_floor")
    rebuilt = keras.Model.from_config(generator.get_config())
    assert rebuilt.get_layer("perturbation").gradient_floor == TANH_GRADIENT_FLOOR


def test_every_linf_output_is_a_flag_choice():
    # train_flags lists the choices itself (it does not import TensorFlow); this keeps them one list.
    from absl import flags

    from nag_tf.core.generator import LINF_OUTPUTS
    from nag_tf.training import train_flags

    values = flags.FlagValues()
    train_flags.define_train_flags(values)
    assert tuple(values["linf_output"].parser.enum_values) == LINF_OUTPUTS
    assert tuple(values["perturbation_similarity"].parser.enum_values) == losses.PERTURBATION_SIMILARITIES


def test_ensemble_labels_and_sizes(ensemble, cached40):
    assert ensemble.image_size == 40 and ensemble.name == "tiny_cnn+tiny_cnn_40"
    assert cached40.clean_labels.shape == (len(cached40), 2)
    # Each column is that member's own label, at its own input size.
    small = keras_apps.resize_for(ensemble.targets[0], tf.cast(cached40.images, tf.float32))
    np.testing.assert_array_equal(cached40.clean_labels[:, 0], ensemble.targets[0].predict_labels(small).numpy())


def test_ensemble_loss_is_the_weighted_sum_of_single_target_losses(ensemble, cached40):
    # Without clipping, resizing x + delta equals adding the resized delta to the resized image.
    loss = LossConfig(clip=False)
    model = _model(ensemble, 40, loss)
    images = tf.cast(cached40.images[:8], tf.float32)
    z = tf.random.stateless_uniform([8, 4], seed=[7, 7], minval=-1, maxval=1)
    delta = model.generator(z, training=True)
    seed = tf.constant([3, 1])
    total, fooling, diversity, *_ = model.compute_losses(images, cached40.clean_labels[:8], delta, seed)
    singles = []
    for index, (member, weight) in enumerate(ensemble.members):
        single = NAGModel(model.generator, member, loss)
        _, f, d, *_ = single.compute_losses(
            keras_apps.resize_for(member, images),
            cached40.clean_labels[:8, index],
            keras_apps.resize_for(member, delta),
            seed,
        )
        singles.append((weight, float(f), float(d)))
    assert ensemble.members[1][1] == 0.5
    np.testing.assert_allclose(float(fooling), sum(w * f for w, f, _ in singles), rtol=1e-4)
    # The diversity loss here is 1 - cos ~ 1e-4 of nearly parallel softmax vectors: a difference of numbers
    # near 1, so its float32 error is absolute, ~10 epsilons (1.2e-6), whatever its size (seen: 2.3e-8 on
    # a value of 9e-5 on an AVX2-only CPU). Hence rtol 1e-4 with an absolute floor of 1e-6.
    np.testing.assert_allclose(float(diversity), sum(w * d for w, _, d in singles), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(float(total), float(fooling) + float(diversity), rtol=1e-5)


def test_member_by_member_gradient_equals_the_joint_gradient(ensemble, cached40):
    """train_step's bounded-memory path (d loss / d delta per member, then one pass back) is exact."""
    model = _model(ensemble, 40, LossConfig(perturbation_diversity_weight=0.5))
    images = tf.cast(cached40.images[:8], tf.float32)
    labels = tf.constant(cached40.clean_labels[:8])
    z = tf.random.stateless_uniform([8, 4], seed=[9, 9], minval=-1, maxval=1)
    seed = tf.constant([5, 2])
    variables = model.generator.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        delta = model.generator(z, training=True)
        total, *_ = model.compute_losses(images, labels, delta, seed)
    joint = tape.gradient(total, variables)
    # A scale that makes a new tensor (as optimizer.scale_loss does), undone afterwards.
    delta_gradient = model.compute_losses(
        images, labels, delta, seed, loss_scale=lambda loss: 4.0 * loss
    ).delta_gradient
    split = tape.gradient(delta, variables, output_gradients=delta_gradient / 4.0)
    for a, b in zip(joint, split):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-3, atol=1e-6)


def test_targeted_training_raises_the_success_rate(image_folder):
    target = keras_apps.load_target("tiny_cnn", "none")
    records = data.read_image_folder(image_folder)
    cached = batches.cache_with_clean_labels(data.decode_records(records, 32), target, 16, records)
    # The class the clean images give most probability after their own: reachable by a tiny random CNN
    # (which reads almost every image as one class) within a large budget.
    probs = target(tf.cast(cached.images, tf.float32)).probs.numpy()
    probs[np.arange(len(probs)), cached.clean_labels] = 0.0
    goal = int(probs.mean(axis=0).argmax())
    assert np.mean(cached.clean_labels == goal) < 0.5
    z = tf.random.stateless_uniform([16, 4], seed=[5, 5], minval=-1, maxval=1)
    images = tf.cast(cached.images[:16], tf.float32)
    successes = []
    # Three seeds: 40 steps of a random tiny CNN leave an odd start stuck (seed 0 stays at the clean rate
    # under today's seed streams), so the claim is about most runs, and the loss halves in every one.
    for seed in range(3):
        model = _model(target, 32, LossConfig(target_class=goal), xi=80.0, seed=seed)
        assert model.rate_name == "targeted_success_rate"

        def targeted_loss(model=model):
            fooling = model.compute_losses(
                images, cached.clean_labels[:16], model.generator(z, training=True), tf.constant([0, 0])
            ).fooling
            return float(fooling)

        before = targeted_loss()
        model.fit(batches.training_batches(cached, 8, seed=seed), steps_per_epoch=40, epochs=1, verbose=0)
        after = targeted_loss()
        model.prepare_for_inference()
        deltas = metrics.sample_perturbations(model.generator, 3, seed=1)
        rates, _ = metrics.fooling_rates(deltas, target, cached, 16, True, target_class=goal)
        assert after < 0.5 * before, (seed, before, after)
        successes.append(float(np.mean(rates)))
    assert sum(rate > 0.5 for rate in successes) >= 2, successes


def test_ensemble_training_run_reports_each_member_and_evaluates(tiny_config, tmp_path):
    from nag_tf.evaluation import evaluate_lib, sources

    config = tiny_config(target="tiny_cnn,tiny_cnn_40", target_weights="1,1", epochs=1, norm="l2", xi=400.0)
    result = train_lib.train(config)
    assert set(result.per_target) == {"tiny_cnn", "tiny_cnn_40"}
    assert all(0.0 <= rate <= 1.0 for rate in result.per_target.values())
    source = sources.load_source(config.logdir)
    assert source.image_size == 40
    delta = source.sample(3, seed=0).numpy()
    assert np.all(np.sqrt(np.sum(delta**2, axis=(1, 2, 3))) <= 400.0 + 1e-2)
    report = evaluate_lib.evaluate(
        [source],
        ["tiny_cnn", "tiny_cnn_40"],
        config.data_dir,
        "none",
        white_box_samples=4,
        black_box_samples=2,
        batch_size=8,
        seed=0,
        interpolation_steps=0,
    )
    # White-box (4 samples) on both members: the generator was trained against each of them.
    assert [len(report.sources[0].per_target[t].fooling_rates) for t in ("tiny_cnn", "tiny_cnn_40")] == [4, 4]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(target="tiny_cnn,nope"), "unknown target 'nope'"),
        (dict(target="tiny_cnn,tiny_cnn"), "twice"),
        (dict(target="tiny_cnn,tiny_cnn_40", target_weights="1"), "1 weights for 2 targets"),
        (dict(target="tiny_cnn,tiny_cnn_40", target_weights="1,x"), "numbers separated by commas"),
        (dict(target="tiny_cnn,tiny_cnn_40", target_weights="0,0"), "not all 0"),
        (dict(target_class="10"), "outside 0..9"),
        (dict(target_class="ostrich"), "give the class index"),
        (dict(norm="l3"), "--norm='l3'"),
        (dict(norm="l2", xi=1e9), "L2 radius"),
        (dict(linf_output="clip"), "--linf_output='clip'"),
    ],
)
def test_bad_extension_settings_are_named(tiny_config, overrides, message):
    with pytest.raises(NAGError, match=message):
        tiny_config(**overrides).validate()


def test_harden_runs_every_phase_and_resumes(tiny_config, tmp_path, monkeypatch):
    from nag_tf.hardening import harden_lib

    config = tiny_config(epochs=1, xi=40.0, learning_rate=1e-2)
    options = harden_lib.HardenOptions(
        out_dir=str(tmp_path / "harden"), epochs=2, learning_rate=1e-3, attack_budget_s=2.0
    )
    result = harden_lib.harden(config, options)
    keys = {"clean_accuracy"} | {f"fooling_{name}" for name in harden_lib.ATTACKS}
    assert set(result["before"]) == keys and set(result["after"]) == keys
    assert all(0.0 <= result[phase][key] <= 1.0 for phase in ("before", "after") for key in keys)
    # Before hardening, the attacks trained against the original are the adaptive ones.
    assert result["before"]["fooling_nag_before"] == result["before"]["fooling_new_nag"]
    # Hardened with that generator's samples: the "hardening" attack is those very samples.
    assert result["before"]["fooling_hardening"] == result["before"]["fooling_new_nag"]
    assert len(result["per_photo"]["after"]["new_sga"]) == result["held_out_images"]
    # The copy was fine-tuned (weights moved), the original file-less target was not touched.
    original = keras_apps.load_target("tiny_cnn", "none").classifier.get_weights()
    hardened = keras_apps.load_target("tiny_cnn", result["hardened_weights"]).classifier.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(original, hardened))
    # Trained against the samples it is then measured on: it resists them at least as well as before.
    assert result["after"]["fooling_hardening"] <= result["before"]["fooling_hardening"] + 1e-9
    # A second run finds every phase done and reproduces the table. It scores each distinct perturbation
    # tensor once: before, the NAG samples (also "hardening") and SGA's; after, those two (as "hardening",
    # "nag_before", "sga_before") and the two new attacks: 6 passes for the 8 names.
    scored = []
    fooling_rates = metrics.fooling_rates
    monkeypatch.setattr(
        metrics, "fooling_rates", lambda *args, **kwargs: scored.append(1) or fooling_rates(*args, **kwargs)
    )
    again = harden_lib.harden(config, options)
    assert again["after"] == result["after"]
    assert len(scored) == 6
    assert "| fooling rate, the perturbations hardened with (nag) |" in harden_lib.format_table(result)


@pytest.mark.slow  # two more hardening runs (about 40 s); the schemes' steps are checked on hand values below
def test_other_schemes_share_the_attacks_on_the_original(tiny_config, tmp_path):
    from nag_tf.hardening import harden_lib

    config = tiny_config(epochs=1, xi=40.0, learning_rate=1e-2)
    out_dir = str(tmp_path / "harden")
    first = harden_lib.harden(
        config,
        harden_lib.HardenOptions(out_dir=out_dir, scheme="uat", epochs=1, learning_rate=1e-3, attack_budget_s=2.0),
    )
    written = os.path.getmtime(os.path.join(out_dir, "sga_before", "perturbation.npy"))
    second = harden_lib.harden(
        config,
        harden_lib.HardenOptions(
            out_dir=out_dir, scheme="sga_set", set_size=2, epochs=1, learning_rate=1e-3, attack_budget_s=2.0
        ),
    )
    assert os.path.getmtime(os.path.join(out_dir, "sga_before", "perturbation.npy")) == written  # reused, not retrained
    assert second["before"]["fooling_new_sga"] == first["before"]["fooling_new_sga"]
    assert first["before"]["fooling_hardening"] is None and first["after"]["fooling_hardening"] is not None
    members = os.path.join(out_dir, "sga_set_members")
    assert sorted(os.listdir(members)) == ["0", "1"]
    assert all(os.path.exists(os.path.join(members, k, "perturbation.npy")) for k in ("0", "1"))
    assert os.path.exists(os.path.join(out_dir, "uat", "uat.npy"))


def test_schemes_draw_their_perturbations_in_turn_and_uat_climbs_within_the_budget():
    from nag_tf.hardening.harden_model import PerturbationsInTurn, UniversalAdversarialTraining

    deltas = np.arange(3, dtype=np.float32)[:, None, None, None] * np.ones([3, 2, 2, 3], np.float32)
    in_turn = PerturbationsInTurn(deltas)
    drawn = [in_turn.draw(4).numpy() for _ in range(4)]
    assert [(d.shape[0], float(d.min()), float(d.max())) for d in drawn] == [(4, k, k) for k in (0.0, 1.0, 2.0, 0.0)]
    uat = UniversalAdversarialTraining(image_size=2, xi=2.5, step=1.0)
    gradient = tf.constant(np.array([1.0, -3.0, 0.0] * 4, np.float32).reshape(2, 2, 3))
    for expected in (1.0, 2.0, 2.5, 2.5):
        uat.ascend(gradient)
        np.testing.assert_allclose(uat.delta.numpy()[0, 0], [expected, -expected, 0.0])


@pytest.mark.parametrize("scheme_name", ["uat", "none"])
def test_a_hardening_step_trains_the_classifier_and_only_uat_moves_its_perturbation(scheme_name, image_folder):
    from nag_tf.hardening.harden_model import HardeningModel, PerturbationsInTurn, UniversalAdversarialTraining

    target = keras_apps.load_target("tiny_cnn", "none")
    records = data.read_image_folder(image_folder)
    cached = batches.cache_with_clean_labels(data.decode_records(records, 32), target, 16, records)
    if scheme_name == "uat":
        scheme = UniversalAdversarialTraining(image_size=32, xi=10.0, step=1.0)
    else:
        scheme = PerturbationsInTurn(np.zeros([1, 32, 32, 3], np.float32))
    classifier = target.classifier
    classifier.trainable = True
    before = [w.copy() for w in classifier.get_weights()]
    model = HardeningModel(classifier, target.preprocess, scheme, adversarial_fraction=1.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    logs = model.train_on_batch(cached.images[:16], cached.clean_labels[:16], return_dict=True)
    assert any(not np.allclose(a, b) for a, b in zip(before, classifier.get_weights()))
    if scheme_name == "uat":  # one signed step of 1 from zero: every pixel with a gradient moved by exactly 1
        moved = np.abs(scheme.delta.numpy())
        assert moved.max() == 1.0 and set(np.unique(moved)) <= {0.0, 1.0} and moved.mean() > 0.5
    else:  # zeros: the "perturbed" images are the clean ones, so all of them agree with their clean labels
        assert logs["adversarial_agreement"] == 1.0


def test_sgd_uap_l2_projection_and_step():
    from nag_tf.baselines import sgd_uap_lib

    v = tf.fill([4, 4, 3], 10.0)  # L2 norm 10 * sqrt(48)
    projected = sgd_uap_lib.project(v, 20.0, "l2")
    np.testing.assert_allclose(float(tf.norm(projected)), 20.0, rtol=1e-5)
    np.testing.assert_allclose(projected.numpy() / float(projected[0, 0, 0]), 1.0)  # direction kept
    inside = sgd_uap_lib.project(v * 0.01, 20.0, "l2")
    np.testing.assert_allclose(inside.numpy(), v.numpy() * 0.01)
    assert float(tf.reduce_max(sgd_uap_lib.project(v, 5.0, "linf"))) == 5.0


def test_a_base_perturbation_run_trains_its_base_reloads_and_exports_the_same_perturbations(tiny_config, tmp_path):
    """--base_perturbation end to end: b moves in training, the log directory and an export rebuild it exactly."""
    from export import saved_model_lib
    from nag_tf.evaluation import sources

    config = tiny_config(
        epochs=1,
        base_perturbation=True,
        base_perturbation_step=0.05,
        target_pairwise_cosine=0.4,
        perturbation_diversity_weight=1.0,
        cosine_dual_max=2.0,
    )
    train_lib.train(config.validate())
    source = sources.load_source(config.logdir)
    base = source.generator.get_layer("base_perturbation")
    b = base.multiplier * base.get_weights()[0]
    assert base.multiplier == pytest.approx(0.05 / config.learning_rate)
    assert np.abs(b).max() > 0.05  # it moved at least one step
    delta = source.sample(3, seed=0).numpy()
    assert np.abs(delta).max() <= config.xi + 1e-4
    path = saved_model_lib.export_saved_model(source.generator, str(tmp_path / "export"), config.xi, "tiny_cnn")
    exported = sources.load_source(path).sample(3, seed=0).numpy()
    np.testing.assert_allclose(exported, delta, atol=1e-4)
