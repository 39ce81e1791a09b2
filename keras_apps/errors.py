"""One exception type for every problem a user can fix.

It lives in keras_apps, the lowest layer, so the targets can raise it without
importing nag_tf (which imports keras_apps); `nag_tf.errors` re-exports it.
Binaries catch `NAGError` and print its message as one line with exit code 2,
so a typo never surfaces as a deep TensorFlow traceback.
"""

__all__ = ["NAGError"]


class NAGError(ValueError):
    """A problem with the user's input (flags, data, weights) and how to fix it."""
