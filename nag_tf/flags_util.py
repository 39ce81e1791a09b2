"""Shared binary plumbing: one clear line and exit code 2 for every user error.

absl exits with code 1 and a multi-line usage dump on a bad flag; a user
wants the one line that names the flag. NAGError from the library gets the
same treatment.
"""

import sys

from absl import flags

from nag_tf.errors import NAGError

__all__ = ["parse_flags_or_exit", "run_or_exit", "USAGE_ERROR"]

USAGE_ERROR = 2


def _fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(USAGE_ERROR)


def parse_flags_or_exit(argv):
    """absl `flags_parser` that turns flag errors (unknown flag, bad value, missing flagfile) into one line."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        _fail(str(error).splitlines()[0])
    except OSError as error:  # absl raises this for an unreadable --flagfile
        _fail(f"cannot read flagfile: {error}")


def run_or_exit(main, argv):
    """Runs `main(argv)`, turning NAGError into one line on stderr and exit code 2."""
    try:
        main(argv)
    except NAGError as error:
        _fail(str(error))
