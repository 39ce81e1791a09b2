"""Trained detectors and rectifiers kept in the comparison's workdir, so an interrupted comparison resumes.

Why: a rectifier step sends twice a batch of photos through the rectifier at full resolution and through the
target, about 4 s on one CPU core against EfficientNet-Lite0, so 300 steps cost about 20 minutes per
source. The perturbation runs were reused from the workdir when finished and the defences trained on them
were not: a stopped comparison lost every defence it had trained, and adding an adaptive attack later
retrained them all. A defence is saved under workdir/defences/<source>/<kind>-<digest>/, the digest of what
its weights depend on (`identity`), so defences of other options sit beside each other; the weights are
written to a temporary file and renamed (atomic), the identity beside them after.
"""

import dataclasses
import hashlib
import json
import os
import tempfile

__all__ = ["defence_identity", "defence_folder", "load_or_train"]

# Options that change what a defence is trained on or how; the rest (attacks, their budget) only test it.
_TRAINING_OPTIONS = (
    "source_budget_s",
    "set_size",
    "nag_generators",
    "defence_steps",
    "defence_batch",
    "learning_rate",
    "closeness",
)


# How a defence's training perturbations are drawn. Defences kept before 2026-12-07 shared one stream, the
# rectifier's starting where the detector's 100 steps left it: they are not read back as this kind.
_DRAWS = "its own, from the start of the source's defence_draws stream"


def defence_identity(plan, options, source, kind):
    """What a trained defence's weights depend on: the photos, target and seed of the comparison, its source
    of training perturbations (whose runs the workdir holds) and the options that train it.

    Args:
      plan: the comparison's ComparisonPlan.
      options: its DefenceOptions.
      source: the training source's name (nag_several, sga, ...).
      kind: "detector" or "rectifier".

    Returns:
      A JSON-ready dict.
    """
    chosen = {name: value for name, value in dataclasses.asdict(options).items() if name in _TRAINING_OPTIONS}
    return {
        "draws": _DRAWS,
        "kind": kind,
        "source": source,
        "target": plan.target,
        "split": plan.split,
        "train_folder": os.path.abspath(plan.train_folder),
        "seed": plan.seed,
        "options": chosen,
    }


def defence_folder(workdir, identity):
    """workdir/defences/<source>/<kind>-<digest of identity>: where a defence's weights live, and what depends
    on them (the defended model's export, the attacks trained against it)."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    return os.path.join(workdir, "defences", identity["source"], f"{identity['kind']}-{digest}")


def load_or_train(model, workdir, identity, train):
    """Fills `model`'s weights from the workdir when a defence of this identity was trained there, else calls
    `train()` (which trains `model` in place) and saves the weights.

    Args:
      model: the built Keras network (its initial weights are replaced when loaded).
      workdir: the comparison's folder.
      identity: defence_identity(...).
      train: a callable training `model`.

    Returns:
      True when the weights were loaded, False when trained now.
    """
    folder = defence_folder(workdir, identity)
    weights = os.path.join(folder, "model.weights.h5")
    marker = os.path.join(folder, "identity.json")
    if os.path.exists(marker) and os.path.exists(weights):
        with open(marker) as handle:
            if json.load(handle) == identity:
                model.load_weights(weights)
                return True
    train()
    os.makedirs(folder, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=folder, suffix=".weights.h5")  # Keras wants the suffix
    os.close(handle)
    model.save_weights(staging, overwrite=True)
    os.replace(staging, weights)
    handle, staging = tempfile.mkstemp(dir=folder, suffix=".json")
    with os.fdopen(handle, "w") as out:
        json.dump(identity, out, indent=1, sort_keys=True)
    os.replace(staging, marker)
    return False
