r"""Harden a classifier with NAG samples (or another scheme) and measure it before and after.

  python -m nag_tf.harden --flagfile=harden_quickstart.flags [--scheme=nag|sga|sga_set|uat|none]

Takes every training flag (the target, data and NAG configuration used for the
attacks) plus the hardening flags below. Prints a before/after table of clean
accuracy and fooling rates (the perturbations hardened with, a NAG generator and an
SGA perturbation newly trained against each classifier, and the ones trained against
the original, transferred) and, last, one JSON line. Re-running the same command
resumes at the phase it stopped in; another --scheme in the same --out_dir reuses
the attacks on the original.
"""

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit
from nag_tf.hardening.harden_options import HARDEN_SCHEMES, HardenOptions
from nag_tf.training.train_flags import config_from_flag_values, define_train_flags

_DEFAULTS = HardenOptions()


def define_harden_flags(flag_values=flags.FLAGS):
    """The training flags plus the hardening ones (defaults: HardenOptions'), on `flag_values`."""
    define_train_flags(flag_values)
    flags.DEFINE_string(
        "out_dir",
        _DEFAULTS.out_dir,
        "Where the attacks, the hardened weights and harden.json go.",
        flag_values=flag_values,
    )
    flags.DEFINE_enum(
        "scheme",
        _DEFAULTS.scheme,
        list(HARDEN_SCHEMES),
        "What perturbs the fine-tuning images: nag (fresh samples every batch), sga (one SGA perturbation), "
        "sga_set (--set_size of them in turn, each trained for --attack_budget_s / --set_size), uat (universal "
        "adversarial training, Shafahi et al. AAAI 2020), none (clean fine-tuning, the control).",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "generator_dir",
        _DEFAULTS.generator_dir,
        "--scheme=nag: a trained run whose generator perturbs the fine-tuning images; empty = the 'before' NAG attack.",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "set_size", _DEFAULTS.set_size, "--scheme=sga_set: the SGA perturbations in turn.", flag_values=flag_values
    )
    flags.DEFINE_float(
        "uat_step",
        _DEFAULTS.uat_step,
        "--scheme=uat: the signed step of the perturbation each batch, 0-255 scale (ours: xi / 10).",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "sga_batch",
        _DEFAULTS.sga_batch,
        "SGA's outer batch in the attacks (ours; the authors' 250).",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "sga_minibatch",
        _DEFAULTS.sga_minibatch,
        "SGA's inner minibatch in the attacks (ours; the authors' 10).",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "harden_epochs", _DEFAULTS.epochs, "Fine-tuning epochs over the training images.", flag_values=flag_values
    )
    flags.DEFINE_float(
        "harden_learning_rate",
        _DEFAULTS.learning_rate,
        "Adam learning rate of the fine-tuning.",
        flag_values=flag_values,
    )
    flags.DEFINE_float(
        "adversarial_fraction",
        _DEFAULTS.adversarial_fraction,
        "Share of each fine-tuning batch that carries a fresh perturbation.",
        flag_values=flag_values,
    )
    flags.DEFINE_float(
        "attack_budget_s",
        _DEFAULTS.attack_budget_s,
        "Training seconds of each new attack (NAG, SGA), before and after.",
        flag_values=flag_values,
    )


def options_from_flag_values(flag_values=flags.FLAGS):
    """(TrainConfig, HardenOptions) from parsed flags."""
    options = HardenOptions(
        out_dir=flag_values.out_dir,
        scheme=flag_values.scheme,
        generator_dir=flag_values.generator_dir,
        set_size=flag_values.set_size,
        uat_step=flag_values.uat_step,
        sga_batch=flag_values.sga_batch,
        sga_minibatch=flag_values.sga_minibatch,
        epochs=flag_values.harden_epochs,
        learning_rate=flag_values.harden_learning_rate,
        adversarial_fraction=flag_values.adversarial_fraction,
        attack_budget_s=flag_values.attack_budget_s,
    )
    return config_from_flag_values(flag_values), options


def _main(argv):
    del argv
    import json

    from nag_tf.hardening import harden_lib

    config, options = options_from_flag_values(flags.FLAGS)
    result = harden_lib.harden(config, options)
    print(
        f"\n{config.target_text}, scheme {options.scheme}, {result['held_out_images']} held-out images, "
        f"attacks of {options.attack_budget_s:.0f} s each"
    )
    print(harden_lib.format_table(result))
    print(f"hardened weights: {result['hardened_weights']}")
    summary = {"target": config.target_text, "scheme": options.scheme}
    print(json.dumps({**summary, "before": result["before"], "after": result["after"]}))


def run():
    define_harden_flags(flags.FLAGS)  # here, not at import: nag_tf.train defines the same training flags
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)


if __name__ == "__main__":
    run()
