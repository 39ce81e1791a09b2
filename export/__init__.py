"""Export of trained NAG generators: SavedModel for TF Serving, TFLite."""
