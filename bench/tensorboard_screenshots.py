r"""Screenshots of TensorBoard's Scalars and Images dashboards for a run, with headless Chromium.

  python bench/tensorboard_screenshots.py --logdir=runs/quickstart

Installs Debian's `chromium` package when it is missing (apt-get; root or
sudo needed), starts `tensorboard --logdir` on 127.0.0.1 and a free port,
waits until it serves the run, and saves one PNG per dashboard into --out_dir
(by default bench/results/, where docs/training.md shows them). Last line: JSON
(the files, their sizes, the run, the machine).
"""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import _common
from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_LOGDIR = flags.DEFINE_string("logdir", "runs/quickstart", "The training log directory to show.")
_OUT_DIR = flags.DEFINE_string("out_dir", os.path.join(ROOT, "bench", "results"), "Where the PNG files go.")
_WIDTH = flags.DEFINE_integer("width", 1400, "Browser window width in pixels.")
_HEIGHT = flags.DEFINE_integer("height", 1000, "Browser window height in pixels.")
_RENDER_MS = flags.DEFINE_integer("render_ms", 20000, "Virtual time Chromium gives the page to load and draw.")

# Dashboard -> URL fragment: the Scalars dashboard (training, held-out, diversity series) and the
# Images dashboard (perturbation grid and adversarial images), light theme.
DASHBOARDS = {"scalars": "#scalars", "images": "#images"}


def _chromium():
    """The chromium binary, installed from Debian's registry when missing."""
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    prefix = [] if os.geteuid() == 0 else (["sudo"] if shutil.which("sudo") else None)
    if prefix is None:
        raise SystemExit("chromium is not installed and this user cannot install it: apt-get install chromium")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run([*prefix, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run([*prefix, "apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env)
    return shutil.which("chromium")


def _wait_for_runs(port, process, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/plugin/scalars/tags", timeout=10) as response:
                if "train" in json.loads(response.read()):
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"tensorboard did not serve {_LOGDIR.value} (is it a training log directory?)")


def _main(argv):
    del argv
    from nag_tf.errors import NAGError

    if not os.path.isdir(os.path.join(_LOGDIR.value, "train")):
        raise NAGError(f"--logdir={_LOGDIR.value!r} holds no TensorBoard events (no train/); train first")
    chromium = _chromium()
    os.makedirs(_OUT_DIR.value, exist_ok=True)
    port = _common.free_port()
    tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    board = subprocess.Popen(
        [tensorboard if os.path.exists(tensorboard) else "tensorboard", f"--logdir={_LOGDIR.value}",
         "--host=127.0.0.1", f"--port={port}", "--samples_per_plugin=images=100"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    shots = {}
    try:
        _wait_for_runs(port, board)
        for name, fragment in DASHBOARDS.items():
            path = os.path.join(_OUT_DIR.value, f"tensorboard_{name}.png")
            subprocess.run(
                [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 "--force-device-scale-factor=1", f"--window-size={_WIDTH.value},{_HEIGHT.value}",
                 f"--virtual-time-budget={_RENDER_MS.value}", f"--screenshot={path}",
                 f"http://127.0.0.1:{port}/{fragment}"],
                check=True, capture_output=True, timeout=300,
            )  # fmt: skip
            shots[name] = {"file": os.path.relpath(path, ROOT), "bytes": os.path.getsize(path)}
            print(f"{name}: {path}")
    finally:
        board.terminate()
        board.wait(timeout=30)
    print(json.dumps({"logdir": _LOGDIR.value, "screenshots": shots, "machine": _common.machine()}))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
