"""A training run: its flags (into `core.config.TrainConfig`), callbacks, checkpoints, devices, the loop."""
