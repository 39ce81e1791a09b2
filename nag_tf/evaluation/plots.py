"""PNG figures of an evaluation: sampled perturbations, dominant labels, the latent interpolation,
fooling rate against optimisation seconds (and where NAG's curve reaches each baseline's), coverage@K,
paired differences with their intervals, and the defence's accuracy per training source.

Perturbations are shown rescaled from [-xi, xi] to [0, 1] (grey = no change).
"""

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from keras_apps.class_names import class_name  # noqa: E402

__all__ = [
    "perturbation_image",
    "perturbation_grid",
    "perturbation_crops",
    "dominant_labels",
    "interpolation_strip",
    "learning_curves",
    "coverage_at_k",
    "accuracy_bars",
    "difference_intervals",
]


def perturbation_image(delta, xi):
    """delta in [-xi, xi] as an image in [0, 1], grey = no change: the one way every figure shows one."""
    return np.clip((np.asarray(delta) / xi + 1.0) / 2.0, 0.0, 1.0)


def perturbation_grid(deltas, xi, path, columns=4):
    """A grid of sampled perturbations."""
    count = len(deltas)
    rows = -(-count // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.2 * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < count:
            axis.imshow(perturbation_image(deltas[index], xi))
    figure.suptitle(f"sampled perturbations (xi = {xi:g}, rescaled)")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def dominant_labels(target_result, path, title, count=10):
    """Bar chart of the most frequent adversarial labels (share of all adversarial predictions)."""
    histogram = target_result.histogram
    top = np.argsort(histogram)[::-1][:count]

    names = [class_name(i, len(histogram), names=target_result.class_names) for i in top]
    figure, axis = plt.subplots(figsize=(7, 0.4 * count + 1.2))
    axis.barh(range(len(top))[::-1], 100 * histogram[top], color="tab:red")
    axis.set_yticks(range(len(top))[::-1], names)
    axis.set_xlabel("% of adversarial predictions")
    axis.set_title(f"{title}: {target_result.classes95} classes cover 95%")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def interpolation_strip(deltas, rates, xi, path):
    """Perturbations along a line between two latent points, each titled with its fooling rate."""
    count = len(deltas)
    figure, axes = plt.subplots(1, count, figsize=(1.6 * count, 2.0), squeeze=False)
    for axis, delta, rate in zip(axes.flat, deltas, rates):
        axis.imshow(perturbation_image(delta, xi))
        axis.set_title(f"{100 * rate:.1f}%", fontsize=8)
        axis.axis("off")
    figure.suptitle("fooling rate along a line between two latent points")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def learning_curves(curves, path, title):
    """Fooling rate against optimisation seconds, one line per method; curves: {method: [(seconds, rate, std)]}."""
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    for method, points in curves.items():
        seconds, rates, stds = (np.asarray(column, np.float64) for column in zip(*sorted(points)))
        axis.errorbar(seconds, 100 * rates, yerr=100 * stds, marker="o", capsize=3, label=method)
    axis.set_xlabel("optimisation seconds (validation, pictures and checkpoints not counted)")
    axis.set_ylabel("fooling rate on held-out photos, %")
    axis.set_title(title, fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def perturbation_crops(deltas, xi, path, crop=64, columns=4):
    """Full-resolution crops (top-left `crop` px, one pixel per pixel) of sampled perturbations: the texture itself."""
    count = len(deltas)
    rows = -(-count // columns)
    scale = max(crop / 40.0, 1.0)
    figure, axes = plt.subplots(rows, columns, figsize=(scale * columns, scale * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < count:
            axis.imshow(perturbation_image(deltas[index][:crop, :crop], xi), interpolation="nearest")
    figure.suptitle(f"sampled perturbations, {crop}x{crop} px crops at full resolution")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def coverage_at_k(panels, path, title):
    """Coverage@K against K, a panel per target, one line per method; panels: {target: {method: [(K, coverage)]}}."""
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False, sharey=True)
    for axis, (target, curves) in zip(axes[0], panels.items()):
        for method, points in curves.items():
            ks, values = (np.asarray(column, np.float64) for column in zip(*sorted(points)))
            axis.plot(ks, 100 * values, marker="o", label=method)
        axis.set_xscale("log")
        # The K measured, as plain numbers (a log axis over 5-10 would otherwise label 5 x 10^0).
        measured = sorted({k for points in curves.values() for k, _ in points})
        axis.set_xticks(measured, [str(int(k)) for k in measured])
        axis.minorticks_off()
        axis.set_xlabel("K perturbations in the set (equal total compute)")
        axis.set_title(target + (" (white-box)" if axis is axes[0][0] else " (black-box)"), fontsize=9)
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("photos fooled by at least one of the K, %")
    axes[0][0].legend()
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def accuracy_bars(rows, path, title, ylabel="top-1 accuracy (held-out)"):
    """Grouped bars: a group per column (an attack), a bar per row (a defence's training source).

    Args:
      rows: {row name: {column: value in [0, 1]}} (the defence: the bare target first, then each source;
        columns clean and each unseen or adaptive attack); a row without a column has no bar there.
      path: the PNG to write.
      title: the figure's title (the target; "pooled over N runs").
      ylabel: the value's name.

    Returns:
      path.
    """
    columns = list(dict.fromkeys(column for values in rows.values() for column in values))  # in order met
    width = 0.8 / len(rows)
    figure, axis = plt.subplots(figsize=(1.6 * len(columns) + 2, 3.5))
    for index, (name, values) in enumerate(rows.items()):
        axis.bar(np.arange(len(columns)) + index * width, [values.get(c, np.nan) for c in columns], width, label=name)
    axis.set_xticks(np.arange(len(columns)) + 0.4 - width / 2, columns)
    axis.set_ylabel(ylabel)
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def difference_intervals(panels, path, title, ylabel, goal=None):
    """Paired differences with their 95% intervals against K, a panel per measure, zero marked.

    Args:
      panels: {panel title: [(K, mean, low, high, label)]} in points; the label (what the difference is
        taken against, e.g. the best baseline's name) is written beside each interval.
      path: the PNG to write.
      title: the figure's title (the data, the budget, the runs pooled).
      ylabel: what the difference is.
      goal: a level to draw dashed (a "lower end above" bar), or None.

    Returns:
      path.
    """
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False, sharey=True)
    for axis, (name, points) in zip(axes[0], panels.items()):
        points = sorted(points)
        spots = np.arange(len(points))  # K as categories: the K measured are few and far apart
        means = np.asarray([p[1] for p in points], np.float64)
        errors = np.asarray([[p[1] - p[2] for p in points], [p[3] - p[1] for p in points]], np.float64)
        axis.errorbar(spots, means, yerr=errors, fmt="o", capsize=4)
        for spot, (*_, high, label) in zip(spots, points):
            axis.annotate(label, (spot, high), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=7)
        axis.axhline(0, color="black", linewidth=0.8)
        if goal is not None:
            axis.axhline(goal, color="grey", linestyle="--", linewidth=0.8, label=f"goal: lower end above {goal:+g}")
            axis.legend(fontsize=7, loc="lower right")
        axis.set_xticks(spots, [str(p[0]) for p in points])
        axis.set_xlim(-0.5, len(points) - 0.5)
        axis.margins(y=0.12)  # room for the labels above the highest interval
        axis.set_xlabel("K perturbations in the set")
        axis.set_title(name, fontsize=9)
        axis.grid(alpha=0.3, axis="y")
    axes[0][0].set_ylabel(ylabel)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
