"""A training run: its flags (into `core.config.TrainConfig`), callbacks, checkpoints, devices and the loop (`train_lib`)."""
