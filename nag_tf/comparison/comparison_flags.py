"""The flags every comparison binary shares (photos, target, methods and their settings, scoring) and their
one conversion into a `ComparisonPlan`.

Each baseline's settings are flags named after its record's fields (`--sga_batch_size`, `--dm_uap_rho`),
their defaults the record's comparison settings (nag_tf.methods.<method>.COMPARISON); NAG's come from a
training flagfile. xi, norm and clip are NAG's for every method.
"""

import dataclasses
import os
import tempfile

from absl import flags

from nag_tf import record_flags
from nag_tf.errors import NAGError
from nag_tf.methods import registry

__all__ = ["define_comparison_flags", "plan_from_flags"]

# The flags this module defines are its caller's (a binary's): absl then lists them in the binary's --help.
flags.disclaim_key_flags()

_SHARED_BY_ALL = ("xi", "norm", "clip")  # the threat model: NAG's, for every method


def define_comparison_flags(methods, workdir_prefix, flag_values=flags.FLAGS):
    """The shared flags; `methods` is the --methods default."""
    define = dict(flag_values=flag_values)
    flags.DEFINE_list("methods", list(methods), f"Methods to compare ({', '.join(registry.METHODS)}).", **define)
    flags.DEFINE_string("target", "efficientnet_lite0", "Target (white-box).", **define)
    flags.DEFINE_list(
        "transfer", ["efficientnet_lite1", "efficientnet_lite2"], "Black-box targets (empty: none).", **define
    )
    flags.DEFINE_string("train_data", "demo", "Training photos (folder with labels.csv, or demo).", **define)
    flags.DEFINE_string("eval_data", "demo", "Held-out photos (folder with labels.csv, or demo's holdout/).", **define)
    flags.DEFINE_string("split", None, "Instead of --train_data/--eval_data: split this folder by --holdout.", **define)
    flags.DEFINE_float("holdout", 0.2, "With --split: the held-out fraction (or count).", **define)
    flags.DEFINE_integer("split_seed", 0, "With --split: the split's seed (runs with other --seed share it).", **define)
    flags.DEFINE_integer("seed", 0, "Seed of every method's run and of the scoring.", **define)
    flags.DEFINE_integer("samples", 10, "Sampled perturbations per source in the scoring.", **define)
    flags.DEFINE_string(
        "workdir", None, f"Where runs go (default: a new {workdir_prefix}* temporary folder).", **define
    )
    flags.DEFINE_string("nag_flagfile", "quickstart.flags", "NAG's training flagfile.", **define)
    flags.DEFINE_multi_string(
        "nag_set", [], "More NAG flags after the flagfile, e.g. --nag_set=--learning_rate=0.002.", **define
    )
    flags.DEFINE_integer(
        "nag_selection_images", 64, "Training photos NAG sets aside to choose its best epoch.", **define
    )
    for name in registry.METHODS:
        if name != "nag":
            defaults = registry.module_of(name).comparison_settings()
            record_flags.define_settings_flags(defaults, flag_values, prefix=f"{name}_", skip=_SHARED_BY_ALL)


def plan_from_flags(flag_values, workdir_prefix):
    """The validated ComparisonPlan of parsed flags (NAGError names a bad value by its flag)."""
    from nag_tf.comparison.plan import ComparisonPlan, photo_folders
    from nag_tf.methods import nag

    chosen = list(dict.fromkeys(flag_values["methods"].value))
    unknown = set(chosen) - set(registry.METHODS)
    if unknown or not chosen:
        raise NAGError(f"--methods must name one or more of {', '.join(registry.METHODS)} (got {chosen})")
    if flag_values["samples"].value < 1:
        raise NAGError(f"--samples={flag_values['samples'].value} must be at least 1")
    workdir = flag_values["workdir"].value or tempfile.mkdtemp(prefix=workdir_prefix)
    os.makedirs(workdir, exist_ok=True)
    train, held_out, split = photo_folders(
        flag_values["split"].value,
        flag_values["holdout"].value,
        flag_values["split_seed"].value,
        flag_values["train_data"].value,
        flag_values["eval_data"].value,
        workdir,
    )
    nag_settings = dataclasses.replace(
        nag.comparison_settings(flag_values["nag_flagfile"].value, flag_values["nag_set"].value),
        target=flag_values["target"].value,
        selection_images=flag_values["nag_selection_images"].value,
    )
    threat = {name: getattr(nag_settings, name) for name in _SHARED_BY_ALL}
    settings = {}
    for name in chosen:
        if name == "nag":
            settings[name] = nag_settings
            continue
        defaults = dataclasses.replace(registry.module_of(name).comparison_settings(), **threat)
        settings[name] = record_flags.settings_from_flags(defaults, flag_values, f"{name}_", _SHARED_BY_ALL)
    return ComparisonPlan(
        target=flag_values["target"].value,
        train_folder=train,
        eval_folder=held_out,
        split=split,
        settings=settings,
        seed=flag_values["seed"].value,
        samples=flag_values["samples"].value,
        transfer=tuple(flag_values["transfer"].value),
        workdir=workdir,
    )
