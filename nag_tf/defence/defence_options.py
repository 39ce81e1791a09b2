"""The options of a defence comparison (`nag_tf.defend`), defined once without TensorFlow: the binary's flags
are made from this record (nag_tf.record_flags) and read back validated."""

import dataclasses

from nag_tf.records import check, setting

__all__ = ["TRAINING_SOURCES", "DEFAULT_SOURCES", "NAG_SOURCES", "UNSEEN_METHODS", "ADAPTIVE_METHODS", "DefenceOptions"]

# The four sources run by default; nag_signs and nag_several are levers on NAG's source, each
# compared, like nag, with the best source that is not NAG's.
DEFAULT_SOURCES = ("nag", "sga", "dm_uap", "signs")
NAG_SOURCES = ("nag", "nag_signs", "nag_several")
TRAINING_SOURCES = DEFAULT_SOURCES + NAG_SOURCES[1:]
UNSEEN_METHODS = ("sga", "dm_uap", "sgd_uap", "nag")
ADAPTIVE_METHODS = ("nag", "sga")


@dataclasses.dataclass(frozen=True)
class DefenceOptions:
    sources: tuple = setting(
        DEFAULT_SOURCES,
        "What perturbs the defences' training photos: nag (fresh samples of one run), sga and dm_uap (K runs "
        "sharing the budget), signs (random +-xi, the control); levers: nag_signs (each photo a sample of nag's "
        "run or random signs, half and half), nag_several (samples of nag_generators runs sharing the budget).",
    )
    source_budget_s: float = setting(600.0, "Optimisation seconds of each training source (all of a K-set's runs).")
    set_size: int = setting(5, "K: perturbations of a set source (each run gets source_budget_s / K).")
    nag_generators: int = setting(
        3, "Generators of the nag_several source, each its own seed and source_budget_s / nag_generators seconds."
    )
    unseen: tuple = setting(
        UNSEEN_METHODS, "Methods the defences never saw, each a new run against the bare target (nag: another seed)."
    )
    adaptive: tuple = setting(
        ADAPTIVE_METHODS, "Attacks trained against each defended model (rectifier + target) as one classifier."
    )
    attack_budget_s: float = setting(300.0, "Optimisation seconds of each unseen and each adaptive attack.")
    defence_steps: int = setting(300, "Training steps of every detector and rectifier (equal for every source).")
    defence_batch: int = setting(16, "Photos per defence step (the detector also sees them perturbed).")
    learning_rate: float = setting(1e-3, "Adam's learning rate for the detector and the rectifier.")
    closeness: float = setting(1.0, "Weight of the rectifier's mean squared move on clean photos (0-1 scale).")

    def methods(self):
        """The methods whose runs the comparison trains: the sources' (signs none; NAG's levers nag's), the
        unseen and the adaptive attacks'."""
        sources = {"nag" if name in NAG_SOURCES else name for name in self.sources if name != "signs"}
        return sorted(sources | set(self.unseen) | set(self.adaptive))

    def validate(self):
        """Raises NAGError naming the first bad value and its fix; returns self."""
        check(
            (
                (
                    bool(self.sources) and set(self.sources) <= set(TRAINING_SOURCES),
                    f"sources={','.join(self.sources)}: pick among {', '.join(TRAINING_SOURCES)}",
                ),
                (
                    set(self.unseen) <= set(UNSEEN_METHODS),
                    f"unseen={','.join(self.unseen)}: pick among {', '.join(UNSEEN_METHODS)}",
                ),
                (
                    set(self.adaptive) <= set(ADAPTIVE_METHODS),
                    f"adaptive={','.join(self.adaptive)}: pick among {', '.join(ADAPTIVE_METHODS)} (or none)",
                ),
                (self.source_budget_s > 0, f"source_budget_s={self.source_budget_s} must be positive"),
                (self.attack_budget_s > 0, f"attack_budget_s={self.attack_budget_s} must be positive"),
                (self.set_size >= 2, f"set_size={self.set_size} must be at least 2"),
                (self.nag_generators >= 2, f"nag_generators={self.nag_generators} must be at least 2"),
                (self.defence_steps >= 1, f"defence_steps={self.defence_steps} must be at least 1"),
                (self.defence_batch >= 2, f"defence_batch={self.defence_batch} must be at least 2"),
                (self.learning_rate > 0, f"learning_rate={self.learning_rate} must be positive"),
                (self.closeness >= 0, f"closeness={self.closeness} must be >= 0"),
            )
        )
        return self
