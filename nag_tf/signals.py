"""SIGTERM and SIGINT as a polite request to stop: the one handler every long-running loop shares.

A scheduler (a preemptible GPU, Slurm, Kubernetes) sends SIGTERM some seconds
before SIGKILL; Ctrl-C sends SIGINT. Inside `SignalCatcher` neither kills the
process: the signal is recorded and the loop stops where it can keep its work
(training ends the epoch and checkpoints; a baseline saves its perturbation so
far apart from a finished one), or, in `interrupt` mode, work that keeps
nothing (evaluation) stops at once. Binaries turn the `TrainingStopped` raised
here into one line and exit code 128 + the signal's number.

Python's own `signal` module is all this needs; the class only keeps the
install / record / restore steps in one place (outside the main thread, where
Python allows no handlers, it records nothing).
"""

import signal
import threading

from nag_tf.errors import TrainingStopped

__all__ = ["SignalCatcher"]


class SignalCatcher:
    """Records SIGTERM/SIGINT while active; previous handlers come back on exit.

    Attributes:
      received: the signal's name ("SIGTERM") once one arrived, else None.
      signal_number: its number.
      interrupt: when set (a message), a signal raises TrainingStopped(f"{name} {interrupt}") at once
        instead of only being recorded; set it to None around work that must not be cut (writing files).
    """

    def __init__(self, signals=(signal.SIGTERM, signal.SIGINT), interrupt=None):
        self.signals = signals
        self.interrupt = interrupt
        self.received = None
        self.signal_number = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for number in self.signals:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info):
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}
        return False

    def _handle(self, number, frame):
        del frame
        self.received, self.signal_number = signal.Signals(number).name, number
        if self.interrupt:
            raise TrainingStopped(f"{self.received} {self.interrupt}", number)

    def stop_requested(self):
        return self.received is not None

    def check(self, message):
        """Raises TrainingStopped(f"{signal} {message}") if a signal arrived."""
        if self.received:
            raise TrainingStopped(f"{self.received} {message}", self.signal_number)
