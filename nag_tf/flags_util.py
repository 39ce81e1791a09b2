"""Shared binary plumbing: one clear line and exit code 2 for every user error.

absl exits with code 1 and a multi-line usage dump on a bad flag; a user
wants the one line that names the flag. NAGError from the library gets the
same treatment.
"""

import os
import sys
import tempfile

from absl import flags

from nag_tf.errors import NAGError, TrainingStopped

__all__ = [
    "parse_flags_or_exit",
    "run_or_exit",
    "start_tensorflow_quietly",
    "expand_flagfiles",
    "resolve_flagfile",
    "PACKAGED_CONFIGS",
    "USAGE_ERROR",
]

USAGE_ERROR = 2
# The flagfiles that ship inside the package (the repository's configs/ is a link to this folder).
PACKAGED_CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
# Flags that name the training data: one given on the command line replaces a flagfile's other one.
_DATA_SOURCES = ("data_dir", "tfds_name")


def _fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(USAGE_ERROR)


def resolve_flagfile(path):
    """`path` if it exists (relative to the working directory), else the packaged flagfile of that name.

    So `--flagfile=vgg19.flags` works from any directory once the package is installed.
    """
    if os.path.exists(path):
        return path
    packaged = os.path.join(PACKAGED_CONFIGS, os.path.basename(path))
    if os.path.exists(packaged):
        return packaged
    names = (
        sorted(name for name in os.listdir(PACKAGED_CONFIGS) if name.endswith(".flags"))
        if os.path.isdir(PACKAGED_CONFIGS)
        else []
    )
    raise NAGError(f"flagfile {path!r} does not exist here, nor is it a packaged one ({', '.join(names)})")


def _flag_name(argument):
    return argument.lstrip("-").split("=", 1)[0] if argument.startswith("--") else None


def expand_flagfiles(argv, _depth=0):
    """argv with each --flagfile=X replaced by X's flags (recursively): [(argument, came from a flagfile)].

    Why not absl's own --flagfile: it looks for files, nested ones included,
    relative to the working directory only; here a name that is not there is
    the packaged flagfile of that name (`resolve_flagfile`). Order is kept, so
    a flag after a flagfile overrides it (absl's rule: the later one wins).
    """
    if _depth > 10:
        raise NAGError("flagfiles include each other more than 10 deep; is there a cycle?")
    expanded = []
    for argument in argv:
        if _flag_name(argument) != "flagfile" or "=" not in argument:
            expanded.append((argument, _depth > 0))
            continue
        path = resolve_flagfile(argument.split("=", 1)[1])
        with open(path, encoding="utf-8") as handle:
            lines = [line.strip() for line in handle]
        included = [line for line in lines if line and not line.startswith(("#", "//"))]
        expanded += expand_flagfiles(included, _depth + 1)
    return expanded


def _later_data_source_wins(expanded):
    """Drops a flagfile's data source when the command line names the other one (e.g. --data_dir over --tfds_name)."""
    given = {_flag_name(arg) for arg, from_file in expanded if not from_file and "=" in arg and arg.split("=", 1)[1]}
    chosen = [name for name in _DATA_SOURCES if name in given]
    if len(chosen) != 1:
        return [arg for arg, _ in expanded]
    kept = []
    for argument, from_file in expanded:
        name = _flag_name(argument)
        if from_file and name in _DATA_SOURCES and name != chosen[0]:
            print(f"note: --{chosen[0]} on the command line replaces the flagfile's {argument}", file=sys.stderr)
            continue
        kept.append(argument)
    return kept


_HELP_FLAGS = ("--help", "-help", "--helpshort", "-helpshort", "--helpfull", "-helpfull", "-?", "--helpxml")


def parse_flags_or_exit(argv):
    """absl `flags_parser` that turns flag errors (unknown flag, bad value, missing flagfile) into one line.

    Flagfiles are expanded first (`expand_flagfiles`: packaged ones by name), and a data source
    given on the command line replaces a flagfile's other one.
    """
    try:
        argv = [argv[0]] + _later_data_source_wins(expand_flagfiles(argv[1:]))
    except NAGError as error:
        _fail(str(error))
    except OSError as error:
        _fail(f"cannot read flagfile: {error}")
    try:
        return flags.FLAGS(argv)
    except SystemExit as exit_:
        # absl's help flags print the usage and exit 1; help that was asked for is a success (exit 0), so
        # `python -m nag_tf.compare --help && ...` and scripts under `set -e` go on.
        if exit_.code == 1 and any(arg.split("=")[0] in _HELP_FLAGS for arg in argv[1:]):
            sys.exit(0)
        raise
    except flags.Error as error:
        _fail(str(error).splitlines()[0])
    except OSError as error:  # absl raises this for an unreadable --flagfile
        _fail(f"cannot read flagfile: {error}")


def start_tensorflow_quietly():
    """Imports TensorFlow and finds its devices with its C++ start-up chatter kept out of the terminal.

    On a CPU machine TensorFlow prints half a dozen lines (oneDNN, cudart_stub,
    cpu_feature_guard, cuInit) before any of ours, partly before its log
    level applies, so the first line a user reads would not be ours. Unless
    TF_CPP_MIN_LOG_LEVEL is set (then the user asked for TensorFlow's own
    logging), this sets it to 3 and sends file descriptor 2 to a temporary
    file while TensorFlow starts; if the start fails, what was captured is
    printed.
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
            failed = None
        except BaseException as error:  # noqa: BLE001 -- re-raised below, after stderr is back
            failed = error
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        if failed is not None:
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", errors="replace"))
            raise failed


def run_or_exit(main, argv):
    """Starts TensorFlow quietly, then runs `main(argv)`, turning NAGError into one line on stderr and exit code 2."""
    try:
        start_tensorflow_quietly()
        main(argv)
    except TrainingStopped as stopped:
        print(f"stopped: {stopped}", file=sys.stderr)
        sys.exit(stopped.exit_code)
    except NAGError as error:
        _fail(str(error))
