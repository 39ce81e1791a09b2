"""Flags from a settings record and back: a binary's flags for a method take their names, defaults and
help text from the record's fields (nag_tf.records), so no default is written twice.

`define_settings_flags(defaults, prefix)` defines one flag a field (`--sga_batch_size` with prefix
"sga_"), its default the `defaults` record's value; `settings_from_flags` reads them back into a
validated record, naming a bad value by its flag.
"""

import dataclasses

from absl import flags

from nag_tf.errors import NAGError
from nag_tf.records import help_of

__all__ = ["define_settings_flags", "settings_from_flags"]

# The flags this module defines are its caller's (a binary's): absl then lists them in the binary's --help.
flags.disclaim_key_flags()

# A tuple field is a comma-separated list flag (--sources=a,b), read back as a tuple of strings.
_DEFINE = {
    bool: flags.DEFINE_bool,
    int: flags.DEFINE_integer,
    float: flags.DEFINE_float,
    str: flags.DEFINE_string,
    tuple: flags.DEFINE_list,
}


def define_settings_flags(defaults, flag_values=flags.FLAGS, prefix="", skip=()):
    """Defines a flag for each field of the record `defaults` (but `skip`), named prefix + field name."""
    for field in dataclasses.fields(defaults):
        if field.name in skip:
            continue
        value = getattr(defaults, field.name)
        define = _DEFINE[type(value)]
        define(
            prefix + field.name,
            list(value) if isinstance(value, tuple) else value,
            help_of(field),
            flag_values=flag_values,
        )


def settings_from_flags(defaults, flag_values, prefix="", skip=()):
    """The record of `defaults`' type with each field read from its flag, validated.

    Raises:
      NAGError: the first bad value, named by its flag ("--sga_minibatch=300 is larger than ...").
    """
    values = {
        field.name: flag_values[prefix + field.name].value
        for field in dataclasses.fields(defaults)
        if field.name not in skip
    }
    values = {name: tuple(value or ()) if isinstance(value, list) else value for name, value in values.items()}
    try:
        return dataclasses.replace(defaults, **values).validate()
    except NAGError as error:
        raise NAGError(f"--{prefix}{error}") from None
