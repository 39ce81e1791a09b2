"""Installed like a library: the wheel, installed non-editable into a fresh venv, runs from outside the repository.

Marked `wheel` (minutes: it builds and installs the package): .ci/run runs it with `python -m pytest -m wheel`.
The fresh venv gets only the wheel; its dependencies (TensorFlow and the rest, ~2 GB) come from the test
runner's environment through a .pth line, so nothing is downloaded, and the repository is not on its path.
"""

import glob
import os
import site
import subprocess
import sys
import venv

import pytest

pytestmark = pytest.mark.wheel
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def _outside_env():
    """The environment without the tests' PYTHONPATH (conftest puts the checkout on it for the binaries the
    other tests start): with it, pip in the fresh venv sees the checkout's nag_tf as installed and skips the wheel."""
    return {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "NAG_TF_TARGET_MODULES")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of a fresh venv with the wheel installed, a working directory outside the repository)."""
    base = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(base / "dist"),
            ROOT,
        ],
        check=True,
        timeout=600,
        env=_outside_env(),
    )
    wheel = glob.glob(str(base / "dist" / "nag_tf-*.whl"))[0]
    venv.create(base / "venv", with_pip=True)
    python = str(base / "venv" / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", wheel], check=True, timeout=600, env=_outside_env()
    )
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The dependencies from this environment, after the venv's own site-packages (so the wheel's nag_tf wins).
    with open(os.path.join(purelib, "runner_dependencies.pth"), "w") as handle:
        handle.write("\n".join(site.getsitepackages()) + "\n")
    outside = base / "work"
    outside.mkdir()
    return python, str(outside)


def _run(installed, *args, timeout=900):
    python, cwd = installed
    env = dict(_outside_env(), TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([python, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)
    assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-3000:])
    return result


def test_the_installed_package_is_the_wheel_not_the_checkout(installed):
    where = _run(installed, "-c", "import nag_tf, keras_apps, export; print(nag_tf.__file__)").stdout.strip()
    assert not where.startswith(ROOT) and "site-packages" in where
    # Everything a run reads travels with the wheel.
    files = _run(
        installed,
        "-c",
        "import os, nag_tf, keras_apps; d = os.path.dirname; "
        "print(len(os.listdir(os.path.join(d(nag_tf.__file__), 'configs'))), "
        "len(os.listdir(os.path.join(d(nag_tf.__file__), 'demo_data', 'train'))), "
        "len(os.listdir(os.path.join(d(keras_apps.__file__), 'reference'))), "
        "len(os.listdir(os.path.join(d(nag_tf.__file__), 'pretrained', 'efficientnet_lite0'))))",
    ).stdout.split()
    assert int(files[0]) >= 11 and int(files[1]) >= 192 and int(files[2]) >= 1
    assert int(files[3]) >= 4  # the shipped generator: config, weights, card.json, MODEL_CARD.md


def test_train_evaluate_and_export_from_outside_the_repository(installed):
    _, cwd = installed
    quick = _run(
        installed,
        "-m",
        "nag_tf.train",
        "--flagfile=quickstart.flags",
        "--steps_per_epoch=2",
        "--epochs=1",
        "--eval_samples=2",
        "--logdir=runs/quick",
        "--verbose=0",
    )
    assert "trained 2 steps" in quick.stdout and "held-out fooling rate" in quick.stdout
    paper = _run(
        installed,
        "-m",
        "nag_tf.train",
        "--flagfile=vgg19.flags",
        "--weights=none",
        "--data_dir=demo",
        "--steps_per_epoch=1",
        "--epochs=1",
        "--batch_size=4",
        "--selection_images=4",
        "--eval_samples=1",
        "--logdir=runs/vgg19",
        "--verbose=0",
    )
    assert "replaces the flagfile's --tfds_name" in paper.stderr and "trained 1 steps" in paper.stdout
    _run(
        installed,
        "-m",
        "nag_tf.evaluate",
        "--sources=runs/quick",
        "--data_dir=demo",
        "--white_box_samples=2",
        "--interpolation_steps=0",
        "--out_dir=runs/evaluation",
        "--verbose=0",
    )
    assert os.path.exists(os.path.join(cwd, "runs", "evaluation", "report.md"))
    _run(installed, "-m", "export.saved_model", "--checkpoint=runs/quick", "--export_dir=exports/nag")
    assert os.path.exists(os.path.join(cwd, "exports", "nag", "1", "saved_model.pb"))


def test_the_comparisons_run_from_the_installed_wheel(installed):
    """Issue #51: the head-to-head and the K-sets are in the package, not in bench/."""
    import json

    assert "--budget_s" in _run(installed, "-m", "nag_tf.compare", "--help").stdout
    assert "--ks" in _run(installed, "-m", "nag_tf.sets", "--help").stdout
    compared = _run(
        installed, "-m", "nag_tf.compare", "--methods=nag,sga,dm_uap", "--budget_s=30", "--marks=", "--workdir=cmp"
    )
    summary = json.loads(compared.stdout.strip().splitlines()[-1])
    assert {"nag_fr", "sga_fr", "dm_uap_fr", "nag_minus_best_ci", "nag_transfer_lite1"} <= set(summary)
    assert "NAG minus the best baseline" in compared.stdout
    sets = _run(
        installed, "-m", "nag_tf.sets", "--methods=nag,sga", "--ks=1,5", "--budget_s=20", "--transfer=", "--workdir=s"
    )
    summary = json.loads(sets.stdout.strip().splitlines()[-1])
    assert set(summary["by_k"]["sga"]) == {"1", "5"} and "k5_nag_minus_best_coverage_ci" in summary
    assert len(summary["per_photo"]["coverage"]["sga"]["5"]) == summary["eval_images"]  # what --pool pairs
