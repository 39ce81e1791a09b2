"""The defence comparison behind `python -m nag_tf.defend`: defences trained on each source of training
perturbations at equal compute, tested on held-out photos against methods and runs they never saw, and
against attacks trained on the defended model.

  1. Training sources, each given `source_budget_s` optimisation seconds on the training photos: NAG (one
     run; a fresh sample for every photo of every batch), K SGA and K DM-UAP runs (cold, budget / K each),
     random +-xi signs (no optimisation: the control); and two levers on NAG's source: nag_signs (nag's
     samples and signs, half each) and nag_several (several NAG runs sharing the budget, a random one per photo).
  2. Unseen attacks: new runs against the bare target with seeds no source used (NAG: another seed).
  3. Per source, a detector and a rectifier, each trained for the same steps on the same photos.
  4. On the held-out photos: the detector's TPR at 5% false positives and AUC on each unseen method; the
     defended model's accuracy clean and under each unseen method, beside the bare target's; then the
     adaptive attacks (NAG and SGA trained against rectifier + target as one classifier, exported as a
     SavedModel) and the defended model's accuracy under them, beside the bare target's under the same
     method trained against it (step 2).
Accuracy is top-1 against the held-out photos' ground truth. Differences between each NAG-fed defence and the
best source that is not NAG's are paired over photos with bootstrap intervals.
"""

import dataclasses
import json
import os

from nag_tf import seeds
from nag_tf.comparison.machine import machine
from nag_tf.defence import perturbations
from nag_tf.defence.defence_options import NAG_SOURCES
from nag_tf.evaluation import stats

__all__ = ["defend", "train_detector", "format_table", "summary_line"]


def _phase(text):
    print(f"== {text}", flush=True)


def train_detector(image_size, train, options, draws, seed):
    """(detector, its last step's metrics): trained as the comparison trains every source's detector,
    `options.defence_steps` steps of `options.defence_batch` training photos, its init and photo order from
    `seed`'s defence streams."""
    detector, fit = _detector_and_fit(image_size, train, options, seed)
    return detector, fit(draws)


def _detector_and_fit(image_size, train, options, seed):
    """(a new detector, fit(draws) -> last metrics): the one way a detector is built and trained, shared by
    `train_detector` and the comparison (which may read the detector back instead of calling fit)."""
    from nag_tf.defence import networks, training

    detector = networks.build_detector(image_size, seed=seeds.derive(seed, "defence_draws"))
    return detector, lambda draws: _fit(training.DetectorTraining(detector, draws), train, options, seed)


def _fit(training_model, train, options, seed):
    """Fits a detector's or a rectifier's training model as every source's is fitted: `options.defence_steps`
    steps of `options.defence_batch` training photos in the order of `seed`'s defence stream."""
    from nag_tf.defence import training
    from nag_tf.inputs import batches

    order = batches.training_batches(train, options.defence_batch, seeds.derive(seed, "defence_order"))
    return training.fit_steps(training_model, order, options.defence_steps, options.learning_rate)


def _train_defence(plan, options, target, train, make_draws, source):
    """(detector, rectifier, the rectifier's folder) trained for the same steps on the same photos and
    perturbations, each on its own `make_draws()`, or read back from the workdir when trained there before
    (nag_tf.defence.store). What depends on the rectifier (its export, the adaptive attacks) lives in its
    folder, whose name is the digest of the rectifier's identity: another rectifier is attacked anew."""
    from nag_tf.defence import networks, store, training

    seed = plan.seed
    detector, fit_detector = _detector_and_fit(target.image_size, train, options, seed)
    store.load_or_train(
        detector,
        plan.workdir,
        store.defence_identity(plan, options, source, "detector"),
        lambda: fit_detector(make_draws()),
    )
    rectifier = networks.build_rectifier(target.image_size, seed=seeds.derive(seed, "defence_draws"))
    identity = store.defence_identity(plan, options, source, "rectifier")
    store.load_or_train(
        rectifier,
        plan.workdir,
        identity,
        lambda: _fit(
            training.RectifierTraining(rectifier, target, make_draws(), options.closeness), train, options, seed
        ),
    )
    return detector, rectifier, store.defence_folder(plan.workdir, identity)


def _scored(classify, held_out, attacks):
    """({'clean': accuracy, method: accuracy}, {name: per-photo correctness})."""
    from nag_tf.defence import measures

    row, per_photo = {}, {}
    for name, deltas in [("clean", None), *attacks.items()]:
        row[name], per_photo[name] = measures.accuracy(classify, held_out.images, held_out.true_labels, deltas)
    return row, per_photo


def defend(plan, options):
    """Runs the comparison (runs are reused from plan.workdir when finished there); returns the result dict
    (per-photo lists under "per_photo")."""
    import keras_apps
    from nag_tf.defence import measures, networks
    from nag_tf.errors import NAGError
    from nag_tf.inputs import batches

    target = keras_apps.load_target(plan.target, plan.nag_config.weights)
    train = batches.load_folder(plan.train_folder, target, 32, "training photos")
    held_out = batches.load_folder(plan.eval_folder, target, 32, "held-out photos")
    if not (held_out.true_labels >= 0).all():
        raise NAGError(f"{plan.eval_folder}: every held-out photo needs its class in labels.csv (accuracy is scored)")
    if options.defence_batch > len(train):
        raise NAGError(f"--defence_batch={options.defence_batch} is more than the {len(train)} training photos")
    _phase("training sources")
    sources = {
        name: perturbations.training_draws(
            plan, options, name, target.image_size, os.path.join(plan.workdir, "sources")
        )
        for name in options.sources
    }
    _phase("unseen attacks against the bare target")
    unseen = perturbations.attacks(
        plan,
        options.unseen,
        options.attack_budget_s,
        "defence_unseen",
        os.path.join(plan.workdir, "unseen"),
        plan.samples,
    )
    bare, per_photo = {}, {"bare": {}}
    bare["accuracy"], per_photo["bare"] = _scored(lambda x: target(x).logits, held_out, unseen)
    result = {"sources": {}, "bare": bare}
    for name, (make_draws, seconds, passes) in sources.items():
        _phase(f"defences trained on {name}")
        detector, rectifier, folder = _train_defence(plan, options, target, train, make_draws, name)
        defended = networks.DefendedClassifier(rectifier, target)
        clean_scores = measures.detector_scores(detector, held_out.images)
        row = {"seconds": round(seconds, 1), "image_passes": int(passes)}
        row["detection"] = {
            method: measures.detection(clean_scores, measures.detector_scores(detector, held_out.images, perturbations))
            for method, perturbations in unseen.items()
        }
        row["accuracy"], per_photo[name] = _scored(defended, held_out, unseen)
        if options.adaptive:
            exported = networks.export_defended(defended, os.path.join(folder, "defended"))
            # The exported model carries its weights: a model file is loaded with weights="imagenet" (its own).
            file_weights = dataclasses.replace(plan.nag_config, weights="imagenet")
            attacked = dataclasses.replace(
                plan,
                target=keras_apps.canonical_target_name(exported, "none"),
                settings={**plan.settings, "nag": file_weights},
            )
            adaptive = perturbations.attacks(
                attacked,
                options.adaptive,
                options.attack_budget_s,
                "defence_adaptive",
                os.path.join(folder, "adaptive"),
                plan.samples,
            )
            adaptive_row, adaptive_photos = _scored(defended, held_out, adaptive)
            row["adaptive"] = {method: adaptive_row[method] for method in adaptive}
            per_photo[name].update({f"adaptive_{method}": adaptive_photos[method] for method in adaptive})
        result["sources"][name] = row
    result.update(_differences(per_photo, options))
    result.update(
        target=plan.target,
        split=plan.split,
        seed=plan.seed,
        machine=machine(),
        held_out_photos=len(held_out),
        options=json.loads(json.dumps(dataclasses.asdict(options))),
        per_photo={name: {k: v.astype(int).tolist() for k, v in rows.items()} for name, rows in per_photo.items()},
    )
    return result


def _differences(per_photo, options):
    """Each NAG-fed source's defence (nag and its levers) minus the best source that is not NAG's, accuracy per
    unseen (and adaptive) attack, paired over photos: {"nag_minus_best_other": {source: {attack: ...}}}."""
    fed = [name for name in options.sources if name in NAG_SOURCES]
    others = [name for name in options.sources if name not in NAG_SOURCES]
    if not fed or not others:
        return {}
    differences = {}
    for name in fed:
        differences[name] = {}
        for attack in per_photo[name]:
            rows = {source: per_photo[source][attack] for source in [name, *others] if attack in per_photo[source]}
            paired = stats.difference_to_best(rows, name, others)
            if paired:
                mean, low, high = paired["difference"]
                differences[name][attack] = {"best_other": paired["best"], "difference": mean, "interval": [low, high]}
    return {"nag_minus_best_other": differences}


def format_table(result):
    """The result as text tables: accuracy (bare, then per source), detection, adaptive."""
    attacks = list(result["bare"]["accuracy"])
    lines = [
        "accuracy on held-out photos (top-1, ground truth)",
        "  " + "source".ljust(12) + "".join(a.rjust(10) for a in attacks),
    ]
    lines.append("  " + "bare target".ljust(12) + "".join(f"{result['bare']['accuracy'][a]:10.3f}" for a in attacks))
    for name, row in result["sources"].items():
        lines.append("  " + name.ljust(12) + "".join(f"{row['accuracy'][a]:10.3f}" for a in attacks))
    unseen = [a for a in attacks if a != "clean"]
    lines.append("detector: TPR at 5% false positives / AUC, per unseen method")
    for name, row in result["sources"].items():
        cells = "".join(f"{row['detection'][a]['tpr']:7.2f}/{row['detection'][a]['auc']:.2f}" for a in unseen)
        lines.append("  " + name.ljust(12) + cells)
    if any("adaptive" in row for row in result["sources"].values()):
        lines.append("adaptive attacks (trained against rectifier + target): the defended model's accuracy")
        for name, row in result["sources"].items():
            lines.append("  " + name.ljust(12) + "".join(f"{m}={v:.3f}  " for m, v in row.get("adaptive", {}).items()))
    for name, differences in result.get("nag_minus_best_other", {}).items():
        for attack, difference in differences.items():
            low, high = difference["interval"]
            lines.append(
                f"{name} - {difference['best_other']} ({attack}): {difference['difference']:+.3f} "
                f"(95% interval {low:+.3f} to {high:+.3f})"
            )
    return "\n".join(lines)


def plot(result, path):
    """Bars: accuracy under each unseen method per training source (the bare target first)."""
    from nag_tf.evaluation import plots

    rows = {"bare target": result["bare"]["accuracy"]} | {
        name: row["accuracy"] for name, row in result["sources"].items()
    }
    return plots.accuracy_bars(rows, path, f"{result['target']}: defended accuracy per training source")


def summary_line(result):
    """The JSON last line: everything but the per-photo lists."""
    return json.dumps({key: value for key, value in result.items() if key != "per_photo"})
