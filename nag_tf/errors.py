"""One exception type for every problem a user can fix (defined in keras_apps.errors, the lowest layer).

Binaries catch `NAGError` and print its message as one line with exit code 2,
so a typo never surfaces as a deep TensorFlow traceback.
"""

from keras_apps.errors import NAGError

__all__ = ["NAGError", "TrainingStopped"]


class TrainingStopped(BaseException):
    """Work stopped cleanly on a signal (SIGTERM, SIGINT): training after writing a checkpoint, a
    baseline after saving its perturbation so far, evaluation before writing any report.

    Not an error: binaries print the message and exit with 128 + the signal's number, as a
    process ended by that signal would, so a scheduler sees the job as not finished.
    A BaseException, like KeyboardInterrupt, because evaluation raises it from the signal handler
    wherever the main thread is: as an Exception it was swallowed by code that catches Exception
    and carries on (AutoGraph, converting a function when SIGTERM came, logged "could not
    transform ... Cause: SIGTERM" and ran it unconverted, so the stop was lost), or taken for a
    damaged file by the loaders that turn any Exception into a NAGError.
    """

    def __init__(self, message, signal_number=None):
        super().__init__(message)
        # A library caller's own stop request (no signal) exits as a failure that is not a crash.
        self.exit_code = 1 if signal_number is None else 128 + int(signal_number)
