"""Hardening a classifier (the paper's motivation: explore the perturbation manifold to build robust
models), and the before/after measurement that says whether it worked, for every scheme compared.

1. Attack the original classifier: a NAG generator (trained here, or given) and SGA; with the
   scheme sga_set also K SGA perturbations at 1/K of the budget each (the compute of one run).
2. Fine-tune a copy of the classifier on training images of which a fraction carry the scheme's
   perturbation (nag_tf.hardening.harden_model), the rest clean, so clean accuracy is kept.
3. Attack the hardened copy with a *newly trained* NAG and SGA, same budgets (the adaptive attacks),
   and measure the step-1 attacks on it too (the transferred ones).

Every phase writes its result into the output folder and is skipped when re-run, so an interrupted
run resumes at the phase it was in (the NAG trainings resume from their checkpoints). Step 1 lives in
--out_dir, steps 2 and 3 in --out_dir/<scheme>, so the schemes compared share one set of attacks.
"""

import dataclasses
import json
import os

import keras
import tensorflow as tf

import keras_apps
from keras_apps.registry import Target
from nag_tf import methods, seeds
from nag_tf.errors import NAGError
from nag_tf.evaluation import sources
from nag_tf.hardening import measure
from nag_tf.hardening.harden_model import (
    GeneratorSamples,
    HardeningModel,
    PerturbationsInTurn,
    UniversalAdversarialTraining,
)
from nag_tf.hardening.harden_options import HardenOptions
from nag_tf.inputs import data, splits
from nag_tf.training import callbacks as nag_callbacks
from nag_tf.training import checkpoints, train_lib

__all__ = ["HardenOptions", "HardeningModel", "harden"]

HARDENED_WEIGHTS = "hardened.weights.h5"
# The rows' attacks: the scheme's own perturbations, the adaptive ones trained against the copy, and the
# ones trained against the original (in the "before" row the adaptive and the original ones coincide).
ATTACKS = ("hardening", "new_nag", "new_sga", "nag_before", "sga_before")


def _nag_attack(config, weights, logdir, budget_s):
    """A new NAG generator against the classifier with `weights` (nag_tf.methods.train: a finished run in
    `logdir` is reused, an interrupted one resumes from its checkpoint)."""
    (target_name,) = config.target
    run = methods.train(
        config,
        methods.TargetSpec(target_name, weights),
        config.data_dir,
        budget_s,
        seed=config.seed,
        workdir=logdir,
        heldout=config.holdout_dir,
        name=os.path.basename(logdir),
    )
    return run.source


def _sga_attack(config, options, weights, workdir, budget_s, seed):
    """A new SGA perturbation against the classifier with `weights` (nag_tf.methods.train: reused when
    finished in `workdir`); [1, S, S, 3]."""
    (target_name,) = config.target
    settings = methods.settings_for(
        "sga",
        batch_size=options.sga_batch,
        minibatch=min(options.sga_minibatch, options.sga_batch),
        xi=config.xi,
        norm=config.norm,
        clip=config.clip,
    )
    run = methods.train(
        settings,
        methods.TargetSpec(target_name, weights),
        config.data_dir,
        budget_s,
        seed=seed,
        workdir=workdir,
        verbose=config.verbose,
    )
    return run.source.sample(1, 0)


def _with_split_folders(config, out_dir):
    """The config with its training and held-out photos as two folders: every attack (NAG, SGA) trains on
    the same training photos through nag_tf.methods.train, and none of them sees a held-out one."""
    if not config.data_dir:
        raise NAGError(
            "hardening reads its photos from an image folder (--data_dir): write the tfds split to a folder with "
            "labels.csv first"
        )
    data_dir, holdout_dir = data.resolve_folders(config.data_dir, config.holdout_dir)
    if holdout_dir is None:
        data_dir, holdout_dir = splits.write_split_folders(
            data_dir, config.holdout, config.seed, os.path.join(out_dir, "split"), config.max_images
        )
    return dataclasses.replace(config, data_dir=data_dir, holdout_dir=holdout_dir, max_images=0)


def _phase(config, text):
    if config.verbose:
        print(f"hardening phase {text}", flush=True)


def _hardening_perturbations(config, options, original, train_images, nag_before, nag_samples, sga_before):
    """The scheme's perturbations to harden with (a scheme object for HardeningModel), and what of them is
    measured as the "hardening" attack: perturbations [K, S, S, 3], or None (uat: measured after).
    `nag_samples` are `nag_before`'s measured samples, reused when the scheme hardens with that generator."""
    if options.scheme == "nag":
        if not options.generator_dir:
            return GeneratorSamples(nag_before.generator, seed=seeds.derive(config.seed, "hardening_z")), nag_samples
        source = sources.load_source(options.generator_dir, "hardening_generator")
        measured = source.sample(config.eval_samples, config.report_seed)
        return GeneratorSamples(source.generator, seed=seeds.derive(config.seed, "hardening_z")), measured
    if options.scheme == "sga":
        return PerturbationsInTurn(sga_before), sga_before
    if options.scheme == "sga_set":
        budget = options.attack_budget_s / options.set_size
        members = [
            _sga_attack(
                config,
                options,
                config.weights,
                os.path.join(options.out_dir, "sga_set_members", str(k)),
                budget,
                seeds.derive(config.seed, "hardening_sga", k),
            )
            for k in range(options.set_size)
        ]
        perturbations = tf.concat(members, axis=0)
        return PerturbationsInTurn(perturbations), perturbations
    size = original.image_size
    if options.scheme == "uat":
        return UniversalAdversarialTraining(size, config.xi, options.uat_step, config.norm), None
    return PerturbationsInTurn(tf.zeros([1, size, size, 3])), None  # none: clean fine-tuning


def _fine_tune(config, options, target_name, scheme, train_images, scheme_dir):
    """The hardened copy (fine-tuned here, or read back from an earlier run) and, for uat, its perturbation."""
    hardened_path = os.path.join(scheme_dir, HARDENED_WEIGHTS)
    uat_path = os.path.join(scheme_dir, "uat.npy")
    copy = keras_apps.load_target(target_name, config.weights)
    if os.path.exists(hardened_path):
        copy.classifier.load_weights(hardened_path)
        print(f"hardened weights found: {hardened_path} (delete it to fine-tune again)")
    else:
        classifier = copy.classifier
        classifier.trainable = True
        model = HardeningModel(
            classifier,
            copy.preprocess,
            scheme,
            adversarial_fraction=options.adversarial_fraction,
            clip=config.clip,
            seed=seeds.derive(config.seed, "hardening_mix"),
        )
        model.compile(optimizer=keras.optimizers.Adam(options.learning_rate))
        batches = (
            tf.data.Dataset.from_tensor_slices((train_images.images, train_images.clean_labels))
            .shuffle(len(train_images), seed=seeds.derive(config.seed, "hardening_order"))
            .batch(config.batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE)
        )
        model.fit(batches, epochs=options.epochs, verbose=config.verbose)
        if scheme.ascends:
            sources.save_perturbation(scheme.delta.numpy(), uat_path, config.xi, target_name, config.norm, method="uat")
        nag_callbacks.save_weights_atomically(classifier, hardened_path)
    uat = sources.load_source(uat_path).sample(1, 0) if os.path.exists(uat_path) else None
    return Target(copy.spec, copy.classifier), hardened_path, uat


def harden(config, options):
    """Runs the three phases; returns {'scheme', 'before': row, 'after': row, 'per_photo', 'hardened_weights', ...}.

    Raises:
      NAGError: an ensemble or targeted config, bad options, or any training error.
    """
    config.validate()
    options.validate()
    if len(config.target) > 1:
        raise NAGError("hardening fine-tunes one classifier: give a single --target")
    if config.target_class is not None:
        raise NAGError("hardening measures untargeted fooling: leave --target_class empty")
    os.makedirs(options.out_dir, exist_ok=True)
    checkpoints.check_logdir_writable(options.out_dir)
    config = _with_split_folders(config, options.out_dir)
    (target_name,) = config.target
    original = keras_apps.load_target(target_name, config.weights)
    # The NAG attacks choose their generator on their own selection images; every figure here is
    # measured on the held-out images, which choose nothing.
    datasets = train_lib.load_datasets(config, original)
    train_images, holdout = datasets.train, datasets.report
    budget = options.attack_budget_s

    # 1. Attacks on the original classifier (shared by every scheme run in this --out_dir).
    _phase(config, f"1/3: NAG and SGA attack the original {target_name} ({budget:g} s each)")
    nag_before = _nag_attack(config, config.weights, os.path.join(options.out_dir, "nag_before"), budget)
    sga_before = _sga_attack(
        config, options, config.weights, os.path.join(options.out_dir, "sga_before"), budget, config.seed
    )
    nag_samples = nag_before.sample(config.eval_samples, config.report_seed)
    scheme, hardening = _hardening_perturbations(
        config, options, original, train_images, nag_before, nag_samples, sga_before
    )
    before, per_photo_before = measure.measure(
        original,
        holdout,
        {"hardening": hardening, "new_nag": nag_samples, "new_sga": sga_before},
        config,
    )
    before["fooling_nag_before"], before["fooling_sga_before"] = before["fooling_new_nag"], before["fooling_new_sga"]

    # 2. Fine-tune a copy on perturbed images.
    scheme_dir = os.path.join(options.out_dir, options.scheme)
    os.makedirs(scheme_dir, exist_ok=True)
    _phase(config, f"2/3: fine-tune a copy, scheme {options.scheme} ({options.epochs} epochs)")
    hardened, hardened_path, uat = _fine_tune(config, options, target_name, scheme, train_images, scheme_dir)

    # 3. New attacks on the hardened copy, same budgets, and the step-1 attacks transferred to it.
    _phase(config, "3/3: new NAG and SGA attacks on the hardened copy, same budgets")
    nag_after = _nag_attack(config, hardened_path, os.path.join(scheme_dir, "nag_after"), budget)
    sga_after = _sga_attack(config, options, hardened_path, os.path.join(scheme_dir, "sga_after"), budget, config.seed)
    after, per_photo_after = measure.measure(
        hardened,
        holdout,
        {
            "hardening": uat if options.scheme == "uat" else hardening,
            "new_nag": nag_after.sample(config.eval_samples, config.report_seed),
            "new_sga": sga_after,
            "nag_before": nag_samples,
            "sga_before": sga_before,
        },
        config,
    )
    result = {
        "target": target_name,
        "scheme": options.scheme,
        "held_out_images": len(holdout),
        "attack_budget_s": budget,
        "before": before,
        "after": after,
        "per_photo": {"before": per_photo_before, "after": per_photo_after},
        "hardened_weights": hardened_path,
    }
    with open(os.path.join(scheme_dir, "harden.json"), "w") as handle:
        json.dump(result, handle, indent=2)
    return result


def format_table(result):
    """A markdown table of the before/after rows (a dash where a row does not measure an attack)."""
    labels = {
        "clean_accuracy": "clean accuracy (ground truth)",
        "fooling_hardening": f"fooling rate, the perturbations hardened with ({result['scheme']})",
        "fooling_new_nag": "fooling rate, a NAG generator trained against this classifier",
        "fooling_new_sga": "fooling rate, an SGA perturbation trained against this classifier",
        "fooling_nag_before": "fooling rate, the NAG generator trained against the original",
        "fooling_sga_before": "fooling rate, the SGA perturbation trained against the original",
    }

    def cell(value):
        return "-" if value is None else f"{value:.4f}"

    lines = ["| measure | before | after |", "|---|---|---|"]
    for key, label in labels.items():
        lines.append(f"| {label} | {cell(result['before'][key])} | {cell(result['after'][key])} |")
    return "\n".join(lines)
