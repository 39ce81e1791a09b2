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
        **loop,
    )


def _passes_per_step(settings, photos):
    return min(settings.batch_size, photos) * settings.inner_iterations  # K inner passes over each outer batch


def train(settings, target, photos, budget, seed, workdir, loop, heldout=None):
    del heldout  # no held-out report (single.train_single)
    return single.train_single(NAME, _optimise, _passes_per_step, settings, target, photos, budget, seed, workdir, loop)


load = single.load_single
