"""The evaluation report as files: report.md / .csv / .json, PNG figures, and TensorBoard."""

import csv
import json
import os
import shutil
import tempfile

import tensorflow as tf

from nag_tf.evaluation import plots

__all__ = ["write_report", "write_tensorboard"]


def write_report(report, out_dir, sources):
    """Writes report.md, report.csv, report.json and the PNG figures; returns the written paths.

    Every file is written in a staging folder and moved into `out_dir` whole (report.md last), so a
    stop mid-write never leaves a half-written file, and other files in `out_dir` are left alone.
    """
    os.makedirs(out_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".writing-", dir=out_dir)
    try:
        written = _write_files(report, staging, sources)
        names = sorted(os.listdir(staging), key=lambda name: name == "report.md")
        for name in names:
            os.replace(os.path.join(staging, name), os.path.join(out_dir, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {key: os.path.join(out_dir, os.path.relpath(path, staging)) for key, path in written.items()}


def _write_files(report, out_dir, sources):
    paths = {}
    with open(os.path.join(out_dir, "report.csv"), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "source",
                "target",
                "fooling_rate",
                "fooling_rate_std",
                "coverage",
                "classes95",
                "pairwise_cosine",
                "top_label",
            ]
        )
        for s in report.sources:
            for t in report.targets:
                r = s.per_target[t]
                writer.writerow(
                    [
                        s.name,
                        t,
                        f"{r.fooling_rates.mean():.4f}",
                        f"{r.fooling_rates.std():.4f}",
                        f"{r.coverage:.4f}",
                        r.classes95,
                        f"{s.pairwise_cosine:.4f}",
                        r.dominant[0][1],
                    ]
                )
    paths["csv"] = os.path.join(out_dir, "report.csv")
    lines = [
        f"# NAG evaluation ({report.images} images)",
        "",
        "## Fooling rate (transfer matrix: rows = perturbation sources, columns = targets)",
        "",
    ]
    lines.append("| source | " + " | ".join(report.targets) + " |")
    lines.append("|---|" + "---|" * len(report.targets))
    for s in report.sources:
        cells = [
            f"{100 * s.per_target[t].fooling_rates.mean():.2f} ± {100 * s.per_target[t].fooling_rates.std():.2f}"
            for t in report.targets
        ]
        lines.append(f"| {s.name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Diversity (first target)",
        "",
        "| source | coverage (fooled by at least one δ) | mean single-δ fooling rate | its 95% interval over "
        "photos | classes covering 95% | mean pairwise cosine of δ | dominant labels |",
        "|---|---|---|---|---|---|---|",
    ]
    first = report.targets[0]
    for s in report.sources:
        r = s.per_target[first]
        dominant = ", ".join(f"{name} ({100 * share:.1f}%)" for _, name, share in r.dominant)
        low, high = r.interval()
        lines.append(
            f"| {s.name} | {100 * r.coverage:.1f}% | {100 * r.fooling_rates.mean():.1f}% | "
            f"{100 * low:.1f}–{100 * high:.1f}% | {r.classes95} | {s.pairwise_cosine:.3f} | {dominant} |"
        )
    interpolated = [s for s in report.sources if s.interpolation is not None]
    if interpolated:
        lines += ["", "## Fooling rate along a line between two latent points", ""]
        for s in interpolated:
            lines.append(f"- {s.name}: " + " ".join(f"{100 * x:.1f}" for x in s.interpolation[0]))
    with open(os.path.join(out_dir, "report.md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    paths["md"] = os.path.join(out_dir, "report.md")
    with open(os.path.join(out_dir, "report.json"), "w") as handle:
        json.dump(report.to_json(), handle, indent=2)
    for source, result in zip(sources, report.sources):
        prefix = os.path.join(out_dir, result.name)
        shown = source.sample(min(8, source.distinct_samples or 8), 0).numpy()
        paths[f"{result.name}_grid"] = plots.perturbation_grid(shown, source.xi, prefix + "_perturbations.png")
        paths[f"{result.name}_crops"] = plots.perturbation_crops(shown, source.xi, prefix + "_perturbation_crops.png")
        paths[f"{result.name}_labels"] = plots.dominant_labels(
            result.per_target[first], prefix + "_dominant_labels.png", f"{result.name} on {first}"
        )
        if result.interpolation is not None:
            paths[f"{result.name}_interpolation"] = plots.interpolation_strip(
                result.interpolation[1], result.interpolation[0], source.xi, prefix + "_interpolation.png"
            )
    return paths


def write_tensorboard(report, paths, logdir):
    """The report as text and the figures as images in TensorBoard."""
    writer = tf.summary.create_file_writer(os.path.join(logdir, "evaluation"))
    with writer.as_default(step=0):
        with open(paths["md"]) as handle:
            tf.summary.text("report", handle.read())
        for key, path in paths.items():
            if path.endswith(".png"):
                tf.summary.image(key, tf.io.decode_png(tf.io.read_file(path))[tf.newaxis])
        for source, row in zip(report.sources, report.matrix()):
            for target, value in zip(report.targets, row):
                tf.summary.scalar(f"fooling_rate/{source.name}/{target}", float(value))
    writer.flush()
