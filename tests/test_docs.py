"""The docs cannot rot silently: every `python -m MODULE` and `python bench/X.py` command in README.md and
docs/ names a module that exists, and every `--flag` it passes is defined by that command.

Flags are found in the source, not by importing the binaries (they all define flags on absl's one
global FLAGS, and several define the same names): a command's flags are those its own file defines
plus those of the flag modules it uses (the training flags, the baselines' shared flags, bench's).
"""

import glob
import importlib.util
import os
import re

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DOCS = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True))
# Defined by absl itself for every binary.
ABSL_FLAGS = {"flagfile", "help", "helpfull", "helpshort", "undefok", "only_check_args"}
# Files whose flags a command also takes when its own file uses them (by the name it imports).
SHARED = {
    "define_train_flags": "nag_tf/training/train_flags.py",
    "define_harden_flags": "nag_tf/harden.py",
    "from nag_tf.baselines import baseline_flags": "nag_tf/baselines/baseline_flags.py",
    "import _common": "bench/_common.py",
    "import _methods": "bench/_methods.py",
}
_DEFINE = re.compile(r"DEFINE_(?:string|integer|float|bool|boolean|enum|list|multi_string|multi_integer)\(\s*\"(\w+)\"")
# A command runs to the end of its line (continuations joined first) or to a pipe, ;, && or a backtick.
_COMMAND = re.compile(r"python3? (?:-m ([\w.]+)|(bench/\w+\.py))([^\n|;&`]*)")


def _commands():
    """(doc, module or script, [flag names]) for every command in the docs (backslash-continued lines joined)."""
    found = []
    for doc in DOCS:
        with open(doc, encoding="utf-8") as handle:
            text = re.sub(r"\\\n\s*", " ", handle.read())
        for match in _COMMAND.finditer(text):
            module, script, rest = match.group(1), match.group(2), match.group(3) or ""
            # --nag_set=--learning_rate=... passes a flag on to another command: only the outer one counts.
            flags = re.findall(r"(?<![\w=-])--([a-z]\w*)", rest)
            found.append((os.path.relpath(doc, ROOT), module or script, flags))
    return found


def _source_file(command):
    if command.endswith(".py"):
        return os.path.join(ROOT, command)
    spec = importlib.util.find_spec(command)
    return spec.origin if spec is not None else None


def _defined_flags(path):
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    names = set(_DEFINE.findall(source))
    for usage, shared in SHARED.items():
        shared_path = os.path.join(ROOT, shared)
        if usage in source and os.path.abspath(path) != shared_path:
            names |= _defined_flags(shared_path)
    return names


COMMANDS = _commands()
OURS = sorted({c for _, c, _ in COMMANDS if c.startswith(("nag_tf", "export", "keras_apps", "bench/"))})


def test_the_docs_name_commands():
    assert {"nag_tf.train", "nag_tf.evaluate", "export.saved_model", "export.serve"} <= set(OURS)


@pytest.mark.parametrize("command", OURS)
def test_every_documented_command_exists_and_takes_its_flags(command):
    path = _source_file(command)
    assert path is not None and os.path.exists(path), f"{command} is named in the docs but does not exist"
    defined = _defined_flags(path) | ABSL_FLAGS
    unknown = {}
    for doc, name, flags in COMMANDS:
        if name != command:
            continue
        for flag in flags:
            # absl booleans also take --noNAME.
            if flag not in defined and not (flag.startswith("no") and flag[2:] in defined):
                unknown.setdefault(flag, set()).add(doc)
    assert not unknown, f"{command}: flags named in the docs but not defined: {unknown}"
