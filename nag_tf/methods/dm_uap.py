"""DM-UAP (Zhang et al., AAAI 2025) as a method: its settings and its optimiser (nag_tf.baselines.dm_uap_lib).

The defaults are the authors' (VGG-19 on a GPU); `COMPARISON` is the setting screened for
EfficientNet-Lite0 on a CPU budget (nag_tf.core.loss_config.LITE0_PAIRS says where and why): a smaller
batch and fewer inner steps buy ten times the steps.
"""

import dataclasses

from nag_tf.core.loss_config import AUTHORS_PAIRS, LITE0_PAIRS
from nag_tf.methods import single
from nag_tf.records import check, setting

NAME = "dm_uap"
TITLE = "DM-UAP (Zhang et al., AAAI 2025)"


@dataclasses.dataclass(frozen=True)
class Settings(single.UniversalSettings):
    batch_size: int = setting(125, "Images per step (the authors': 125).")
    rho: float = setting(
        AUTHORS_PAIRS.rho,
        "Largest L2 move of the classifier's weights, at full ramp (the authors': 4, for VGG-19's 143M "
        "parameters; scale by sqrt(parameters / 143M): 0.73 for EfficientNet-Lite0).",
    )
    image_radius: float = setting(
        AUTHORS_PAIRS.image_radius, "Largest L2 move of each photo on the 0-255 scale, at full ramp (25 on [0, 1])."
    )
    weight_steps: int = setting(AUTHORS_PAIRS.weight_steps, "Normalised-gradient steps of the weights a batch.")
    image_steps: int = setting(AUTHORS_PAIRS.image_steps, "L2 PGD steps of the photos a batch.")
    smoothing: float = setting(0.2, "Label smoothing of the weights' loss (the authors': 0.2).")
    beta: float = setting(9.0, "Clamp of the cross-entropy (the authors': 9).")
    learning_rate: float = setting(25.5, "AdamW step on the 0-255 scale (0.1 on [0, 1]).")
    ramp_steps: int = setting(80, "Without a time budget: the steps the ramp spans (the authors': 80).")
    members: int = setting(
        1,
        "Ours (issue #50): K > 1 learns K perturbations jointly, each photo's loss on the member that fools it "
        "best (softly), one AdamW; a step costs K perturbed passes of the batch. 1: the authors' method.",
        added="2026-12-07",
    )
    member_softness: float = setting(
        1.0, "With members > 1: tau of the soft maximum over members (-> 0: the best).", added="2026-12-07"
    )

    def validate(self):
        check(
            (
                (self.batch_size >= 1, f"batch_size={self.batch_size} must be at least 1"),
                (self.rho >= 0, f"rho={self.rho} must be >= 0 (0: no weight steps)"),
                (self.image_radius >= 0, f"image_radius={self.image_radius} must be >= 0 (0: no image steps)"),
                (self.weight_steps >= 0 and self.image_steps >= 0, "weight_steps and image_steps must be >= 0"),
                (0 <= self.smoothing < 1, f"smoothing={self.smoothing} must be in [0, 1)"),
                (self.beta > 0, f"beta={self.beta} must be positive"),
                (self.learning_rate > 0, f"learning_rate={self.learning_rate} must be positive"),
                (self.ramp_steps >= 1, f"ramp_steps={self.ramp_steps} must be at least 1"),
                (self.members >= 1, f"members={self.members} must be at least 1"),
                (self.member_softness > 0, f"member_softness={self.member_softness} must be positive"),
            )
        )
        return super().validate()


COMPARISON = Settings(batch_size=32, **dataclasses.asdict(LITE0_PAIRS))


def _pair(settings):
    return dict(
        rho=settings.rho,
        image_radius=settings.image_radius,
        weight_steps=settings.weight_steps,
        image_steps=settings.image_steps,
    )


def settings_type():
    return Settings


def comparison_settings():
    """The settings the comparisons train this method with (`--set` overrides them)."""
    return COMPARISON


def _optimise(settings, target, cached, budget, seed, **loop):
    from nag_tf.baselines import dm_uap_lib

    return dm_uap_lib.train_dm_uap(
        target,
        cached,
        xi=settings.xi,
        batch_size=min(settings.batch_size, len(cached)),
        steps=budget.steps or (10**9 if budget.seconds else settings.ramp_steps),
        time_budget_s=budget.seconds,
        smoothing=settings.smoothing,
        beta=settings.beta,
        learning_rate=settings.learning_rate,
        seed=seed,
        clip=settings.clip,
        norm=settings.norm,
        members=settings.members,
        softness=settings.member_softness,
        **_pair(settings),
        **loop,
    )


def _passes_per_step(settings, photos):
    from nag_tf.baselines import dm_uap_lib

    # The pair's weight and image steps count as passes, beside the perturbation's own.
    return dm_uap_lib.image_passes_per_step(
        min(settings.batch_size, photos), **_pair(settings), members=settings.members
    )


def train(settings, target, photos, budget, seed, workdir, loop, heldout=None):
    del heldout  # no held-out report (single.train_single)
    return single.train_single(NAME, _optimise, _passes_per_step, settings, target, photos, budget, seed, workdir, loop)


load = single.load_single
