r"""Harden a classifier with NAG samples and measure it before and after.

  python -m nag_tf.harden --flagfile=harden_quickstart.flags

Takes every training flag (the target, data and NAG configuration used for the
attacks) plus the hardening flags below. Prints a before/after table of clean
accuracy and fooling rates (the generator used for hardening, a newly trained
NAG generator, a newly trained SGD-UAP) and, last, one JSON line. Re-running
the same command resumes at the phase it stopped in.
"""

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit
from nag_tf.train_flags import config_from_flag_values, define_train_flags


def define_harden_flags(flag_values=flags.FLAGS):
    """The training flags plus the hardening ones, on `flag_values`."""
    define_train_flags(flag_values)
    flags.DEFINE_string(
        "out_dir", "runs/harden", "Where the attacks, the hardened weights and harden.json go.", flag_values=flag_values
    )
    flags.DEFINE_string(
        "generator_dir",
        "",
        "A trained run whose generator perturbs the fine-tuning images; empty = the 'before' NAG attack.",
        flag_values=flag_values,
    )
    flags.DEFINE_integer("harden_epochs", 2, "Fine-tuning epochs over the training images.", flag_values=flag_values)
    flags.DEFINE_float("harden_learning_rate", 1e-5, "Adam learning rate of the fine-tuning.", flag_values=flag_values)
    flags.DEFINE_float(
        "adversarial_fraction",
        0.5,
        "Share of each fine-tuning batch that carries a fresh perturbation.",
        flag_values=flag_values,
    )
    flags.DEFINE_float(
        "attack_budget_s",
        120.0,
        "Training seconds of each new attack (NAG, SGD-UAP), before and after.",
        flag_values=flag_values,
    )


def options_from_flag_values(flag_values=flags.FLAGS):
    """(TrainConfig, HardenOptions) from parsed flags."""
    from nag_tf.harden_lib import HardenOptions

    options = HardenOptions(
        out_dir=flag_values.out_dir,
        generator_dir=flag_values.generator_dir,
        epochs=flag_values.harden_epochs,
        learning_rate=flag_values.harden_learning_rate,
        adversarial_fraction=flag_values.adversarial_fraction,
        attack_budget_s=flag_values.attack_budget_s,
    )
    return config_from_flag_values(flag_values), options


def _main(argv):
    del argv
    import json

    from nag_tf import harden_lib

    config, options = options_from_flag_values(flags.FLAGS)
    result = harden_lib.harden(config, options)
    print(
        f"\n{config.target_text}, {result['held_out_images']} held-out images, "
        f"attacks of {options.attack_budget_s:.0f} s each"
    )
    print(harden_lib.format_table(result))
    print(f"hardened weights: {result['hardened_weights']}")
    print(json.dumps({"target": config.target_text, "before": result["before"], "after": result["after"]}))


def run():
    define_harden_flags(flags.FLAGS)  # here, not at import: nag_tf.train defines the same training flags
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)


if __name__ == "__main__":
    run()
