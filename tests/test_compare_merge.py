"""nag_tf.compare --merge and --pool, nag_tf.sets --merge: join runs only when measured the same way.

The head-to-head figures in docs/results.md come from NAG and SGA trained in two
processes and merged by `--merge`, so its refusal of runs on other images,
budgets or seeds is what keeps those figures comparable. Hand-written
nag_tf.compare outputs (a few log lines, then the JSON line) stand in for the runs.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers.cli import error_line

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

_SHARED = {
    "target": "efficientnet_lite0",
    "budget_s": 600.0,
    "eval_images": 141,
    "samples": 10,
    "seed": 0,
    "split": "imagenet-sample holdout=0.2 split_seed=0",
}


def _write_run(folder, name, method, curve, **overrides):
    summary = {**_SHARED, f"{method}_fr": curve[-1][1], f"{method}_steps": 7, "curve": {method: curve}, **overrides}
    path = folder / f"{name}.log"
    path.write_text(f"Epoch 1/1000000\nsome progress line\n{json.dumps(summary)}\ncurves: elsewhere\n")
    return str(path)


def _merge(*args, out):
    """Runs nag_tf.compare --merge on the run files among args (the rest are passed as flags)."""
    runs = [arg for arg in args if not arg.startswith("--")]
    flags = [arg for arg in args if arg.startswith("--")]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    return subprocess.run(
        [sys.executable, "-m", "nag_tf.compare", f"--merge={','.join(runs)}", f"--workdir={out}", *flags],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_merges_two_runs_with_the_crossing_and_a_plot(tmp_path):
    nag = _write_run(
        tmp_path,
        "nag",
        "nag",
        [[300.0, 0.50, 0.02], [600.0, 0.81, 0.01]],
        nag_pairwise_cos=0.4,
        nag_per_photo=[1.0, 1.0, 0.5, 0.0],
        nag_transfer_lite1_per_photo=[1.0, 1.0, 1.0, 0.0],
    )
    sga = _write_run(
        tmp_path,
        "sga",
        "sga",
        [[300.0, 0.70, 0.0], [600.0, 0.80, 0.0]],
        sga_per_photo=[1.0, 0.0, 1.0, 0.0],
        sga_transfer_lite1_per_photo=[0.0, 1.0, 0.0, 0.0],
    )
    result = _merge(nag, sga, out=tmp_path / "merged")
    assert result.returncode == 0, result.stderr[-2000:]
    merged = json.loads(result.stdout.strip().splitlines()[-1])
    assert merged["nag_fr"] == 0.81 and merged["sga_fr"] == 0.80 and merged["nag_pairwise_cos"] == 0.4
    assert set(merged["curve"]) == {"nag", "sga"}
    # NAG is below SGA at 300 s and reaches it at 600 s.
    assert merged["nag_crosses_sga_at_s"] == 600.0
    # Paired on the same photos: white-box (0.625 - 0.5) and transfer to Lite1 (0.75 - 0.25), with intervals.
    assert merged["nag_minus_best_fr"] == 0.125 and merged["nag_minus_best_transfer_lite1"] == 0.5
    assert merged["best_baseline_transfer_lite1"] == "sga" and len(merged["nag_minus_best_transfer_lite1_ci"]) == 2
    assert (tmp_path / "merged" / "curves.png").stat().st_size > 0


def test_no_crossing_is_null(tmp_path):
    nag = _write_run(tmp_path, "nag", "nag", [[300.0, 0.50, 0.02], [600.0, 0.79, 0.01]])
    sga = _write_run(tmp_path, "sga", "sga", [[300.0, 0.70, 0.0], [600.0, 0.80, 0.0]])
    result = _merge(nag, sga, out=tmp_path / "merged")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["nag_crosses_sga_at_s"] is None


@pytest.mark.parametrize(
    "override, expected",
    [
        ({"split": "imagenet-sample holdout=0.2 split_seed=1"}, "--merge disagree on split"),
        ({"budget_s": 1800.0}, "--merge disagree on budget_s"),
        ({"seed": 1}, "--merge disagree on seed"),
    ],
)
def test_refuses_runs_measured_differently(tmp_path, override, expected):
    nag = _write_run(tmp_path, "nag", "nag", [[600.0, 0.81, 0.01]])
    sga = _write_run(tmp_path, "sga", "sga", [[600.0, 0.80, 0.0]], **override)
    result = _merge(nag, sga, out=tmp_path / "merged")
    assert expected in error_line(result)
    assert not (tmp_path / "merged" / "curves.png").exists()


def test_refuses_a_method_twice_and_an_unfinished_log(tmp_path):
    first = _write_run(tmp_path, "nag_a", "nag", [[600.0, 0.81, 0.01]])
    second = _write_run(tmp_path, "nag_b", "nag", [[600.0, 0.79, 0.01]])
    assert "nag is in two runs" in error_line(_merge(first, second, out=tmp_path / "merged"))
    unfinished = tmp_path / "unfinished.log"
    unfinished.write_text("Epoch 1/1000000\n20/20 - 21s - loss: 1.0\n")
    assert "has no JSON line" in error_line(_merge(first, str(unfinished), out=tmp_path / "merged"))


def _pool(*paths):
    return subprocess.run(
        [sys.executable, "-m", "nag_tf.compare", f"--pool={','.join(paths)}"],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT),
        timeout=300,
    )


def _merged(folder, name, seed=0, **lists):
    path = folder / f"{name}.json"
    fooling = {
        f"{key[: -len('_per_photo')]}_fr": sum(v) / len(v) for key, v in lists.items() if "_transfer_" not in key
    }
    path.write_text(json.dumps({**_SHARED, "seed": seed, **fooling, **lists}) + "\n")
    return str(path)


def test_pools_the_paired_differences_of_several_runs_photo_by_photo(tmp_path):
    first = _merged(
        tmp_path,
        "split4",
        nag_per_photo=[1.0, 1.0, 0.0, 0.0],
        sga_per_photo=[1.0, 0.0, 0.0, 0.0],
        nag_transfer_lite1_per_photo=[1.0, 0.0, 0.0, 0.0],
        sga_transfer_lite1_per_photo=[1.0, 1.0, 0.0, 0.0],
    )
    second = _merged(
        tmp_path, "split5", seed=1, nag_per_photo=[1.0, 1.0], sga_per_photo=[0.0, 1.0], dm_uap_per_photo=[1.0, 0.0]
    )
    result = _pool(first, second)
    assert result.returncode == 0, result.stderr[-2000:]
    pooled = json.loads(result.stdout.strip().splitlines()[-1])
    # Differences photo by photo: [0, 1, 0, 0] and [1, 0]: 2 of 6 photo-runs, mean 1/3.
    mean, low, high = pooled["nag_minus_sga_fr"]
    assert mean == pytest.approx(1 / 3, abs=1e-4) and low <= mean <= high and pooled["nag_minus_sga_fr_photo_runs"] == 6
    assert pooled["nag_minus_sga_transfer_lite1"][0] == pytest.approx(-0.25) and pooled["nag_minus_dm_uap_fr"][0] == 0.5
    assert pooled["nag_fr_mean"] == pytest.approx(0.75) and pooled["dm_uap_runs"] == 1
    assert "nag_minus_sga_fr: +0.3333" in result.stdout


def test_pooling_joins_the_lines_of_one_run_from_a_jsonl_record_and_skips_notes(tmp_path):
    record = tmp_path / "record.jsonl"
    parts = [
        {**_SHARED, "nag_fr": 1.0, "nag_per_photo": [1.0, 1.0]},
        {**_SHARED, "sga_fr": 0.5, "sga_per_photo": [1.0, 0.0]},
        {**_SHARED, "seed": 1, "nag_fr": 0.5, "nag_per_photo": [0.0, 1.0]},
        {**_SHARED, "seed": 1, "sga_fr": 0.5, "sga_per_photo": [1.0, 0.0]},
        {"nag_fr": 0.0, "nag_per_photo": [0.0, 0.0], "method": "a note, not a run"},
    ]
    record.write_text("\n".join(json.dumps(part) for part in parts) + "\n")
    result = _pool(str(record))
    assert result.returncode == 0, result.stderr[-2000:]
    pooled = json.loads(result.stdout.strip().splitlines()[-1])
    assert pooled["nag_minus_sga_fr"][0] == 0.25 and pooled["nag_minus_sga_fr_photo_runs"] == 4  # [0, 1], [-1, 1]
    assert pooled["nag_fr_mean"] == 0.75 and len(pooled["runs"]) == 2


def test_pooling_refuses_runs_of_another_budget(tmp_path):
    first = _merged(tmp_path, "a", nag_per_photo=[1.0], sga_per_photo=[0.0])
    other = tmp_path / "b.json"
    other.write_text(
        json.dumps({**_SHARED, "seed": 1, "budget_s": 1800.0, "nag_per_photo": [1.0], "sga_per_photo": [1.0]})
    )
    result = _pool(first, str(other))
    assert result.returncode == 2 and "disagree on budget_s" in error_line(result)


# nag_tf.sets --merge: K-sets scored in separate runs of one split, drawn and summarised as one.
_SET_RUN = {
    "target": "efficientnet_lite0",
    "transfer": ["efficientnet_lite1"],
    "budget_s": 1800.0,
    "eval_images": 141,
    "machine": "AMD EPYC, 2 cores",
    "seed": 0,
    "split": "imagenet-sample holdout=0.2 split_seed=5",
}


def _set_row(coverage, seconds, cos=0.1, passes=1000):
    return {
        "coverage": coverage,
        "mean_fooling": coverage / 2,
        "majority": coverage / 4,
        "classes95": 40,
        "pairwise_cos": cos,
        "coverage_lite1": coverage / 2,
        "seconds": seconds,
        "image_passes": passes,
    }


def _write_set_run(folder, name, by_k, **overrides):
    """A nag_tf.sets output scoring the K in by_k ({method: {K: row}}), with the keys its own run
    read off those K only (stale once merged: its reach_k)."""
    ks = sorted({int(k) for rows in by_k.values() for k in rows})
    summary = {**_SET_RUN, "ks": ks, "by_k": by_k, "nag_reach_k": ks[-1], **overrides}
    summary.update({f"k{k}_nag_minus_best_coverage": 0.01 * k for k in ks})
    path = folder / f"{name}.log"
    path.write_text(f"sga: set K=5, run 1/5, 360 s, seed 5000\n{json.dumps(summary)}\n")
    return str(path)


def _merge_sets(*paths, workdir):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "nag_tf.sets",
            f"--merge={','.join(paths)}",
            f"--workdir={workdir}",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT),
        timeout=300,
    )


def test_distribution_runs_merge_into_one_coverage_table_with_reach_recomputed(tmp_path):
    early = _write_set_run(
        tmp_path,
        "k5_10",
        {
            "nag": {"5": _set_row(0.96, 1800.0), "10": _set_row(0.97, 1800.0)},
            "sga": {"5": _set_row(0.60, 1810.0, cos=0.3), "10": _set_row(0.70, 1820.0, cos=0.2)},
        },
        k5_best_baseline_lite1="sga",
        k5_nag_minus_best_coverage_lite1=0.2,
        k5_nag_minus_best_coverage_ci_lite1=[0.1, 0.3],
    )
    late = _write_set_run(
        tmp_path,
        "k50",
        {"nag": {"50": _set_row(0.98, 1800.0)}, "sga": {"50": _set_row(0.95, 1900.0, cos=0.05)}},
    )
    result = _merge_sets(late, early, workdir=tmp_path / "merged")
    assert result.returncode == 0, result.stderr[-2000:]
    merged = json.loads(result.stdout.strip().splitlines()[-1])
    assert merged["ks"] == [5, 10, 50]
    assert list(merged["by_k"]["sga"]) == ["5", "10", "50"]
    # NAG reaches 0.95 at K = 5, which the K = 50 run alone could not know; SGA only at K = 50.
    assert merged["nag_reach_k"] == 5 and merged["nag_reach_seconds"] == 1800.0
    assert merged["sga_reach_k"] == 50 and merged["sga_reach_seconds"] == 1900.0
    assert merged["baseline_pairwise_cos"] == {"sga": 0.05}  # at the largest K
    assert merged["k5_nag_minus_best_coverage"] == 0.05 and merged["k50_nag_minus_best_coverage"] == 0.5
    assert f"{'sga':17s}  50    0.950" in result.stdout
    assert (
        "K=5, lite1: NAG's coverage minus the best baseline's (sga): +0.2000 (95% +0.1000 to +0.3000)" in result.stdout
    )
    assert "Threat models: coverage = an attacker who may try all K" in result.stdout
    assert (tmp_path / "merged" / "coverage_at_k.png").stat().st_size > 0


@pytest.mark.parametrize(
    "late_by_k, override, expected",
    [
        ({"sga": {"50": _set_row(0.9, 1800.0)}}, {"machine": "Intel Xeon, 2 cores"}, "disagree on machine"),
        ({"sga": {"5": _set_row(0.6, 1800.0)}}, {}, "sga K=5 is in two runs"),
        # The same lscpu name, but NAG trained again (here: twice the passes in its 1800 s).
        ({"nag": {"1": _set_row(0.98, 1800.0, passes=2000)}}, {}, "NAG's sets come from different trainings"),
    ],
)
def test_distribution_merge_refuses_other_machines_a_set_scored_twice_and_a_retrained_nag(
    tmp_path, late_by_k, override, expected
):
    early = _write_set_run(
        tmp_path, "early", {"nag": {"5": _set_row(0.9, 1800.0)}, "sga": {"5": _set_row(0.6, 1800.0)}}
    )
    late = _write_set_run(tmp_path, "late", late_by_k, **override)
    result = _merge_sets(early, late, workdir=tmp_path / "merged")
    assert expected in error_line(result)
    assert not (tmp_path / "merged" / "coverage_at_k.png").exists()


# nag_tf.sets --pool: NAG minus the best set baseline over splits x seeds, paired photo by photo.
def _scored_set_run(split, seed, per_photo, **overrides):
    """A nag_tf.sets summary with white-box per-photo coverage lists ({set: {K: [0/1 per photo]}})."""
    by_k = {m: {k: _set_row(float(np.mean(v)), 1800.0) for k, v in lists.items()} for m, lists in per_photo.items()}
    return {
        **_SET_RUN,
        "split": split,
        "seed": seed,
        "ks": [5],
        "by_k": by_k,
        "per_photo": {"coverage": per_photo},
        **overrides,
    }


_SPLIT4 = {"nag": {"5": [1, 1, 0, 1]}, "dm_uap_forks": {"5": [1, 0, 1, 1]}, "sga": {"5": [0, 0, 0, 1]}}
_SPLIT5 = {"nag": {"5": [1, 1, 1, 0, 0]}, "dm_uap_forks": {"5": [1, 1, 0, 0, 0]}, "sga": {"5": [1, 0, 0, 0, 0]}}


def test_pooled_sets_pair_nag_with_the_baseline_that_covers_most_over_all_runs():
    from nag_tf.comparison import set_pool

    only_in_one = {**_SPLIT4, "dm_uap_joint": {"5": [1, 1, 1, 1]}}  # not in split 5: not pooled
    pooled = set_pool.pool([_scored_set_run("s4", 0, only_in_one), _scored_set_run("s5", 0, _SPLIT5)])
    cell = pooled["pooled"]["coverage"]["5"]
    assert cell["nag"] == pytest.approx(6 / 9, abs=1e-4) and cell["dm_uap_forks"] == pytest.approx(5 / 9, abs=1e-4)
    assert "dm_uap_joint" not in cell and cell["best_baseline"] == "dm_uap_forks"
    mean, low, high = cell["nag_minus_best"]
    assert mean == pytest.approx(1 / 9, abs=1e-4) and low <= mean <= high and low < 0  # 9 photos: a wide interval
    assert cell["photo_runs"] == 9 and cell["runs"] == 2
    assert pooled["runs"] == [{"split": "s4", "seed": 0}, {"split": "s5", "seed": 0}]


@pytest.mark.parametrize(
    "second, expected",
    [
        (dict(split="s4"), "split 's4' seed 0 is given twice"),
        (dict(budget_s=600.0), "disagree on budget_s"),
        (dict(scored_before_lists=True), "output 2 has no per-photo lists"),
    ],
)
def test_pooling_refuses_a_run_twice_another_budget_and_an_old_scoring(second, expected):
    from nag_tf.comparison import set_pool
    from nag_tf.errors import NAGError

    old = second.pop("scored_before_lists", False)
    other = _scored_set_run(second.pop("split", "s5"), 0, _SPLIT5, **second)
    if old:
        del other["per_photo"]
    with pytest.raises(NAGError, match=expected):
        set_pool.pool([_scored_set_run("s4", 0, _SPLIT4), other])
    with pytest.raises(NAGError, match="two or more"):
        set_pool.pool([other])


def test_the_pool_mode_prints_the_pooled_difference_and_its_json_last(tmp_path):
    paths = []
    for name, split, lists in (("a", "s4", _SPLIT4), ("b", "s5", _SPLIT5)):
        paths.append(tmp_path / f"{name}.log")
        paths[-1].write_text("a table\n" + json.dumps(_scored_set_run(split, 0, lists)) + "\n")
    png = tmp_path / "pooled.png"
    result = _sets(f"--pool={paths[0]},{paths[1]}", f"--pool_png={png}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "best set baseline dm_uap_forks 0.556; NAG minus it +11.1 points" in result.stdout
    assert json.loads(result.stdout.strip().splitlines()[-1])["pooled"]["coverage"]["5"]["runs"] == 2
    assert f"plot: {png}" in result.stdout and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_pool_plot_without_runs_to_pool_is_refused_before_anything_runs(tmp_path):
    result = _sets(f"--pool_png={tmp_path / 'pooled.png'}")
    assert result.returncode != 0 and "pass --pool=a.log,b.log" in error_line(result)
    assert not (tmp_path / "pooled.png").exists()


def test_the_pool_plot_has_a_panel_per_measure_and_an_interval_per_k(tmp_path, monkeypatch):
    from nag_tf.comparison import set_pool
    from nag_tf.evaluation import plots

    drawn = {}
    monkeypatch.setattr(plots, "difference_intervals", lambda panels, path, *a, **k: drawn.update(panels) or path)
    runs = [_scored_set_run(split, 0, lists) for split, lists in (("s4", _SPLIT4), ("s5", _SPLIT5))]
    for run in runs:  # a transfer measure beside the white-box one
        run["per_photo"]["coverage_lite1"] = run["per_photo"]["coverage"]
    set_pool.plot_pool(set_pool.pool(runs), tmp_path / "p.png")
    assert list(drawn) == ["efficientnet_lite0 (white-box)", "lite1 (black-box)"]
    (k, mean, low, high, label) = drawn["efficientnet_lite0 (white-box)"][0]
    assert (k, label) == (5, "dm_uap_forks") and mean == pytest.approx(100 / 9, abs=0.01) and low <= mean <= high


def _sets(*args):
    return subprocess.run(
        [sys.executable, "-m", "nag_tf.sets", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT),
        timeout=300,
    )
