"""What `python -m nag_tf.evaluate` is asked to do, as one frozen, validated record.

The binary's flags are made from these fields (nag_tf.record_flags), so each default and help text is
written once, here; `nag_tf.evaluate.evaluate(options)` runs one (the binary is a call of it).
TensorFlow-free, so `--help` stays instant.
"""

import dataclasses

from nag_tf.records import check, setting

__all__ = ["EvaluateOptions"]


@dataclasses.dataclass(frozen=True)
class EvaluateOptions:
    sources: tuple = setting((), "Training log directories and/or .npy perturbations (rows of the matrix).")
    targets: tuple = setting(
        (), "Targets (columns); the first is the white-box one (default: the first source's target(s))."
    )
    weights: str = setting("imagenet", "Weights for every target: imagenet, none or a weights file.")
    preprocess: str = setting(
        "",
        "For --targets that are .keras files or SavedModel directories: their input scale (caffe | tf | torch | "
        "lite | none | scale=A,B); a source trained on a model file already records it.",
    )
    data_dir: str = setting("demo", "Evaluation images: a folder with labels.csv ('demo' = held-out demo photos).")
    class_names: str = setting(
        "", "A file of class names, one a line (class 0 first), for a target of your own classes."
    )
    white_box_samples: int = setting(100, "Perturbations on a source's own target (paper: 100).")
    black_box_samples: int = setting(10, "Perturbations on other targets (paper: 10).")
    interpolation_steps: int = setting(11, "Points on the latent line (0 = skip).")
    batch_size: int = setting(32, "Batch size.")
    seed: int = setting(0, "Sample number of the first sampled latent (sample k is z number seed + k).")
    out_dir: str = setting("runs/evaluation", "Where the report and figures go.")
    logdir: str = setting("", "Also write the report to TensorBoard here.")
    verbose: int = setting(1, "1: a progress bar with ETA; 0: quiet.")

    def validate(self):
        """Raises NAGError naming the first bad field (the binary prefixes it with --); returns self."""
        check(
            (
                (bool(self.sources), "sources is required: training log directories or .npy perturbations"),
                (self.white_box_samples >= 1, f"white_box_samples={self.white_box_samples} must be at least 1"),
                (self.black_box_samples >= 1, f"black_box_samples={self.black_box_samples} must be at least 1"),
                (self.interpolation_steps >= 0, f"interpolation_steps={self.interpolation_steps} must be 0 or more"),
                (self.batch_size >= 1, f"batch_size={self.batch_size} must be at least 1"),
                (self.seed >= 0, f"seed={self.seed} must be 0 or more"),
                (self.verbose in (0, 1), f"verbose={self.verbose}: pick 0 (quiet) or 1 (a progress bar)"),
            )
        )
        return self
