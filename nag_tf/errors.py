"""One exception type for every problem a user can fix.

Binaries catch `NAGError` and print its message as one line with exit code 2,
so a typo never surfaces as a deep TensorFlow traceback.
"""


class NAGError(ValueError):
    """A problem with the user's input (flags, data, weights) and how to fix it."""
