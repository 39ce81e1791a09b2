"""Hardening a classifier with NAG samples (the paper's motivation: explore the perturbation manifold
to build robust models), and the before/after measurement that says whether it worked.

1. Attack the original classifier: a NAG generator (trained here, or given) and SGD-UAP.
2. Fine-tune a copy of the classifier on training images perturbed by fresh generator
   samples every batch (plus clean images, so clean accuracy is kept).
3. Attack the hardened copy with a *newly trained* generator and a new SGD-UAP, same budgets.

Every phase writes its result into the output folder and is skipped when re-run, so an
interrupted run resumes at the phase it was in (the NAG trainings resume from their checkpoints).
"""

import dataclasses
import json
import os

import keras
import numpy as np
import tensorflow as tf

import keras_apps
from keras_apps.registry import Target
from nag_tf import callbacks as nag_callbacks
from nag_tf import checkpoints, latent, metrics, sources, train_lib
from nag_tf.baselines import sgd_uap_lib
from nag_tf.errors import NAGError
from nag_tf.model import perturb

__all__ = ["HardenOptions", "HardeningModel", "harden", "clean_accuracy"]

HARDENED_WEIGHTS = "hardened.weights.h5"


@dataclasses.dataclass(frozen=True)
class HardenOptions:
    out_dir: str = "runs/harden"
    generator_dir: str = ""  # a trained run to harden with; "" = train one (the "before" attack)
    epochs: int = 2
    learning_rate: float = 1e-5
    adversarial_fraction: float = 0.5  # share of each batch that is perturbed
    attack_budget_s: float = 120.0  # seconds for each newly trained attack (NAG and SGD-UAP)

    def validate(self):
        checks = (
            (self.epochs >= 1, f"--harden_epochs={self.epochs} must be at least 1"),
            (self.learning_rate > 0, f"--harden_learning_rate={self.learning_rate} must be positive"),
            (
                0 < self.adversarial_fraction <= 1,
                f"--adversarial_fraction={self.adversarial_fraction} must be in (0, 1]",
            ),
            (self.attack_budget_s > 0, f"--attack_budget_s={self.attack_budget_s} must be positive"),
            (
                not self.generator_dir or os.path.exists(os.path.join(self.generator_dir, "config.json")),
                f"--generator_dir={self.generator_dir!r} is not a training log directory (no config.json)",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise NAGError(message)
        return self


class HardeningModel(keras.Model):
    """Fine-tunes `classifier` on batches where a fraction of the images carry a fresh NAG perturbation.

    The labels are the original classifier's clean labels: the goal is a model whose
    decision does not move under the perturbation (the fooling rate's own definition),
    and it needs no ground truth. Batch norm stays in inference mode: a few hundred
    images would otherwise overwrite ImageNet statistics.
    """

    def __init__(self, classifier, preprocess, generator, adversarial_fraction=0.5, clip=True, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.preprocess = preprocess
        self.generator = generator
        self.generator.trainable = False
        self.adversarial_fraction = float(adversarial_fraction)
        self.clip = clip
        self.rng = tf.random.Generator.from_seed(seed)
        self.latent_dim = int(generator.input_shape[-1])
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.clean_accuracy = keras.metrics.SparseCategoricalAccuracy(name="clean_agreement")
        self.adversarial_accuracy = keras.metrics.SparseCategoricalAccuracy(name="adversarial_agreement")
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker, self.clean_accuracy, self.adversarial_accuracy]

    def call(self, images, training=False):
        return self.classifier(self.preprocess(tf.cast(images, tf.float32)), training=False)

    def train_step(self, data):
        images, labels = data
        images = tf.cast(images, tf.float32)
        batch = tf.shape(images)[0]
        delta = self.generator(latent.draw(self.rng, batch, self.latent_dim), training=False)
        perturbed = self.rng.uniform([batch]) < self.adversarial_fraction  # a fresh mix each batch
        mixed = tf.where(perturbed[:, None, None, None], perturb(images, delta, self.clip), images)
        with tf.GradientTape() as tape:
            logits = tf.cast(self.classifier(self.preprocess(mixed), training=False), tf.float32)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        variables = self.classifier.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        self.loss_tracker.update_state(loss)
        self.clean_accuracy.update_state(labels, logits, sample_weight=tf.cast(~perturbed, tf.float32))
        self.adversarial_accuracy.update_state(labels, logits, sample_weight=tf.cast(perturbed, tf.float32))
        return {m.name: m.result() for m in self.metrics}


def clean_accuracy(cached):
    """Top-1 accuracy of the classifier whose clean labels `cached` holds, against the ground
    truth where known (NaN when no image has a label)."""
    known = cached.true_labels >= 0
    if not known.any():
        return float("nan")
    return float(np.mean(cached.clean_labels[known] == cached.true_labels[known]))


def _relabelled(target, cached, batch_size=32):
    """The cached images with `target`'s clean labels (a hardened model has its own)."""
    labels = np.concatenate(
        [target.predict_labels(cached.images[i : i + batch_size]).numpy() for i in range(0, len(cached), batch_size)]
    )
    return dataclasses.replace(cached, clean_labels=labels.astype(np.int32))


def _nag_attack(config, weights, logdir, budget_s):
    """A new NAG generator against the classifier with `weights` (a finished run in `logdir` is
    reused, an interrupted one resumes from its checkpoint)."""
    if not os.path.exists(os.path.join(logdir, train_lib.FINAL_WEIGHTS)):
        train_lib.train(
            dataclasses.replace(config, weights=weights, logdir=logdir, epochs=10**6, time_budget_s=budget_s)
        )
    return sources.load_source(logdir, os.path.basename(logdir))


def _uap_attack(config, target, train_images, path, budget_s):
    """A new SGD-UAP against `target` (reused if `path` exists)."""
    if not os.path.exists(path):
        bar = keras.utils.Progbar(
            budget_s, unit_name="s of optimisation", stateful_metrics=["steps"], verbose=1 if config.verbose else 0
        )
        perturbation, _, _ = sgd_uap_lib.train_sgd_uap(
            target,
            train_images,
            config.xi,
            config.batch_size,
            steps=10**9,
            time_budget_s=budget_s,
            seed=config.seed,
            clip=config.clip,
            norm=config.norm,
            progress=lambda steps, seconds: bar.update(min(seconds, budget_s), values=[("steps", steps)]),
        )
        sgd_uap_lib.save_perturbation(perturbation, path, config.xi, target.name, config.norm)
    return sources.load_source(path)


def _measure(target, holdout, hardening_source, new_nag, uap_source, config):
    """{'clean_accuracy', 'fooling_hardening_generator', 'fooling_new_nag', 'fooling_sgd_uap'} of `target`
    on the held-out images."""
    holdout = _relabelled(target, holdout, config.batch_size)  # the one prediction pass on clean images
    row = {"clean_accuracy": clean_accuracy(holdout)}
    for key, source in (("fooling_hardening_generator", hardening_source), ("fooling_new_nag", new_nag)):
        rates, _ = metrics.fooling_rates(
            source.sample(config.eval_samples, config.seed + 7), target, holdout, config.batch_size, config.clip
        )
        row[key] = float(np.mean(rates))
    rates, _ = metrics.fooling_rates(uap_source.sample(1, 0), target, holdout, config.batch_size, config.clip)
    row["fooling_sgd_uap"] = float(rates[0])
    return row


def _phase(config, text):
    if config.verbose:
        print(f"hardening phase {text}", flush=True)


def harden(config, options):
    """Runs the three phases; returns {'before': row, 'after': row, 'hardened_weights': path}.

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
    (target_name,) = config.target
    original = keras_apps.load_target(target_name, config.weights)
    # The NAG attacks choose their generator on their own selection images; every figure here is
    # measured on the held-out images, which choose nothing.
    datasets = train_lib.load_datasets(config, original)
    train_images, holdout = datasets.train, datasets.report

    # 1. Attacks on the original classifier.
    _phase(config, f"1/3: NAG and SGD-UAP attack the original {target_name} ({options.attack_budget_s:g} s each)")
    nag_before = _nag_attack(
        config, config.weights, os.path.join(options.out_dir, "nag_before"), options.attack_budget_s
    )
    # Hardened with the given generator, else with the one just trained against the original.
    hardening_source = (
        sources.load_source(options.generator_dir, "hardening_generator") if options.generator_dir else nag_before
    )
    uap_before = _uap_attack(
        config, original, train_images, os.path.join(options.out_dir, "sgd_uap_before.npy"), options.attack_budget_s
    )
    before = _measure(original, holdout, hardening_source, nag_before, uap_before, config)

    # 2. Fine-tune a copy on perturbed images.
    _phase(config, f"2/3: fine-tune a copy on perturbed images ({options.epochs} epochs)")
    hardened_path = os.path.join(options.out_dir, HARDENED_WEIGHTS)
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
            hardening_source.generator,
            adversarial_fraction=options.adversarial_fraction,
            clip=config.clip,
            seed=config.seed,
        )
        model.compile(optimizer=keras.optimizers.Adam(options.learning_rate))
        batches = (
            tf.data.Dataset.from_tensor_slices((train_images.images, train_images.clean_labels))
            .shuffle(len(train_images), seed=config.seed)
            .batch(config.batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE)
        )
        model.fit(batches, epochs=options.epochs, verbose=config.verbose)
        nag_callbacks.save_weights_atomically(classifier, hardened_path)
    hardened = Target(copy.spec, copy.classifier)

    # 3. New attacks on the hardened copy, same budgets.
    _phase(config, "3/3: new NAG and SGD-UAP attacks on the hardened copy, same budgets")
    nag_after = _nag_attack(config, hardened_path, os.path.join(options.out_dir, "nag_after"), options.attack_budget_s)
    uap_after = _uap_attack(
        config, hardened, train_images, os.path.join(options.out_dir, "sgd_uap_after.npy"), options.attack_budget_s
    )
    after = _measure(hardened, holdout, hardening_source, nag_after, uap_after, config)
    result = {
        "target": target_name,
        "held_out_images": len(holdout),
        "before": before,
        "after": after,
        "hardened_weights": hardened_path,
    }
    with open(os.path.join(options.out_dir, "harden.json"), "w") as handle:
        json.dump(result, handle, indent=2)
    return result


def format_table(result):
    """A markdown table of the before/after rows."""
    rows = [
        ("clean accuracy (ground truth)", "clean_accuracy"),
        ("fooling rate, the hardening generator", "fooling_hardening_generator"),
        ("fooling rate, a newly trained NAG generator", "fooling_new_nag"),
        ("fooling rate, a newly trained SGD-UAP", "fooling_sgd_uap"),
    ]
    lines = ["| measure | before | after |", "|---|---|---|"]
    for label, key in rows:
        lines.append(f"| {label} | {result['before'][key]:.4f} | {result['after'][key]:.4f} |")
    return "\n".join(lines)
