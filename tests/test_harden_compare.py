"""python -m nag_tf.harden_compare end to end on the tiny target: two schemes, two seeds, paired with the control.

Marked slow: four hardening runs with their attacks (about two minutes). The schemes' own steps are
checked on hand values in tests/test_extensions.py, in the default run.
"""

import json
import os
import subprocess
import sys

import pytest
from helpers.cli import CHILD_PYTHONPATH, tiny_run_flags

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


@pytest.mark.slow
def test_two_schemes_share_the_attacks_and_each_is_paired_with_the_control(image_folder, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nag_tf.harden_compare",
            *tiny_run_flags(
                image_folder,
                latent_dim=4,
                generator="light",
                xi=40,
                learning_rate=0.01,
                eval_samples=3,
                verbose=0,
                attack_budget_s=2,
                harden_epochs=1,
                harden_learning_rate=0.001,
                schemes="sga,none",
                seeds="0,1",
                out_dir=tmp_path / "compare",
            ),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env=dict(os.environ, PYTHONPATH=CHILD_PYTHONPATH),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["schemes"] == ["sga", "none"] and summary["seeds"] == [0, 1]
    for attack in ("new_nag", "new_sga", "nag_before", "sga_before"):
        mean, low, high = summary[f"sga_minus_none_{attack}"]
        assert -1.0 <= low <= mean <= high <= 1.0
        assert 0.0 <= summary[f"none_fooling_{attack}"] <= 1.0
    assert summary["none_fooling_hardening"] is None  # the control hardens with nothing
    assert "| sga |" in result.stdout and "| none |" in result.stdout
    # Each seed's own table, whose means make the pooled one.
    assert sorted(summary["per_seed"]) == ["0", "1"] and "seed 1 (on the original" in result.stdout
    for key in ("none_fooling_new_nag", "sga_clean_accuracy"):
        seeds_mean = (summary["per_seed"]["0"][key] + summary["per_seed"]["1"][key]) / 2
        assert seeds_mean == pytest.approx(summary[key])
    for attack in ("new_nag", "new_sga"):
        mean, low, high = summary["per_seed"]["1"][f"sga_minus_none_{attack}"]
        assert low <= mean <= high
    # One set of attacks on the original (each a method run folder) and one split, shared by both schemes.
    assert sorted(os.listdir(tmp_path / "compare" / "seed0")) == ["nag_before", "none", "sga", "sga_before", "split"]
