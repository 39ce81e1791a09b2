"""SGA (Liu et al., ICCV 2023) as a method: its settings and its optimiser (nag_tf.baselines.sga_lib)."""

import dataclasses

from nag_tf.methods import single
from nag_tf.records import check, setting

NAME = "sga"
TITLE = "SGA (Liu et al., ICCV 2023)"


@dataclasses.dataclass(frozen=True)
class Settings(single.UniversalSettings):
    batch_size: int = setting(250, "Images per outer step (the authors': 250).")
    minibatch: int = setting(10, "Images per inner step (the authors': 10).")
    inner_iterations: int = setting(4, "K: inner passes over the batch per outer step (the authors': 4).")
    step_fraction: float = setting(0.1, "Signed step size as a fraction of xi (the authors': 0.1).")
    beta: float = setting(9.0, "Clamp of the cross-entropy (the authors': 9).")
    members: int = setting(
        1,
        "Ours (issue #50): M > 1 learns M perturbations jointly, each photo's loss on the member that fools it "
        "best (softly), each member stepped by its own gradient's sign; an inner step costs M perturbed passes "
        "of its minibatch. 1: the authors' method.",
        added="2026-12-07",
    )
    member_softness: float = setting(
        1.0, "With members > 1: tau of the soft maximum over members (-> 0: the best).", added="2026-12-07"
    )

    def validate(self):
        check(
            (
                (
                    min(self.batch_size, self.minibatch, self.inner_iterations) >= 1,
                    "batch_size, minibatch and inner_iterations must be at least 1",
                ),
                (
                    self.minibatch <= self.batch_size,
                    f"minibatch={self.minibatch} is larger than batch_size={self.batch_size}",
                ),
                (self.step_fraction > 0 and self.beta > 0, "step_fraction and beta must be positive"),
                (self.members >= 1, f"members={self.members} must be at least 1"),
                (self.member_softness > 0, f"member_softness={self.member_softness} must be positive"),
            )
        )
        return super().validate()


COMPARISON = Settings()  # the comparisons' settings: the authors'


def settings_type():
    return Settings


def comparison_settings():
    """The settings the comparisons train this method with (`--set` overrides them)."""
    return COMPARISON


def _optimise(settings, target, cached, budget, seed, **loop):
    from nag_tf.baselines import sga_lib

    return sga_lib.train_sga(
        target,
        cached,
        xi=settings.xi,
        batch_size=min(settings.batch_size, len(cached)),
        minibatch=settings.minibatch,
        inner_iterations=settings.inner_iterations,
        step_fraction=settings.step_fraction,
        beta=settings.beta,
        steps=budget.steps or 10**9,
        time_budget_s=budget.seconds,
        seed=seed,
        clip=settings.clip,
        norm=settings.norm,
        members=settings.members,
        softness=settings.member_softness,
        **loop,
    )


def _passes_per_step(settings, photos):
    # K inner passes over each outer batch, each member on every photo of them for the joint form.
    return min(settings.batch_size, photos) * settings.inner_iterations * settings.members


def train(settings, target, photos, budget, seed, workdir, loop, heldout=None):
    del heldout  # no held-out report (single.train_single)
    return single.train_single(NAME, _optimise, _passes_per_step, settings, target, photos, budget, seed, workdir, loop)


load = single.load_single
