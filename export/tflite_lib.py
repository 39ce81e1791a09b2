"""Converts an exported SavedModel to TFLite (the `serving_default` and `sample` signatures)."""

import tensorflow as tf

from nag_tf.errors import NAGError
from nag_tf.evaluation.sources import load_saved_model

__all__ = ["convert", "QUANTIZATIONS"]

QUANTIZATIONS = ("none", "float16", "dynamic")


def convert(saved_model_dir, quantize="none", signature_keys=("serving_default",)):
    """Returns the .tflite flatbuffer as bytes.

    Args:
      saved_model_dir: a version directory written by export_saved_model.
      quantize: "none" (float32), "float16" (weights in float16) or
        "dynamic" (int8 weights, dynamic-range quantisation).
      signature_keys: signatures to convert.
    """
    if quantize not in QUANTIZATIONS:
        raise NAGError(f"--quantize={quantize!r}: expected one of {', '.join(QUANTIZATIONS)}")
    # The converter reports a damaged version deep inside MLIR, if at all: load it first for a one-line error.
    load_saved_model(saved_model_dir)
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=list(signature_keys))
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()
