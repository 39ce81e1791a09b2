"""nag_tf.evaluation.perturbation_sets: how a K-set is bought at equal compute, and what it is worth.

bench/distribution_value.py's figures rest on these: every baseline run of a K-set gets budget / K
and its own seed (so the runs really differ), and coverage, majority and classes95 mean what the
bench says on masks worked out by hand.
"""

import numpy as np
import pytest

from nag_tf.evaluation import evaluate_lib, metrics, perturbation_sets, sources


def test_each_run_of_a_k_set_gets_budget_over_k_and_its_own_seed():
    plan = perturbation_sets.run_plan([5, 1, 2, 5], 600.0, seed=3)
    assert [run.k for run in plan] == [1, 2, 2, 5, 5, 5, 5, 5]
    for k in (1, 2, 5):
        runs = [run for run in plan if run.k == k]
        assert sum(run.budget_s for run in runs) == pytest.approx(600.0)
        assert [run.index for run in runs] == list(range(k))
    assert len({run.seed for run in plan}) == len(plan)  # no two runs share a data order
    with pytest.raises(ValueError, match="positive"):
        perturbation_sets.run_plan([0, 2], 600.0, seed=0)


def test_train_sets_calls_the_trainer_once_per_planned_run():
    seen = []
    sets = perturbation_sets.train_sets(lambda run: seen.append(run) or run.seed, [1, 3], 90.0, seed=0)
    assert sorted(sets) == [1, 3] and len(sets[3]) == 3 and len(seen) == 4
    assert {run.budget_s for run in seen if run.k == 3} == {30.0}


def test_shards_split_every_k_set_evenly_and_together_make_the_plan():
    plan = perturbation_sets.run_plan([5, 10], 1800.0, seed=0)
    shards = [perturbation_sets.shard(plan, i, 2) for i in range(2)]
    assert sorted(shards[0] + shards[1], key=plan.index) == plan  # disjoint, and nothing left out
    for k in (5, 10):
        seconds = [sum(run.budget_s for run in part if run.k == k) for part in shards]
        assert max(seconds) - min(seconds) <= 1800.0 / k  # at most one run apart
    assert [run.index for run in shards[1] if run.k == 10] == [1, 3, 5, 7, 9]
    seen = []
    perturbation_sets.train_sets(seen.append, [10], 1800.0, seed=0, shard_index=1, shard_count=2)
    assert seen == [run for run in shards[1] if run.k == 10]  # the same seeds and budgets as unsharded
    with pytest.raises(ValueError, match="shard 2 of 2"):
        perturbation_sets.shard(plan, 2, 2)


def test_set_measures_on_hand_made_masks():
    fooled = np.array(
        [
            [1, 1, 0, 0, 0],
            [1, 0, 1, 0, 0],
            [1, 0, 0, 0, 0],
        ],
        bool,
    )
    labels = np.array([[7, 7, 0, 0, 0], [7, 0, 8, 0, 0], [9, 0, 0, 0, 0]])
    measures = perturbation_sets.set_measures(fooled, labels)
    assert measures["coverage"] == pytest.approx(3 / 5)  # photos 0, 1, 2
    assert metrics.fooled_by_any(fooled).tolist() == [True, True, True, False, False]
    with pytest.raises(ValueError, match="non-empty"):
        metrics.fooled_by_any(np.zeros((0, 5), bool))
    assert measures["mean_fooling"] == pytest.approx(5 / 15)
    assert measures["majority"] == pytest.approx(1 / 5)  # only photo 0 is fooled by more than half
    # fooled predictions: 7, 7, 7, 8, 9; 95% of 5 needs all three classes, 7 alone holds 60%.
    assert measures["classes95"] == 3
    # K copies of one perturbation cover exactly its own fooling rate.
    copies = perturbation_sets.set_measures(np.repeat(fooled[:1], 4, axis=0))
    assert copies["coverage"] == copies["mean_fooling"] == copies["majority"] == pytest.approx(2 / 5)
    assert perturbation_sets.first_k_reaching({1: 0.5, 5: 0.95, 10: 0.99}) == 5
    assert perturbation_sets.first_k_reaching({1: 0.5, 5: 0.9}) is None


def test_fooled_mask_agrees_with_coverage_and_handles_ensembles():
    clean = np.array([1, 2, 3])
    labels = np.array([[1, 5, 3], [4, 2, 3]])
    assert metrics.fooled_mask(clean, labels).tolist() == [[False, True, False], [True, False, False]]
    assert metrics.coverage(clean, labels) == pytest.approx(2 / 3)
    ensemble = np.stack([labels, np.array([[1, 2, 9], [1, 2, 3]])], axis=2)  # [K, N, members]
    clean = np.stack([clean, clean], axis=1)  # an ensemble's clean labels: [N, members]
    assert metrics.fooled_mask(clean, ensemble).tolist() == [[False, True, True], [True, False, False]]
    assert metrics.fooled_mask(clean[:, 0], labels, target_class=3).tolist() == [
        [False, False, True],
        [False, False, True],
    ]


def test_a_perturbation_set_is_scored_on_exactly_its_members(image_folder):
    """Three different δ as one set: K = 3 distinct rows, the evaluation's fooled mask is [3, N]."""
    rng = np.random.default_rng(0)
    deltas = [rng.choice([-10.0, 10.0], size=(32, 32, 3)).astype(np.float32) for _ in range(3)]
    source = sources.PerturbationSetSource(deltas, 10.0, "set", "tiny_cnn")
    assert source.distinct_samples == 3
    np.testing.assert_array_equal(source.sample(2, seed=5).numpy(), np.stack(deltas[:2]))
    report = evaluate_lib.evaluate(
        [source], ["tiny_cnn"], image_folder, "none", white_box_samples=10, batch_size=8, interpolation_steps=0
    )
    result = report.sources[0].per_target["tiny_cnn"]
    assert result.fooled.shape == (3, report.images) and len(result.fooling_rates) == 3
    np.testing.assert_allclose(result.fooled.mean(axis=1), result.fooling_rates)
    assert perturbation_sets.set_measures(result.fooled)["coverage"] == pytest.approx(result.coverage)
