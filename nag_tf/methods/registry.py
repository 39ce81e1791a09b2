"""The attack methods by name: a new method is one module of this package and one line here.

A method module gives NAME, TITLE, settings_type(), comparison_settings(), train(settings, target, photos,
budget, seed, workdir, loop, heldout) and load(workdir, name, marks)
(nag_tf.methods.run calls them); its settings record declares every default once.
"""

import dataclasses
import importlib

from nag_tf.errors import NAGError

__all__ = ["METHODS", "module_of", "method_for", "settings_for"]

METHODS = {
    "nag": "nag_tf.methods.nag",
    "sgd_uap": "nag_tf.methods.sgd_uap",
    "sga": "nag_tf.methods.sga",
    "dm_uap": "nag_tf.methods.dm_uap",
}


def module_of(name):
    """The method module registered as `name`."""
    if name not in METHODS:
        raise NAGError(f"unknown method {name!r}: choose one of {', '.join(METHODS)}")
    return importlib.import_module(METHODS[name])


def method_for(settings):
    """The method module whose settings record `settings` is."""
    for name in METHODS:
        module = module_of(name)
        if type(settings) is module.settings_type():
            return module
    raise NAGError(
        f"{type(settings).__name__} is no method's settings: use nag_tf.methods.settings_for(name), name one of "
        f"{', '.join(METHODS)}"
    )


def settings_for(name, **changes):
    """The settings the comparisons use for method `name`, with `changes` to its fields, validated."""
    settings = module_of(name).comparison_settings()
    try:
        return dataclasses.replace(settings, **changes).validate()
    except TypeError as error:
        raise NAGError(f"settings_for({name!r}): {error}") from None
