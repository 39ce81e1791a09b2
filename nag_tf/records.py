"""Typed, frozen settings records for the attack methods, and their one reading from text.

A method's settings are a frozen dataclass whose fields carry their default and their help text
(`setting(default, help)`): the binaries define their flags from the fields (`nag_tf.record_flags`), the
comparisons override them from `--set=sga.batch_size=64`-style text (`with_overrides`), and nothing else
declares a default. TensorFlow-free, so `--help` stays instant.
"""

import dataclasses
import json

from nag_tf.errors import NAGError

__all__ = ["setting", "same_identity", "help_of", "with_overrides", "check", "as_json"]


def setting(default, help_text, added=""):
    """A settings field: its default and the help text its flag shows.

    `added` (when the field came, e.g. "2026-12-07"): a field added after runs were on record, whose default
    keeps the method as it was. At its default it does not tell runs apart (`same_identity`), so finished
    runs recorded before it existed are reused rather than refused.
    """
    return dataclasses.field(default=default, metadata={"help": help_text, "added": added})


def same_identity(recorded, identity, settings):
    """Whether a run's record (`recorded`, its identity dict) and a new run's `identity` are the same run:
    equal once the `settings` fields declared `added` are dropped from both where they hold the default
    (a record from before such a field lacks it; a later one holds the default)."""
    defaults = {
        field.name: json.loads(json.dumps(field.default))
        for field in dataclasses.fields(settings)
        if field.metadata.get("added")
    }

    def without_defaulted_additions(found):
        if not isinstance(found, dict) or not isinstance(found.get("settings"), dict):
            return found
        kept = {k: v for k, v in found["settings"].items() if not (k in defaults and v == defaults[k])}
        return {**found, "settings": kept}

    return without_defaulted_additions(recorded) == without_defaulted_additions(identity)


def help_of(field):
    """The help text a settings field was declared with ("" when none)."""
    return field.metadata.get("help", "")


def _parsed(field, text, where):
    kind = type(field.default)
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        return kind(text)
    except ValueError:
        raise NAGError(f"{where}: {field.name} takes a {kind.__name__}, got {text!r}") from None


def with_overrides(settings, assignments, where="--set"):
    """`settings` with fields replaced from "name=value" texts, validated.

    Raises:
      NAGError: an unknown field (the known ones are listed), a value of the wrong type, or a bad value.
    """
    fields = {field.name: field for field in dataclasses.fields(settings)}
    changes = {}
    for assignment in assignments:
        name, equals, text = assignment.partition("=")
        if not equals or name not in fields:
            raise NAGError(f"{where}: {assignment!r} is not name=value with a name among {', '.join(fields)}")
        changes[name] = _parsed(fields[name], text, where)
    return dataclasses.replace(settings, **changes).validate()


def check(rules):
    """Raises NAGError with the message of the first (ok, message) rule that fails: a record's validate()."""
    for ok, message in rules:
        if not ok:
            raise NAGError(message)


def as_json(settings):
    """The settings as a run's record stores them (JSON values: tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(settings)))
