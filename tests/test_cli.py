"""The training binary on bad input: one clear line on stderr, exit code 2, nothing left in the log directory."""

import os
import subprocess
import sys

import pytest
from helpers.cli import CHILD_PYTHONPATH, error_line, tiny_run_flags

ROOT = os.path.join(os.path.dirname(__file__), "..")


def _run(*args, cwd=ROOT):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=CHILD_PYTHONPATH)
    return subprocess.run(
        [sys.executable, "-m", "nag_tf.train", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


@pytest.fixture
def base(image_folder, tmp_path):
    logdir = tmp_path / "logs"
    return logdir, tiny_run_flags(image_folder, logdir=logdir)


@pytest.mark.parametrize(
    "extra, expected",
    [
        # Checked in-process for every setting by tests/faults/test_bad_config.py: here only with `-m slow`.
        *(
            pytest.param(extra, expected, marks=pytest.mark.slow)
            for extra, expected in [
                (["--xi=0"], "--xi=0.0 is outside (0, 255]"),
                (["--xi=300"], "outside (0, 255]"),
                (["--xi=nan"], "not a finite number"),
                (["--latent_dim=0"], "--latent_dim=0 must be at least 1"),
                (["--batch_size=0"], "--batch_size=0 must be at least 2"),
                (["--learning_rate=-1"], "must be positive"),
                (["--generator=huge"], "flag --generator=huge"),
            ]
        ),
        (["--target=alexnet"], "unknown target 'alexnet'; known targets:"),
        (["--weights=/nonexistent/w.h5"], "weights file '/nonexistent/w.h5' for target 'tiny_cnn' does not exist"),
        (["--batch_size=64"], "fewer than --batch_size=64 of the 40 usable training images"),
        (["--no_such_flag=1"], "no_such_flag"),
    ],
)
def test_bad_flags_give_one_line_and_exit_2_and_write_nothing(base, extra, expected):
    logdir, args = base
    result = _run(*args, *extra)
    assert result.returncode == 2
    assert expected in error_line(result)
    assert not logdir.exists()


def test_unknown_flag_in_a_flagfile(base, tmp_path):
    logdir, args = base
    flagfile = tmp_path / "bad.flags"
    flagfile.write_text("--target=tiny_cnn\n--diversity_wieght=3\n")
    result = _run(*args, f"--flagfile={flagfile}")
    assert result.returncode == 2 and "diversity_wieght" in error_line(result)


def test_empty_folder_and_missing_columns(base, tmp_path):
    logdir, args = base
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _run(*args, f"--data_dir={empty}")
    assert result.returncode == 2 and "no usable image" in error_line(result)
    bad_csv = tmp_path / "badcsv"
    bad_csv.mkdir()
    (bad_csv / "labels.csv").write_text("filename,label\na.jpg,1\n")
    result = _run(*args, f"--data_dir={bad_csv}")
    assert result.returncode == 2 and "lacks the column(s) class_index, file" in error_line(result)
    assert not logdir.exists()


def test_help_is_fast_and_lists_the_flags():
    result = _run("--help")
    assert "--diversity_weight" in result.stdout and "Traceback" not in result.stderr
    assert result.returncode == 0  # asked-for help is a success (absl alone exits 1)


def test_a_packaged_flagfile_is_found_by_name_from_any_directory(tmp_path):
    # vgg19.flags is not in tmp_path: the packaged one is used; a bogus name lists the packaged ones.
    result = _run("--flagfile=vgg19.flags", "--weights=none", "--target=no_such_net", cwd=str(tmp_path))
    assert "unknown target 'no_such_net'" in error_line(result)  # the flagfile was read, then the later --target won
    missing = _run("--flagfile=no_such.flags", cwd=str(tmp_path))
    line = error_line(missing)
    assert "no_such.flags" in line and "vgg19.flags" in line and "quickstart.flags" in line


def test_a_data_source_after_the_flagfile_replaces_the_flagfiles(image_folder, tmp_path):
    # vgg19.flags reads ImageNet through tfds; --data_dir on the command line replaces it (one step, tiny target).
    logdir = tmp_path / "run"
    result = _run(
        "--flagfile=vgg19.flags",
        f"--data_dir={image_folder}",
        "--target=tiny_cnn",
        "--weights=none",
        "--holdout=8",
        "--selection_images=8",
        "--batch_size=8",
        "--steps_per_epoch=1",
        "--epochs=1",
        "--latent_dim=4",
        "--generator=light",
        "--eval_samples=2",
        f"--logdir={logdir}",
        "--verbose=0",
        cwd=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--data_dir on the command line replaces the flagfile's --tfds_name=imagenet2012" in result.stderr
    assert "trained 1 steps" in result.stdout


def test_the_first_line_a_user_reads_is_ours():
    # Without TF_CPP_MIN_LOG_LEVEL (the user did not ask for TensorFlow's logging): no C++ start-up chatter;
    # and outside the tests the known targets are the product's, not the tests' tiny ones.
    env = {
        key: value for key, value in os.environ.items() if key not in ("TF_CPP_MIN_LOG_LEVEL", "NAG_TF_TARGET_MODULES")
    }
    env["PYTHONPATH"] = os.path.abspath(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "nag_tf.train", "--target=no_such_net", "--data_dir=demo"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: unknown target 'no_such_net'; known targets: efficientnet_b0"), result.stderr[:1000]
    assert "tiny_cnn" not in first and "vgg19" in first
