"""The NAG generator: z ~ U[-1, 1]^d -> delta, an image-sized perturbation.

The architecture follows the paper's appendix (Table 5, adapted from
improved-GAN): FC -> 4x4x448, then 5x5 transposed convolutions doubling the
resolution 7 -> 14 -> ... each with batch normalisation and ReLU, then a last
transposed convolution to 3 channels and delta = xi * tanh(.), so
||delta||_inf <= xi holds exactly, whatever the weights.

The output follows the target's input size: the resolution chain stops at the
largest 7 * 2^k not above the size and is then upsampled bilinearly (before
the tanh, so the bound stays exact). 224 needs no resize; 299 (Inception v3)
is generated at 224 and upsampled, which is far cheaper than a 448 stage.

Long (over 300 lines) because the generator's own layers (the budget's output layers, the base
perturbation, the noise channels) sit with the one builder that assembles them for every variant.
"""

import weakref

import keras
import tensorflow as tf
from keras import layers

from nag_tf import seeds
from nag_tf.choices import GENERATOR_VARIANTS, LINF_OUTPUTS, NORMS
from nag_tf.core import latent

__all__ = [
    "BasePerturbation",
    "build_generator",
    "calibrate_batch_norm",
    "GENERATOR_VARIANTS",
    "LINF_OUTPUTS",
    "NORMS",
    "NoiseChannels",
    "ScaledTanh",
    "ScaleToL2Ball",
    "ScaleToLinfSphere",
]

# tanh_floor's floor under tanh'(x) in training: tanh' at |x| ~ 1.3, a quarter of its peak (ours, untuned).
TANH_GRADIENT_FLOOR = 0.25

# Channels at 7, 14, 28, 56, 112, 224 (and beyond) per the paper's Table 5.
_PAPER_CHANNELS = (256, 128, 64, 64, 64, 64, 64)
# The "light" variant: the same chain with fewer channels at high resolution,
# where the paper's generator spends most of its FLOPs: its last two layers cost ~3.8 GFLOP an image
# at 224 px, several times EfficientNet-Lite0's ~0.8 (docs/method.md, The generator).
_LIGHT_CHANNELS = (256, 128, 64, 32, 16, 8, 8)
# Reference code: fresh U[-1, 1] noise channels concatenated at each resolution.
_REFERENCE_NOISE = {4: 64, 7: 64, 14: 32, 28: 16}
_REFERENCE_NOISE_HIGH_RES = 8


@keras.saving.register_keras_serializable(package="nag_tf")
class NoiseChannels(layers.Layer):
    """Concatenates `channels` fresh U[-1, 1] noise maps to a feature map (reference code)."""

    def __init__(self, channels, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x):
        shape = tf.concat([tf.shape(x)[:-1], [self.channels]], axis=0)
        noise = keras.random.uniform(shape, minval=-1.0, maxval=1.0, seed=self.seed_generator, dtype=x.dtype)
        return tf.concat([x, noise], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "seed": self.seed}


@keras.saving.register_keras_serializable(package="nag_tf")
class ScaledTanh(layers.Layer):
    """delta = xi * tanh(x): the L-infinity budget, exact by construction.

    `gradient_floor` (ours; training only, the output is the same): the
    backward pass uses max(tanh'(x), floor) for tanh'. Why: a trained generator
    saturates most pixels (|x| > 3 for ~75% of them at 1800 s, tanh' < 0.01),
    so the exact gradient can hardly flip a pixel's sign and the fooling and
    diversity losses only move the few unsaturated ones. The floor is the same
    both ways: a floor only for steps towards 0 ratchets every noisy pixel
    to 0 (tried: the perturbation faded, 4% fooled after 10 steps vs 40%).
    Measured (docs/experiments/2026-12-01-fourth-split-and-levers-1800s.md): worse at 1800 s, its outward pushes
    saturated 99.9% of the pixels; kept as a flag for study, off by default.
    """

    def __init__(self, xi, gradient_floor=0.0, **kwargs):
        super().__init__(**kwargs)
        self.xi = float(xi)
        self.gradient_floor = float(gradient_floor)

    def call(self, x, training=None):
        if self.gradient_floor > 0 and training:
            return self.xi * _tanh_with_floored_gradient(x, self.gradient_floor)
        return self.xi * keras.ops.tanh(x)

    def get_config(self):
        return {**super().get_config(), "xi": self.xi, "gradient_floor": self.gradient_floor}


@keras.saving.register_keras_serializable(package="nag_tf")
class BasePerturbation(layers.Layer):
    """Adds b, one free S x S x 3 tensor shared by every z, to the raw map before the budget (ours).

    delta(z) = xi * tanh(b + g(z)). Why: the part every sample shares is a
    single universal perturbation, and learning it through the generator's
    weights is slow (g's output moves only as far as its last layers let it),
    while a single perturbation method moves its pixels directly. b is that
    direct path; g(z) carries the variety, and the diversity constraint on the
    sampled deltas keeps the samples apart.

    Its own step size: b = multiplier * v with v the trained variable, so Adam,
    whose steps are about the learning rate lr whatever the gradient's scale,
    moves b by about multiplier * lr a step (`generator_for` sets multiplier =
    base_perturbation_step / lr). v starts at 0: the untrained generator is
    unchanged.
    """

    def __init__(self, multiplier, **kwargs):
        super().__init__(**kwargs)
        self.multiplier = float(multiplier)

    def build(self, input_shape):
        self.base = self.add_weight(name="base", shape=tuple(input_shape[1:]), initializer="zeros", trainable=True)

    def call(self, x):
        return x + self.multiplier * tf.cast(self.base, x.dtype)

    def get_config(self):
        return {**super().get_config(), "multiplier": self.multiplier}


def _tanh_with_floored_gradient(x, floor):
    """tanh(x), with max(tanh'(x), floor) in place of tanh'(x) in the backward pass."""

    @tf.custom_gradient
    def floored(x):
        y = tf.tanh(x)
        return y, lambda upstream: upstream * tf.maximum(1.0 - tf.square(y), floor)

    return floored(x)


@keras.saving.register_keras_serializable(package="nag_tf")
class ScaleToL2Ball(layers.Layer):
    """delta = x * min(1, xi / ||x||_2) per sample: the L2 budget, exact by construction.

    A radial projection rather than a tanh: inside the ball the output is the
    raw map, on the boundary it keeps its direction, so ||delta||_2 <= xi
    whatever the weights.
    """

    def __init__(self, xi, **kwargs):
        super().__init__(**kwargs)
        self.xi = float(xi)

    def call(self, x):
        norm = tf.sqrt(tf.reduce_sum(tf.square(x), axis=[1, 2, 3], keepdims=True) + 1e-12)
        return x * tf.minimum(1.0, self.xi / norm)

    def get_config(self):
        return {**super().get_config(), "xi": self.xi}


@keras.saving.register_keras_serializable(package="nag_tf")
class ScaleToLinfSphere(layers.Layer):
    """delta = xi * x / max|x| per sample: the L-infinity budget without tanh saturation (ours).

    xi * tanh saturates as training pushes every pixel to the budget, and a
    saturated tanh passes no gradient: neither the diversity loss nor z can
    move delta any more, and the generator collapses onto one perturbation.
    Rescaling by the largest magnitude keeps ||delta||_inf = xi exactly while
    every pixel keeps a gradient of the same size.
    """

    def __init__(self, xi, **kwargs):
        super().__init__(**kwargs)
        self.xi = float(xi)

    def call(self, x):
        peak = tf.reduce_max(tf.abs(x), axis=[1, 2, 3], keepdims=True)
        return self.xi * x / (peak + 1e-12)

    def get_config(self):
        return {**super().get_config(), "xi": self.xi}


def _resolutions(image_size):
    """The chain 7, 14, ..., up to the largest 7 * 2^k <= image_size (at least 7)."""
    sizes = [7]
    while sizes[-1] * 2 <= image_size:
        sizes.append(sizes[-1] * 2)
    return sizes


def build_generator(
    image_size,
    latent_dim=10,
    xi=10.0,
    variant="paper",
    seed=None,
    name="nag_generator",
    norm="linf",
    linf_output="tanh",
    base_multiplier=0.0,
):
    """Builds the generator as a functional Keras model.

    Args:
      image_size: side of the square perturbation (the target's input size).
      latent_dim: d, the size of z (paper: 10; reference code: 100).
      xi: the budget on the 0-255 scale: L-infinity (paper: 10) or L2 (see `norm`).
      variant: "paper" (Table 5), "reference" (plus noise channels at every
        resolution, as the authors' code), "light" (fewer channels at high
        resolution: cheaper on CPU) or "light_resize" (light, with bilinear
        upsampling + 3x3 convolutions instead of strided transposed ones).
      seed: seed of the weight initialisers and noise channels.
      name: model name.
      norm: "linf" (delta = xi * tanh, the paper) or "l2" (the raw output
        scaled onto the L2 ball of radius xi).
      linf_output: with norm="linf", "tanh" (the paper), "tanh_floor" (the
        same output, a floor under tanh' in training: see ScaledTanh)
        or "rescale" (delta = xi * x / max|x|: no saturation, see ScaleToLinfSphere).
      base_multiplier: > 0 adds a free base perturbation b (BasePerturbation)
        to the raw map before the budget, b's step being about this times the
        learning rate; 0 (the paper) adds none.

    Returns:
      keras.Model mapping float32 [N, latent_dim] to float32 [N, S, S, 3].
    """
    if variant not in GENERATOR_VARIANTS:
        raise ValueError(f"unknown generator variant {variant!r}; expected one of {GENERATOR_VARIANTS}")
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; expected one of {NORMS}")
    init_seed, last_init_seed = (
        (None, None) if seed is None else (seeds.derive(seed, "generator_init", i) for i in (0, 1))
    )
    init = keras.initializers.RandomNormal(0.0, 0.02, seed=init_seed)
    last_init = keras.initializers.RandomNormal(0.0, 0.15, seed=last_init_seed)
    channels = _LIGHT_CHANNELS if variant in ("light", "light_resize") else _PAPER_CHANNELS

    def noise(x, resolution, index):
        if variant != "reference":
            return x
        count = _REFERENCE_NOISE.get(resolution, _REFERENCE_NOISE_HIGH_RES)
        seed_i = None if seed is None else seeds.derive(seed, "generator_noise", index)
        return NoiseChannels(count, seed=seed_i, name=f"noise_{resolution}")(x)

    z = keras.Input((latent_dim,), name="z")
    x = layers.Dense(4 * 4 * 448, kernel_initializer=init, name="fc")(z)
    x = layers.Reshape((4, 4, 448), name="reshape")(x)
    # synchronized: under tf.distribute the statistics cover the global batch, as on one device.
    x = layers.BatchNormalization(synchronized=True, name="fc_bn")(x)
    x = layers.ReLU(name="fc_relu")(x)
    for index, resolution in enumerate(_resolutions(image_size)):
        x = noise(x, resolution // 2 if index else 4, index)
        if index == 0:
            # 4 -> 7 cannot be a stride-2 doubling: a 4x4 'valid' kernel gives 4 + 4 - 1 = 7.
            conv = layers.Conv2DTranspose(
                channels[0], 4, strides=1, padding="valid", kernel_initializer=init, name="deconv_7"
            )
        elif variant == "light_resize":
            # Resize, then convolve: a strided transposed convolution leaves checkerboard textures
            # (Odena et al., Distill 2016); 3x3 at the doubled size costs ~1.4x the 5x5 transposed one.
            width = channels[min(index, len(channels) - 1)]
            x = layers.UpSampling2D(2, interpolation="bilinear", name=f"upsample_{resolution}")(x)
            conv = layers.Conv2D(width, 3, padding="same", kernel_initializer=init, name=f"conv_{resolution}")
        else:
            width = channels[min(index, len(channels) - 1)]
            conv = layers.Conv2DTranspose(
                width, 5, strides=2, padding="same", kernel_initializer=init, name=f"deconv_{resolution}"
            )
        x = conv(x)
        x = layers.BatchNormalization(synchronized=True, name=f"bn_{resolution}")(x)
        x = layers.ReLU(name=f"relu_{resolution}")(x)
    final = _resolutions(image_size)[-1]
    x = noise(x, final, len(_resolutions(image_size)))
    x = layers.Conv2DTranspose(3, 5, strides=1, padding="same", kernel_initializer=last_init, name="to_rgb")(x)
    if final != image_size:
        x = layers.Resizing(image_size, image_size, interpolation="bilinear", name="resize")(x)
    if base_multiplier:
        x = BasePerturbation(base_multiplier, name="base_perturbation")(x)
    return _with_budget(z, x, xi, norm=norm, linf_output=linf_output, name=name)


def _with_budget(z, x, xi, norm, linf_output, name):
    """The generator model: the raw map x brought within the budget (xi tanh, L2 ball, or rescaled)."""
    if linf_output not in LINF_OUTPUTS:
        raise ValueError(f"unknown linf_output {linf_output!r}; expected one of {LINF_OUTPUTS}")
    if norm == "l2":
        budget = ScaleToL2Ball(xi, dtype="float32", name="perturbation")
    elif linf_output == "rescale":
        budget = ScaleToLinfSphere(xi, dtype="float32", name="perturbation")
    else:
        floor = TANH_GRADIENT_FLOOR if linf_output == "tanh_floor" else 0.0
        budget = ScaledTanh(xi, gradient_floor=floor, dtype="float32", name="perturbation")
    delta = budget(x)
    return keras.Model(z, delta, name=name)


# One compiled training-mode forward pass per generator for calibrate_batch_norm, traced with momentum 0.
_CALIBRATION_PASSES = weakref.WeakKeyDictionary()


def calibrate_batch_norm(generator, samples=256, batch_size=32, seed=0):
    """Sets every batch-norm layer's moving statistics to those of the z distribution.

    Why: training normalises with the statistics of each batch of z, and the
    moving averages (momentum 0.99) lag far behind a fast-changing generator,
    so in inference mode an early generator outputs almost nothing. z is drawn
    from a known distribution, U[-1, 1]^d, so its statistics can simply be
    measured: `samples` latent vectors in chunks of `batch_size` (NAGModel: the
    perturbations of one training step, 8 chunks, so the statistics are those
    training normalised with), the moving statistics set to the mean over chunks
    of each chunk's batch statistics.
    Deterministic for a seed. The pass is compiled once per generator (with
    momentum 0, so each pass leaves its chunk's statistics to be averaged
    here): eagerly, the chunks cost most of a tiny run's bookkeeping.
    """
    norms = [layer for layer in generator.layers if isinstance(layer, layers.BatchNormalization)]
    if not norms:
        return
    latent_dim = int(generator.input_shape[-1])
    if generator not in _CALIBRATION_PASSES:
        _CALIBRATION_PASSES[generator] = tf.function(lambda z: generator(z, training=True))
    forward = _CALIBRATION_PASSES[generator]
    chunks = max(1, samples // batch_size)
    saved = [layer.momentum for layer in norms]
    sums = [[0.0, 0.0] for _ in norms]
    try:
        for layer in norms:
            layer.momentum = 0.0
        for chunk in range(chunks):
            forward(latent.stateless([batch_size, latent_dim], [seed, chunk]))
            for total, layer in zip(sums, norms):
                total[0] += layer.moving_mean.numpy()
                total[1] += layer.moving_variance.numpy()
    finally:
        for layer, momentum in zip(norms, saved):
            layer.momentum = momentum
    for (mean, variance), layer in zip(sums, norms):
        layer.moving_mean.assign(mean / chunks)
        layer.moving_variance.assign(variance / chunks)
