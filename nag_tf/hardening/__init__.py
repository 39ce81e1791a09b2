"""Fine-tuning a copy of the target on universal perturbations, and attacking the copy afterwards."""
