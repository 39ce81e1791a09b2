r"""What a distribution is worth: K universal perturbations from each method at equal total compute.

  python -m nag_tf.sets --methods=nag,sga --ks=1,5 --budget_s=60             # a quick look on the demo set
  python -m nag_tf.sets --methods=nag,dm_uap --set_methods=cold,snapshots,forks --ks=5,10,20
  python -m nag_tf.sets --split=../shared/data/imagenet-sample --holdout=0.2 --budget_s=1800
  python -m nag_tf.sets --methods=sga,dm_uap --shard=0/2 --workdir=runs/sets  # baseline runs only, one core each
  python -m nag_tf.sets --merge=k5.log,k50.log                               # scorings of other K, one table
  python -m nag_tf.sets --pool=split4.log,split5.log                         # NAG minus the best set, pooled
  python -m nag_tf.sets --pool=split4.log,split5.log --pool_png=pooled.png    # ... and its intervals drawn

NAG trains once for --budget_s seconds and draws its K-set; each single-perturbation method buys a K-set
at the same total budget in each of the --set_methods ways: K cold runs of budget_s / K seconds, snapshots
of one run, or forks of one run (nag_tf.comparison.set_ways; nag_tf.comparison.sets says what is measured).
--shard=i/n trains only every n-th cold baseline run of each K-set, from the i-th, and scores nothing; a
run without --shard in the same --workdir then reuses them (and a NAG that spent its budget there). Last
line: the JSON summary.
"""

import json

from absl import app, flags

from nag_tf.comparison import comparison_flags
from nag_tf.flags_util import parse_flags_or_exit, run_or_exit

comparison_flags.define_comparison_flags(["nag", "sga", "dm_uap"], "nag_sets_")
_BUDGET = flags.DEFINE_float("budget_s", 1800.0, "Total optimisation seconds of each method's K-set.")
_KS = flags.DEFINE_list("ks", ["1", "2", "5", "10", "20", "50"], "Set sizes K.")
_GOAL = flags.DEFINE_float("coverage_goal", 0.95, "The coverage whose cost is reported (reach_*).")
_SHARD = flags.DEFINE_string("shard", "", "i/n: train only this process's share of the baseline runs (no scoring).")
_SET_METHODS = flags.DEFINE_list(
    "set_methods",
    ["cold"],
    "How each baseline makes its K-set at the same total budget: cold (K runs of budget/K from its own start), "
    "snapshots (one run, kept at K points of its second half), forks (one run of budget/2, then K continuations "
    "of budget/(2K) from it), joint (dm_uap: one run learning K members, each photo scored on its best). Several "
    "give one row each (nag_tf.comparison.set_ways).",
)
_MERGE = flags.DEFINE_list("merge", [], "Train nothing: join earlier outputs on one split that scored other K.")
_POOL = flags.DEFINE_list(
    "pool", [], "Train nothing: NAG minus the best set baseline over outputs of several splits x seeds, paired."
)
_POOL_PNG = flags.DEFINE_string(
    "pool_png", "", "With --pool: also draw NAG minus the best set baseline by K, with intervals, to this PNG file."
)


def _main(argv):
    del argv
    import os

    from nag_tf.comparison import set_pool, set_ways, sets, summary
    from nag_tf.errors import NAGError

    if _MERGE.value and _POOL.value:
        raise NAGError("--merge and --pool are two modes: give one")
    if _POOL_PNG.value and not _POOL.value:
        raise NAGError("--pool_png draws a pooled comparison: pass --pool=a.log,b.log (nag_tf.sets outputs) with it")
    if _POOL.value:
        pooled = set_pool.pool([summary.last_json(path, "--pool") for path in _POOL.value])
        if _POOL_PNG.value:
            print(f"plot: {set_pool.plot_pool(pooled, _POOL_PNG.value)}")
        return set_pool.report_pool(pooled)
    if _MERGE.value:
        if len(_MERGE.value) < 2:
            raise NAGError("--merge: give two or more nag_tf.sets outputs, comma-separated")
        merged = sets.merge([summary.last_json(path, "--merge") for path in _MERGE.value], _GOAL.value)
        workdir = flags.FLAGS.workdir or os.path.dirname(os.path.abspath(_MERGE.value[0]))
        os.makedirs(workdir, exist_ok=True)
        return sets.report(merged, workdir)
    if _BUDGET.value <= 0:
        raise NAGError(f"--budget_s={_BUDGET.value} must be positive")
    ks, shard = sets.parse_ks(_KS.value), sets.parse_shard(_SHARD.value)
    ways = set_ways.parse_set_ways(_SET_METHODS.value)
    if shard and ways != ("cold",):
        raise NAGError("--shard trains cold sets only: with --set_methods other than cold, run without --shard")
    if shard and "nag" in flags.FLAGS.methods:
        raise NAGError("--shard trains the baselines' runs only: train NAG in the run without --shard (drop nag)")
    plan = comparison_flags.plan_from_flags(flags.FLAGS, "nag_sets_")
    if shard:
        trained = {
            method: {
                str(k): {"runs": len(runs), "seconds": round(sum(run.seconds for run in runs), 1)}
                for k, runs in sets.baseline_sets(plan, method, ks, _BUDGET.value, shard).items()
            }
            for method in plan.methods
        }
        print(json.dumps({"shard": _SHARD.value, "workdir": plan.workdir, "trained": trained}))
        return
    sets.report(sets.score_sets(plan, ks, _BUDGET.value, _GOAL.value, ways), plan.workdir)


if __name__ == "__main__":
    app.run(lambda argv: run_or_exit(_main, argv), flags_parser=parse_flags_or_exit)
