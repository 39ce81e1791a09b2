r"""Universal adversarial training at equal compute: which perturbations harden a classifier best against
universal attacks it never saw?

  python -m nag_tf.harden_compare --flagfile=harden_quickstart.flags --seeds=0,1
  python -m nag_tf.harden_compare --flagfile=harden_quickstart.flags --attack_budget_s=20 --harden_epochs=1 \
      --seeds=0 --out_dir=runs/harden_look   # a quick look

For every seed and every --schemes (nag, sga, sga_set, uat, none; nag_tf.hardening.harden_model), nag_tf.harden
fine-tunes a copy of the target the same way (epochs, learning rate, adversarial fraction, batch norm
frozen) with that scheme's perturbations, then measures on the held-out photos, which choose nothing:
clean accuracy; fooling by a NAG generator and an SGA perturbation newly trained against the copy
(the adaptive attacks, same budgets); by the ones trained against the original (transferred); by the
perturbations hardened with. A seed's schemes share its attacks on the original (--out_dir/seed<s>).
Each scheme is compared with the control (none, clean fine-tuning of the same length) on the same
photos: the mean difference of fooling with a paired bootstrap interval that resamples the seeds, then the
photos within them (nag_tf.hardening.compare_schemes);
then each seed's table alone (the JSON's per_seed).
A stopped run resumes (every phase is saved). Takes every nag_tf.harden flag. Last line: JSON.
"""

import json

from absl import app, flags

from nag_tf.flags_util import parse_flags_or_exit, run_or_exit
from nag_tf.harden import define_harden_flags, options_from_flag_values
from nag_tf.hardening.harden_options import HARDEN_SCHEMES

define_harden_flags(flags.FLAGS)
SCHEMES = flags.DEFINE_list("schemes", list(HARDEN_SCHEMES), f"Schemes compared, from {', '.join(HARDEN_SCHEMES)}.")
SEEDS = flags.DEFINE_list("seeds", ["0", "1"], "Seeds (each: its own attacks, fine-tuning and split order).")


def _main(argv):
    del argv
    from nag_tf.comparison.machine import machine
    from nag_tf.errors import NAGError
    from nag_tf.hardening import compare_schemes

    unknown = sorted(set(SCHEMES.value) - set(HARDEN_SCHEMES))
    if unknown:
        raise NAGError(f"--schemes: unknown {', '.join(unknown)}; choose from {', '.join(HARDEN_SCHEMES)}")
    config, options = options_from_flag_values(flags.FLAGS)
    seeds = [int(seed) for seed in SEEDS.value]
    results = compare_schemes.run_schemes(config, options, SCHEMES.value, seeds)
    summary = compare_schemes.compare_schemes(results, SCHEMES.value)
    print(
        f"\n{config.target_text}, {results[SCHEMES.value[0]][0]['held_out_images']} held-out photos, seeds "
        f"{seeds}, attacks of {options.attack_budget_s:g} s, {options.epochs} fine-tuning epochs; fooling after "
        "hardening (minus the control's, 95% paired interval over photos and seeds):"
    )
    print(compare_schemes.table(summary, SCHEMES.value))
    per_seed = compare_schemes.per_seed(results, seeds, SCHEMES.value) if len(seeds) > 1 else {}
    for index, seed in enumerate(per_seed):
        before = results[SCHEMES.value[0]][index]["before"]
        print(
            f"\nseed {seed} (on the original: clean accuracy {before['clean_accuracy']:.3f}, its NAG "
            f"{before['fooling_new_nag']:.3f}, its SGA {before['fooling_new_sga']:.3f}; interval over photos):"
        )
        print(compare_schemes.table(per_seed[seed], SCHEMES.value))
    print(
        json.dumps(
            {
                "target": config.target_text,
                "schemes": SCHEMES.value,
                "seeds": seeds,
                "attack_budget_s": options.attack_budget_s,
                "harden_epochs": options.epochs,
                "held_out_images": results[SCHEMES.value[0]][0]["held_out_images"],
                "machine": machine(),
                **summary,
                "per_seed": per_seed,
            }
        )
    )


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
