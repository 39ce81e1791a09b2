"""Attack methods as one library concept: NAG, SGD-UAP, SGA and DM-UAP, each a module with a typed, frozen
settings record, all trained through one call, `train(settings, target, photos, budget, seed, ...)`,
which returns a `MethodRun` (its source, steps, seconds, image passes, snapshots).

    from nag_tf import methods
    run = methods.train(methods.settings_for("sga"), "efficientnet_lite0", "demo", budget=30, seed=0)
"""

from nag_tf.methods.registry import METHODS, method_for, module_of, settings_for
from nag_tf.methods.run import Budget, MethodRun, TargetSpec, train

__all__ = ["METHODS", "Budget", "MethodRun", "TargetSpec", "method_for", "module_of", "settings_for", "train"]
