"""Training the compared methods the same way for every bench: NAG from its flagfile, the baselines
with their screened settings, each under a budget of optimisation seconds and a seed.

Imported by `bench/compare.py` (one run per method) and `bench/distribution_value.py` (NAG once, each
baseline K times at budget / K). The baselines' settings are flags here, so both benches read one
definition of them; a run returns a `MethodRun`: its source, steps, seconds and target image passes.
"""

import dataclasses
import os

import _common
from absl import flags

from nag_tf.core.loss_config import AUTHORS_PAIRS, LITE0_PAIRS

METHODS = ("nag", "sgd_uap", "sga", "dm_uap")

NAG_FLAGFILE = flags.DEFINE_string("nag_flagfile", "quickstart.flags", "NAG's configuration.")
NAG_SET = flags.DEFINE_multi_string(
    "nag_set", [], "More NAG flags after the flagfile, e.g. --nag_set=--learning_rate=0.002."
)
SELECTION = flags.DEFINE_integer(
    "nag_selection_images",
    64,
    "Training photos NAG sets aside to choose its best epoch (the demo flagfile's 32 is coarse).",
)
UAP_STEP_DECAY = flags.DEFINE_float(
    "uap_step_decay", 0.8, "SGD-UAP's step size factor per pass over the data (1 = constant)."
)
SGA_BATCH = flags.DEFINE_integer("sga_batch", 250, "SGA's outer batch (the authors': 250).")
SGA_INNER = flags.DEFINE_integer(
    "sga_inner_iterations", 4, "SGA's inner passes over each outer batch (the authors': 4)."
)
# DM-UAP as screened for EfficientNet-Lite0 on CPU (nag_tf.core.loss_config.LITE0_PAIRS says where and why): a
# smaller batch and fewer inner steps than the authors' (125, 10, 10) buy ten times the steps.
DM_BATCH = flags.DEFINE_integer("dm_batch", 32, "DM-UAP's batch (screened; the authors': 125).")
DM_WEIGHT_STEPS = flags.DEFINE_integer(
    "dm_weight_steps",
    LITE0_PAIRS.weight_steps,
    f"DM-UAP's weight steps a batch (the authors': {AUTHORS_PAIRS.weight_steps}).",
)
DM_IMAGE_STEPS = flags.DEFINE_integer(
    "dm_image_steps",
    LITE0_PAIRS.image_steps,
    f"DM-UAP's image steps a batch (the authors': {AUTHORS_PAIRS.image_steps}).",
)
DM_RHO = flags.DEFINE_float(
    "dm_rho",
    LITE0_PAIRS.rho,
    f"DM-UAP's weight radius at full ramp ({LITE0_PAIRS.rho:g} for Lite0's 4.7M parameters; the authors': "
    f"{AUTHORS_PAIRS.rho:g} for VGG-19).",
)
DM_IMAGE_RADIUS = flags.DEFINE_float(
    "dm_image_radius",
    LITE0_PAIRS.image_radius,
    "DM-UAP's photo radius (L2, 0-255 scale) at full ramp (25 on [0, 1]).",
)


@dataclasses.dataclass
class MethodRun:
    name: str
    source: object  # an sources.PerturbationSource
    steps: int
    seconds: float
    image_passes: int
    snapshots: dict  # mark (s) -> PerturbationSource


def nag_config(train_folder, eval_folder, workdir, budget_s, seed):
    """NAG's configuration; the baselines read their target, ξ, batch and pixel space from it too."""
    from nag_tf.training.train_flags import config_from_flagfile

    return config_from_flagfile(
        NAG_FLAGFILE.value,
        flags_after=NAG_SET.value,
        target=_common.TARGET.value,
        data_dir=train_folder,
        holdout_dir=eval_folder,
        selection_images=SELECTION.value,
        epochs=10**6,
        time_budget_s=budget_s,
        logdir=os.path.join(workdir, "nag"),
        eval_samples=2,
        seed=seed,
        verbose=2,
    )


def train_nag(config, workdir, marks=()):
    """NAG with the flagfile's settings; its final printout reads the evaluation folder (once training is over)."""
    from nag_tf.core.config import generator_for
    from nag_tf.evaluation import sources
    from nag_tf.training import train_lib

    snapshot_dir = os.path.join(workdir, "nag_snapshots")
    os.makedirs(snapshot_dir, exist_ok=True)

    def snapshot(mark, model):
        model.prepare_for_inference()
        path = os.path.join(snapshot_dir, f"{int(mark)}s.weights.h5")
        model.generator.save_weights(path)

    result = train_lib.train(config, budget_marks=marks, on_budget_mark=snapshot)
    snapshots = {}
    for mark in marks:
        path = os.path.join(snapshot_dir, f"{int(mark)}s.weights.h5")
        if os.path.exists(path):
            generator = generator_for(config)
            generator.load_weights(path)
            snapshots[mark] = sources.GeneratorSource(generator, config.xi, f"nag@{int(mark)}s", config.target_text)
    source = sources.load_source(config.logdir, "nag")
    return MethodRun(
        name="nag",
        source=source,
        steps=result.steps,
        seconds=result.optimisation_seconds,
        image_passes=result.target_image_passes,
        snapshots=snapshots,
    )


class SingleTrainer:
    """Trains one baseline perturbation at a time on the training folder, the target and images loaded once.

    NAG's selection images are included: they choose nothing for a baseline. `train(method, budget_s, seed,
    out)` returns a MethodRun; the seed sets the data order (and DM-UAP's starting point).
    """

    def __init__(self, config, train_folder):
        import keras_apps
        from nag_tf.inputs import batches

        self.config = config
        self.target = keras_apps.load_target(config.target_text, config.weights)
        self.cached = batches.load_folder(train_folder, self.target, config.batch_size, "training images")

    def train(self, method, budget_s, seed, out, marks=(), name=None, reuse=False):
        """With reuse, a perturbation already at `out` from a finished run (its .json holds the run's
        steps, seconds and passes) is read back instead of trained again: a stopped bench resumes."""
        import json

        from nag_tf.baselines import dm_uap_lib, sga_lib, sgd_uap_lib
        from nag_tf.evaluation import sources

        config, target, cached = self.config, self.target, self.cached
        name = name or method
        record = out[:-4] + ".json"
        if reuse and os.path.exists(out) and os.path.exists(record):
            with open(record) as handle:
                done = json.load(handle)
            if done.get("budget_s") == budget_s and done.get("seed") == seed and "seconds" in done:
                return MethodRun(
                    name, sources.load_source(out, name), done["steps"], done["seconds"], done["image_passes"], {}
                )
        snapshots = {}

        def snapshot(mark, perturbation):
            snapshots[mark] = sources.FixedPerturbationSource(
                perturbation, config.xi, f"{name}@{int(mark)}s", config.target_text
            )

        common = dict(
            xi=config.xi,
            time_budget_s=budget_s,
            steps=10**9,
            seed=seed,
            clip=config.clip,
            norm=config.norm,
            marks=marks,
            on_mark=snapshot,
        )
        if method == "sgd_uap":
            perturbation, steps, seconds = sgd_uap_lib.train_sgd_uap(
                target, cached, batch_size=config.batch_size, step_decay=UAP_STEP_DECAY.value, **common
            )
            passes = steps * config.batch_size
        elif method == "dm_uap":
            batch = min(DM_BATCH.value, len(cached))
            pair = dict(
                rho=DM_RHO.value,
                image_radius=DM_IMAGE_RADIUS.value,
                weight_steps=DM_WEIGHT_STEPS.value,
                image_steps=DM_IMAGE_STEPS.value,
            )
            perturbation, steps, seconds = dm_uap_lib.train_dm_uap(target, cached, batch_size=batch, **pair, **common)
            passes = steps * dm_uap_lib.image_passes_per_step(batch, **pair)  # the pair's steps count as passes
        elif method == "sga":
            batch = min(SGA_BATCH.value, len(cached))
            perturbation, steps, seconds = sga_lib.train_sga(
                target, cached, batch_size=batch, inner_iterations=SGA_INNER.value, **common
            )
            passes = steps * batch * SGA_INNER.value  # K inner passes over each outer batch
        else:
            raise ValueError(f"unknown baseline {method!r}")
        run = dict(steps=steps, seconds=round(seconds, 3), image_passes=passes, budget_s=budget_s, seed=seed)
        path = sgd_uap_lib.save_perturbation(
            perturbation,
            out,
            config.xi,
            config.target_text,
            norm=config.norm,
            method=method,
            clip=config.clip,
            extra=run,
        )
        return MethodRun(
            name=name,
            source=sources.load_source(path, name),
            steps=steps,
            seconds=seconds,
            image_passes=passes,
            snapshots=snapshots,
        )
