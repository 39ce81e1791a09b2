"""Baselines evaluated in the same framework as NAG (same data pipeline, targets and metrics)."""
