"""Running the project's binaries as a user does, and what one must print when it refuses its input:
exit code 2 and one `error:` line."""

import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The PYTHONPATH of a binary a test starts: the repository, and tests/ for helpers.tiny_targets.
CHILD_PYTHONPATH = os.pathsep.join([ROOT, os.path.join(ROOT, "tests")])


def run_module(module, *args, timeout=600):
    """`python -m module args...` from the repository root, quiet TensorFlow, output captured as text."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=CHILD_PYTHONPATH)
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout
    )


def error_line(result):
    """The single `error: ...` line on stderr of a finished subprocess that exited 2, with no traceback."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr[-2000:]
    return lines[0]


def tiny_run_flags(image_folder, **extra):
    """The flags of a tiny training run on a test folder (the tiny target, random weights, 8 photos held
    out and 8 set aside for selection, batch 8), then `--name=value` for each of `extra`, in order."""
    flags = [
        "--target=tiny_cnn",
        "--weights=none",
        f"--data_dir={image_folder}",
        "--holdout=8",
        "--selection_images=8",
        "--batch_size=8",
    ]
    return flags + [f"--{name}={value}" for name, value in extra.items()]
