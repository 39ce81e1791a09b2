"""The options of a hardening run (nag_tf.harden), defined once without TensorFlow: the binary's flags take
their defaults from here, so `--help` stays instant and no default has a copy."""

import dataclasses
import os

from nag_tf.choices import HARDEN_SCHEMES
from nag_tf.errors import NAGError

__all__ = ["HARDEN_SCHEMES", "HardenOptions"]


@dataclasses.dataclass(frozen=True)
class HardenOptions:
    out_dir: str = "runs/harden"
    scheme: str = "nag"  # what perturbs the fine-tuning images (HARDEN_SCHEMES)
    generator_dir: str = ""  # scheme nag: a trained run to harden with; "" = the "before" NAG attack
    set_size: int = 5  # scheme sga_set: K SGA perturbations, each trained for attack_budget_s / K
    uat_step: float = 1.0  # scheme uat: the signed step on the 0-255 scale (ours: xi / 10)
    epochs: int = 2
    learning_rate: float = 1e-5
    adversarial_fraction: float = 0.5  # share of each batch that is perturbed
    attack_budget_s: float = 120.0  # seconds for each newly trained attack (NAG and SGA)
    # SGA's outer batch and minibatch for these short budgets (ours: the authors' 250 buys too few steps).
    sga_batch: int = 32
    sga_minibatch: int = 8

    def validate(self):
        checks = (
            (self.scheme in HARDEN_SCHEMES, f"--scheme={self.scheme!r} is not one of {', '.join(HARDEN_SCHEMES)}"),
            (self.epochs >= 1, f"--harden_epochs={self.epochs} must be at least 1"),
            (self.learning_rate > 0, f"--harden_learning_rate={self.learning_rate} must be positive"),
            (
                0 < self.adversarial_fraction <= 1,
                f"--adversarial_fraction={self.adversarial_fraction} must be in (0, 1]",
            ),
            (self.attack_budget_s > 0, f"--attack_budget_s={self.attack_budget_s} must be positive"),
            (self.set_size >= 2, f"--set_size={self.set_size} must be at least 2 (1 is --scheme=sga)"),
            (self.uat_step > 0, f"--uat_step={self.uat_step} must be positive"),
            (self.sga_batch >= 1 and self.sga_minibatch >= 1, "--sga_batch and --sga_minibatch must be >= 1"),
            (
                not self.generator_dir or os.path.exists(os.path.join(self.generator_dir, "config.json")),
                f"--generator_dir={self.generator_dir!r} is not a training log directory (no config.json)",
            ),
            (not self.generator_dir or self.scheme == "nag", "--generator_dir is for --scheme=nag only"),
        )
        for ok, message in checks:
            if not ok:
                raise NAGError(message)
        return self
