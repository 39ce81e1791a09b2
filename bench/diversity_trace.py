r"""How a run's diversity constraint behaved, step by step: mu, the batch's pairwise cosine, fooling.

  python bench/diversity_trace.py --runs=/tmp/a/nag,/tmp/c/nag --labels=cosine,chord --out=/tmp/trace.png

Reads each training log directory's TensorBoard scalars (train/diversity_penalty_weight, the
penalty's weight mu; train/pair_cosine; train/fooling_rate, the epoch's running mean) and draws
them in three panels, one line per run, so windup (mu growing while the samples stay collapsed)
and overshoot (the cosine falling far below its target) show at a glance. The last line is JSON:
per run, mu's peak and its step, the steps spent collapsed (cosine >= 0.99), the lowest cosine
after the first step below the target, and the final values.
"""

import glob
import json
import os

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

_RUNS = flags.DEFINE_list("runs", [], "Training log directories (each holding train/ events).")
_LABELS = flags.DEFINE_list("labels", [], "One label per run (default: the folder names).")
_TARGET = flags.DEFINE_float("target_cosine", 0.4, "The constraint's target pairwise cosine, drawn as a line.")
_OUT = flags.DEFINE_string("out", "diversity_trace.png", "The PNG to write.")

_TAGS = {"mu": "train/diversity_penalty_weight", "cosine": "train/pair_cosine", "fooling": "train/fooling_rate"}
COLLAPSED = 0.99


def read_scalars(logdir):
    """{name: {step: value}} for the three traced scalars of one run (a missing tag gives an empty series)."""
    import tensorflow as tf
    from tensorboard.backend.event_processing import event_accumulator

    from nag_tf.errors import NAGError

    if not glob.glob(os.path.join(logdir, "train", "events.*")):
        raise NAGError(f"{logdir}: no train/events.* file; give a training log directory (--logdir of the run)")
    accumulator = event_accumulator.EventAccumulator(
        os.path.join(logdir, "train"), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    present = set(accumulator.Tags()["tensors"])
    return {
        name: {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)}
        if tag in present
        else {}
        for name, tag in _TAGS.items()
    }


def summarise(series, target_cosine):
    """The trace's figures: mu's peak, steps collapsed, the lowest cosine once below the target, final values."""
    mu, cosine = series["mu"], series["cosine"]
    steps = sorted(cosine)
    below = [s for s in steps if cosine[s] <= target_cosine]
    peak_step = max(mu, key=mu.get) if mu else None
    return {
        "steps": steps[-1] if steps else 0,
        "mu_peak": round(mu[peak_step], 3) if mu else None,
        "mu_peak_step": peak_step,
        "steps_collapsed": sum(cosine[s] >= COLLAPSED for s in steps),
        "first_below_target_step": below[0] if below else None,
        "lowest_cosine_after": round(min(cosine[s] for s in below), 3) if below else None,
        "final_cosine": round(cosine[steps[-1]], 3) if steps else None,
        "final_mu": round(mu[max(mu)], 3) if mu else None,
    }


def draw(traces, target_cosine, path):
    from nag_tf.evaluation.plots import plt  # the package's matplotlib, set to draw to files only

    figure, axes = plt.subplots(3, 1, figsize=(7.5, 7.5), sharex=True)
    for label, series in traces.items():
        for axis, name in zip(axes, ("mu", "cosine", "fooling")):
            points = sorted(series[name].items())
            if points:
                axis.plot(*zip(*points), label=label, linewidth=1)
    axes[1].axhline(target_cosine, color="grey", linestyle="--", linewidth=1, label="target")
    for axis, text in zip(
        axes, ("penalty weight mu", "pairwise cosine of the batch's deltas", "training fooling rate")
    ):
        axis.set_ylabel(text, fontsize=8)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[-1].set_xlabel("training step")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def _main(argv):
    del argv
    from nag_tf.errors import NAGError

    if not _RUNS.value:
        raise NAGError("--runs is empty: give one or more training log directories, comma-separated")
    labels = _LABELS.value or [os.path.basename(os.path.normpath(run)) for run in _RUNS.value]
    if len(labels) != len(_RUNS.value):
        raise NAGError(f"--labels has {len(labels)} names for {len(_RUNS.value)} runs: give one per run")
    traces = {label: read_scalars(run) for label, run in zip(labels, _RUNS.value)}
    path = draw(traces, _TARGET.value, _OUT.value)
    summary = {label: summarise(series, _TARGET.value) for label, series in traces.items()}
    print(json.dumps({"png": path, "target_cosine": _TARGET.value, "runs": summary}))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
