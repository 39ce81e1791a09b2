"""SGD-UAP (Shafahi et al., AAAI 2020) as a method: its settings and its optimiser (nag_tf.baselines.sgd_uap_lib)."""

import dataclasses

from nag_tf.methods import single
from nag_tf.records import check, setting

NAME = "sgd_uap"
TITLE = "SGD-UAP (Shafahi et al., AAAI 2020)"


@dataclasses.dataclass(frozen=True)
class Settings(single.UniversalSettings):
    batch_size: int = setting(32, "Images per step.")
    step_fraction: float = setting(0.8, "Signed step size as a fraction of xi.")
    beta: float = setting(12.0, "Clamp of the cross-entropy.")
    step_decay: float = setting(0.8, "Step size factor per pass over the data (1 = constant, as the public code).")

    def validate(self):
        check(
            (
                (self.batch_size >= 1, f"batch_size={self.batch_size} must be at least 1"),
                (self.step_fraction > 0, f"step_fraction={self.step_fraction} must be positive"),
                (self.beta > 0, f"beta={self.beta} must be positive"),
                (0 < self.step_decay <= 1, f"step_decay={self.step_decay} must be in (0, 1]"),
            )
        )
        return super().validate()


COMPARISON = Settings()  # the comparisons' settings: the defaults


def settings_type():
    return Settings


def comparison_settings():
    """The settings the comparisons train this method with (`--set` overrides them)."""
    return COMPARISON


def _optimise(settings, target, cached, budget, seed, **loop):
    from nag_tf.baselines import sgd_uap_lib

    return sgd_uap_lib.train_sgd_uap(
        target,
        cached,
        xi=settings.xi,
        batch_size=min(settings.batch_size, len(cached)),
        steps=budget.steps or 10**9,
        time_budget_s=budget.seconds,
        step_fraction=settings.step_fraction,
        beta=settings.beta,
        seed=seed,
        clip=settings.clip,
        step_decay=settings.step_decay,
        norm=settings.norm,
        **loop,
    )


def _passes_per_step(settings, photos):
    return min(settings.batch_size, photos)


def train(settings, target, photos, budget, seed, workdir, loop, heldout=None):
    del heldout  # no held-out report (single.train_single)
    return single.train_single(NAME, _optimise, _passes_per_step, settings, target, photos, budget, seed, workdir, loop)


load = single.load_single
