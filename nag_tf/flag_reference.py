r"""Write the flag reference (docs/flags.md) from the flag definitions themselves.

  python -m nag_tf.flag_reference > docs/flags.md

Every binary of the package, every flag it takes (its own and those of the flag modules it uses), with
its type, default and help, as absl holds them after the binary's module is imported. The docs' page is
this output; `tests/test_docs.py` regenerates it and fails when the page is out of date, so a changed
default or help text cannot leave the reference behind.

Each binary is read in its own Python process: they define their flags on absl's one global FLAGS at
import, and several define the same names (two in one process would clash).
"""

import json
import re
import subprocess
import sys

__all__ = ["BINARIES", "binary_flags", "reference_markdown"]

# The package's binaries, in the order a user meets them, with what each is for.
BINARIES = (
    ("nag_tf.train", "train a NAG generator"),
    ("nag_tf.evaluate", "score generators and perturbations: transfer matrix, diversity"),
    ("nag_tf.compare", "the head-to-head: methods on the same photos, budget and evaluation"),
    ("nag_tf.sets", "K perturbations per method at equal compute: coverage@K"),
    ("nag_tf.harden", "fine-tune a copy of the target on perturbations, then attack it"),
    ("nag_tf.harden_compare", "hardening schemes compared at equal compute, paired with the control"),
    ("nag_tf.defend", "a detector and a rectifier per perturbation source, against unseen and adaptive attacks"),
    ("nag_tf.baselines.sgd_uap", "the SGD-UAP baseline"),
    ("nag_tf.baselines.sga", "the SGA baseline"),
    ("nag_tf.baselines.dm_uap", "the DM-UAP baseline"),
    ("export.saved_model", "export a generator as a versioned SavedModel"),
    ("export.tflite", "convert an export to TFLite"),
    ("export.serve", "serve exports over TF Serving's REST and gRPC protocols"),
)

# Runs in a fresh interpreter: import the binary, then list every flag not defined by absl itself.
_COLLECT = r"""
import importlib, json, sys
from absl import flags
importlib.import_module(sys.argv[1])
def _shown(default):
    if default is None:
        return None
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, (list, tuple)):
        return ",".join(map(str, default))
    return str(default)
found = []
for module, module_flags in flags.FLAGS.flags_by_module_dict().items():
    if module.startswith("absl"):
        continue
    for flag in module_flags:
        found.append(dict(
            name=flag.name, type=flag.flag_type(), default=_shown(flag.default), help=flag.help or "",
            choices=sorted(getattr(flag.parser, "enum_values", None) or []),
        ))
print(json.dumps(sorted({f["name"]: f for f in found}.values(), key=lambda f: f["name"])))
"""


def binary_flags(module):
    """The flags `python -m MODULE` takes, as [{name, type, default, help, choices}], sorted by name.

    Args:
      module: the binary's importable name, e.g. "nag_tf.train".

    Returns:
      One dict a flag; `default` as text (booleans lower-case, lists comma-joined), None where unset.
    """
    answer = subprocess.run(
        [sys.executable, "-c", _COLLECT, module], capture_output=True, text=True, check=False, timeout=120
    )
    if answer.returncode != 0:
        raise RuntimeError(f"reading the flags of {module} failed:\n{answer.stderr[-2000:]}")
    return json.loads(answer.stdout)


def _cell(text):
    """One Markdown table cell: no line breaks, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(flag):
    default = flag["default"]
    if default is None:
        return "(none)"
    return f"`{_cell(default)}`" if default != "" else "''"


def _help(flag):
    """The help text, without the `<a|b>: ` prefix absl puts on an enum's (the type column lists them)."""
    text = flag["help"]
    return re.sub(r"^<[^>]*>: ", "", text) if flag["choices"] else text


def reference_markdown(binaries=BINARIES):
    """The whole docs/flags.md page as a string.

    Args:
      binaries: (module, what it is for) pairs, in page order.
    """
    lines = [
        "# Flag reference",
        "",
        "Every flag of every binary, with its default and help, generated from the flag definitions by",
        "`python -m nag_tf.flag_reference > docs/flags.md` (`tests/test_docs.py` fails when this page is out",
        "of date). absl's own flags (`--flagfile`, `--helpfull`, ...) are left out; `--flagfile=NAME.flags`",
        "reads a file of flags, later flags on the command line override it, and a bare packaged name",
        "(`quickstart.flags`) is found inside the package. Booleans also take `--noNAME`. How the settings",
        "work together: [training.md](training.md), [evaluation.md](evaluation.md), [serving.md](serving.md).",
        "",
        "| binary | for |",
        "|---|---|",
    ]
    lines += [f"| [`{module}`](#{module.replace('.', '')}) | {what} |" for module, what in binaries]
    for module, what in binaries:
        lines += ["", f"## {module}", "", f"`python -m {module}`: {what}.", ""]
        lines += ["| flag | type | default | help |", "|---|---|---|---|"]
        for flag in binary_flags(module):
            kind = flag["type"] + (f": {', '.join(flag['choices'])}" if flag["choices"] else "")
            lines.append(f"| `--{flag['name']}` | {_cell(kind)} | {_default(flag)} | {_cell(_help(flag))} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(reference_markdown())
