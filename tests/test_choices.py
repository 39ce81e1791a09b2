"""Each closed choice is defined once (nag_tf.choices): every enum flag offers exactly its tuple."""

from absl import flags

from nag_tf import choices
from nag_tf.training import train_flags

# Every training enum flag and the choices tuple it must offer.
ENUM_FLAGS = {
    "resize": choices.RESIZE_MODES,
    "norm": choices.NORMS,
    "linf_output": choices.LINF_OUTPUTS,
    "generator": choices.GENERATOR_VARIANTS,
    "diversity_distance": choices.DIVERSITY_DISTANCES,
    "perturbation_similarity": choices.PERTURBATION_SIMILARITIES,
    "fooling_loss": choices.FOOLING_LOSSES,
    "feature_loss": choices.FEATURE_LOSSES,
    "shuffle": choices.SHUFFLE_MODES,
    "fooling_reduction": choices.FOOLING_REDUCTIONS,
    "learning_rate_schedule": choices.LEARNING_RATE_SCHEDULES,
    "strategy": choices.STRATEGIES,
    "mixed_precision": choices.MIXED_PRECISION_POLICIES,
    "verbose": choices.VERBOSITY,
}


def test_every_enum_flag_offers_its_choices_tuple_and_none_is_left_out():
    values = flags.FlagValues()
    train_flags.define_train_flags(values)
    enums = {name for name in values if isinstance(values[name].parser, flags.EnumParser)}
    assert enums == set(ENUM_FLAGS)  # a new enum flag needs its tuple here
    for name, expected in ENUM_FLAGS.items():
        assert tuple(values[name].parser.enum_values) == expected, name


def test_the_modules_that_act_on_a_choice_hold_the_same_object():
    from nag_tf.core import generator, losses
    from nag_tf.inputs import data
    from nag_tf.training import callbacks, distribute

    assert generator.GENERATOR_VARIANTS is choices.GENERATOR_VARIANTS
    assert generator.LINF_OUTPUTS is choices.LINF_OUTPUTS and generator.NORMS is choices.NORMS
    assert losses.FOOLING_LOSSES is choices.FOOLING_LOSSES
    assert losses.PERTURBATION_SIMILARITIES is choices.PERTURBATION_SIMILARITIES
    assert losses.FEATURE_LOSSES is choices.FEATURE_LOSSES
    assert losses.SHUFFLE_MODES is choices.SHUFFLE_MODES
    assert data.RESIZE_MODES is choices.RESIZE_MODES
    assert distribute.STRATEGIES is choices.STRATEGIES
    assert callbacks.LEARNING_RATE_SCHEDULES is choices.LEARNING_RATE_SCHEDULES


def _fields_whose_flag_default_differs(values):
    """TrainConfig fields that the flags, parsed with nothing given, set otherwise than the field's default."""
    import dataclasses

    from nag_tf.core.config import TrainConfig

    values(["train"])
    built, default = train_flags.config_from_flag_values(values), TrainConfig()
    return [f.name for f in dataclasses.fields(default) if getattr(built, f.name) != getattr(default, f.name)]


def test_every_training_flag_default_is_its_config_fields_default():
    """Issue #51: a default is written twice (TrainConfig's field and DEFINE_* in train_flags); with no flag
    given, the flags must build exactly TrainConfig(), so the two cannot drift apart unnoticed."""
    values = flags.FlagValues()
    train_flags.define_train_flags(values)
    assert _fields_whose_flag_default_differs(values) == []
    values.set_default("batch_size", 16)  # a drifted flag default is found
    assert _fields_whose_flag_default_differs(values) == ["batch_size"]
