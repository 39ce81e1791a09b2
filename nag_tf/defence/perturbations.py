"""The perturbations of a defence comparison (nag_tf.defence.compare): the training sources each defence
learns from, and the attacks it is tested against, each a run of a method reused from the workdir when
finished there.
"""

import os

import numpy as np

from nag_tf import seeds
from nag_tf.comparison import set_ways
from nag_tf.defence.defence_options import UNSEEN_METHODS

__all__ = ["training_draws", "attacks"]


def _perturbations_of(source, samples):
    """A run's perturbations for scoring: `samples` draws (a single perturbation: itself once)."""
    count = min(samples, source.distinct_samples or samples)
    return np.asarray(source.sample(count, 0))


def training_draws(plan, options, source, image_size, workdir):
    """(make_draws, optimisation seconds, image passes) of one training source.

    make_draws() builds the source's draws afresh, seeded from the `defence_draws` stream: the detector and the
    rectifier each take their own, so both see the same perturbations in the same order, and a defence read
    back from the workdir leaves the next one's perturbations as they were (shared draws gave the rectifier
    the stream after the detector's 100 steps, or from its start when the detector was read back)."""
    from nag_tf.defence import draws

    seed = seeds.derive(plan.seed, "defence_draws")

    def signs():
        return draws.RandomSigns(image_size, plan.nag_config.xi, seed)

    if source == "signs":
        return signs, 0.0, 0
    if source in ("nag", "nag_signs"):  # one run serves both: nag_signs is nag's samples half mixed with signs
        run = plan.train("nag", options.source_budget_s, plan.seed, os.path.join(workdir, "nag"))

        def samples():
            made = draws.GeneratorSamples(run.source.generator, seed)
            return draws.Mixture([made, signs()], seed) if source == "nag_signs" else made

        return samples, run.seconds, run.image_passes
    if source == "nag_several":
        runs = [
            plan.train(
                "nag",
                options.source_budget_s / options.nag_generators,
                seeds.derive(plan.seed, "defence_nag_several", index),
                os.path.join(workdir, "nag_several", str(index)),
            )
            for index in range(options.nag_generators)
        ]
        return (
            lambda: draws.Mixture([draws.GeneratorSamples(run.source.generator, seed) for run in runs], seed),
            sum(run.seconds for run in runs),
            sum(run.image_passes for run in runs),
        )
    made = set_ways.make_sets(
        plan.train, source, "cold", [options.set_size], options.source_budget_s, plan.seed, workdir
    )
    made = made[options.set_size]
    members = np.stack(made.perturbations)
    return (lambda: draws.SetMembers(members, seed)), made.seconds, made.image_passes


def attacks(plan, methods, budget_s, stream, workdir, samples):
    """{method: perturbations} of new runs of `methods` under `plan` (its target), seeds of `stream`.

    A method's seed is indexed by its place in UNSEEN_METHODS, not in `methods`: an attack is the same run
    whichever other attacks are asked for, so adding one (--adaptive=sga, then nag,sga) reuses the rest."""
    found = {}
    for method in methods:
        seed = seeds.derive(plan.seed, stream, UNSEEN_METHODS.index(method))
        found[method] = _perturbations_of(
            plan.train(method, budget_s, seed, os.path.join(workdir, method)).source, samples
        )
    return found
