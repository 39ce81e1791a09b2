"""docs/api.md's code runs as written: the API trains NAG and SGA through the one call and scores them.

Marked slow? No: about a minute on the demo set, the one end-to-end check of the public API on a real
target (EfficientNet-Lite0's offline weights), in the default run.
"""

import os
import re
import subprocess
import sys

from helpers.cli import CHILD_PYTHONPATH

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def _python_blocks():
    with open(os.path.join(ROOT, "docs", "api.md"), encoding="utf-8") as handle:
        return re.findall(r"```python\n(.*?)```", handle.read(), re.S)


def test_the_api_page_runs_and_prints_each_methods_fooling_rate(tmp_path):
    (block,) = _python_blocks()
    result = subprocess.run(
        [sys.executable, "-c", block],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # train's default workdirs are temporary folders; nothing is written beside the docs
        timeout=600,
        env=dict(os.environ, PYTHONPATH=CHILD_PYTHONPATH),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rates = dict(re.findall(r"^(NAG|SGA) fooling rate (\d\.\d+)", result.stdout, re.M))
    assert set(rates) == {"NAG", "SGA"} and all(0.0 <= float(rate) <= 1.0 for rate in rates.values())
    coverage = float(re.search(r"NAG coverage@5 (\d\.\d+)", result.stdout).group(1))
    assert coverage >= float(rates["NAG"])  # five perturbations cover at least what one does on average
    assert re.search(r"NAG minus SGA on the same photos: [+-]\d\.\d+ \(95% [+-]\d\.\d+ to [+-]\d\.\d+\)", result.stdout)


def test_a_bad_call_gets_a_clear_error():
    import nag_tf

    for call, message in (
        (lambda: nag_tf.settings_for("fgsm"), "unknown method 'fgsm'"),
        (lambda: nag_tf.settings_for("sga", batchsize=3), "unexpected keyword"),
        (lambda: nag_tf.load_target("no_such_net"), "unknown target 'no_such_net'"),
        (lambda: nag_tf.paired_difference([0, 1], [1]), "pairs photo by photo"),
    ):
        try:
            call()
        except nag_tf.NAGError as error:
            assert message in str(error)
        else:
            raise AssertionError(f"no NAGError: {message}")
