r"""A defence that needs a distribution: a detector and a rectifier trained on NAG's samples, on K SGA or K
DM-UAP perturbations, or on random signs, at equal compute, tested against methods they never saw and
against attacks on the defended model (nag_tf.defence.compare says what is measured).

  python -m nag_tf.defend --source_budget_s=60 --attack_budget_s=60 --defence_steps=50  # a quick look (demo set)
  python -m nag_tf.defend --split=../shared/data/imagenet-sample --holdout=0.2 --source_budget_s=600
  python -m nag_tf.defend --pool=seed0/defence.json,seed1/defence.json --pool_png=pooled.png  # over seeds

Writes defence.json, defence.png and the runs under --workdir; the last line printed is the JSON summary.
"""

import json
import os

from absl import app, flags

from nag_tf import record_flags
from nag_tf.comparison import comparison_flags
from nag_tf.defence.defence_options import DefenceOptions
from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

# --methods is set from the sources and attacks below; --transfer is not used (no black-box column yet).
comparison_flags.define_comparison_flags(["sga", "dm_uap", "sgd_uap"], "nag_defend_")
record_flags.define_settings_flags(DefenceOptions())
_POOL = flags.DEFINE_list(
    "pool", [], "Train nothing: pool the defence.json files of several seeds or splits, paired over photos and runs."
)
_POOL_PNG = flags.DEFINE_string(
    "pool_png", "", "With --pool: also draw the pooled accuracy per source and attack to this PNG file."
)


def _pool(paths, png):
    from nag_tf.defence import pool
    from nag_tf.errors import NAGError

    results = []
    for path in paths:
        try:
            with open(path) as handle:
                results.append(json.load(handle))
        except (OSError, ValueError) as error:
            raise NAGError(
                f"--pool: cannot read {path} as a defence.json ({error}); pass the files defend wrote"
            ) from None
    pooled = pool.pool(results)
    print(pool.format_pool(pooled))
    if png:
        print(f"plot: {pool.plot_pool(pooled, png)}")
    print(json.dumps(pooled))


def _main(argv):
    del argv
    from nag_tf.defence import compare

    if _POOL.value:
        return _pool(_POOL.value, _POOL_PNG.value)
    if _POOL_PNG.value:
        from nag_tf.errors import NAGError

        raise NAGError("--pool_png draws a pooled comparison: pass --pool=a/defence.json,b/defence.json with it")

    options = record_flags.settings_from_flags(DefenceOptions(), flags.FLAGS)
    flags.FLAGS.methods = options.methods()  # every method a source or attack needs, whatever --methods says
    plan = comparison_flags.plan_from_flags(flags.FLAGS, "nag_defend_")
    result = compare.defend(plan, options)
    os.makedirs(plan.workdir, exist_ok=True)
    with open(os.path.join(plan.workdir, "defence.json"), "w") as handle:
        json.dump(result, handle, indent=1)
    print(compare.format_table(result))
    print(f"plot: {compare.plot(result, os.path.join(plan.workdir, 'defence.png'))}; runs in {plan.workdir}")
    print(compare.summary_line(result))


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
