"""Every random stream of a run, derived from the run's one seed by name.

Why one function: streams made by adding constants to the seed at each call site collided (NAG's
training z and its selection z both used the key [seed + 1, n], so selection photo n met training
step n's z) and nothing checked it; a stream added later had to pick an unused constant by hand.
Here each stream is named once, in STREAMS, and its integer seed is a hash of (name, run seed,
indices): different names give unrelated integers, so two streams of one run never share a key,
and a run with seed 1 shares nothing with a run with seed 0.

The integers fit in 31 bits because TensorFlow's stateless ops take int32 key pairs in places
(the diversity loss's shuffle seed, SGA's minibatch key); a stateless key of a stream is
[derive(seed, name), counter], the counter being the step, epoch or index within the stream.

Not streams: a split's seed (`data.split_records`, --split_seed) names a fixed partition of photos
that studies refer to ("split 4 chose nothing"); deriving it would rename every split on record.
And the sample number of a generator (`metrics.sample_latents`: sample k is drawn from
z number k). That is an address of one perturbation of a trained generator, shared with the
exported `sample` signature, and a reader asks for "sample 3", not a hash.
"""

import hashlib
import operator

from nag_tf.errors import NAGError

# name -> what it draws. One line per stream; a new stream is a new line here.
STREAMS = {
    "selection_photos": "which training photos are set aside to choose NAG's best epoch",
    "training_order": "the order a method visits its training photos, epoch by epoch",
    "training_z": "NAG's latent z at each training step",
    "training_pairing": "how NAG's diversity loss pairs each δ with another of the batch, each step",
    "selection_z": "the z NAG's selection photos meet (the same at every epoch)",
    "selection_pairing": "how NAG's diversity loss pairs the selection photos' δ (the same at every epoch)",
    "generator_init": "the generator's initial weights",
    "generator_noise": "the reference generator's fixed noise channels",
    "batch_norm_calibration": "the z that recalibrate the generator's batch-norm statistics",
    "latent_sampler": "z NAG's Keras model draws when called on images alone",
    "keras_global": "Keras' and NumPy's global seed (ops that take no seed of their own)",
    "report": "the first sample number of the --eval_samples draw a trained generator is reported with",
    "dm_uap_start": "DM-UAP's random starting perturbation",
    "sga_minibatch": "SGA's inner minibatches within each batch",
    "sga_joint_start": "the random starting members of SGA's joint form (members > 1)",
    "set_run": "the seed of run i of a K-set (indices: K, i)",
    "fork": "the seed of fork i of a K-set of forks from one trunk run (indices: K, i)",
    "hardening_sga": "the seed of the k-th SGA perturbation hardening trains on (index: k)",
    "hardening_order": "the order of the photos in hardening's fine-tuning",
    "hardening_z": "the z of the generator samples hardening fine-tunes on",
    "hardening_mix": "which photos of each fine-tuning batch hardening perturbs",
    "evaluation_z": "the z NAG's Keras model draws when it evaluates on photos alone",
    "defence_draws": "what perturbs each defence's training photos (samples, set members, signs) and its init",
    "defence_order": "the order of the photos in the defences' training",
    "defence_nag_several": "the seed of the i-th generator of the nag_several defence source (index: i)",
    "defence_unseen": "the seed of an unseen attack a defence is tested against (index: its method's place in "
    "UNSEEN_METHODS)",
    "defence_adaptive": "the seed of an attack trained against a defended model (index: as defence_unseen)",
}

_MASK_31_BITS = 0x7FFFFFFF


def derive(seed, stream, *indices):
    """The integer seed of one named random stream of the run seeded `seed`.

    Args:
      seed: the run's seed (--seed), a non-negative int.
      stream: a name in STREAMS.
      *indices: ints that tell apart the members of an indexed stream (a K-set's run K, i).

    Returns:
      An int in [0, 2**31): the same for the same arguments on every machine and Python.

    Raises:
      NAGError: for an unknown stream name or a seed that is not a non-negative int.
    """
    if stream not in STREAMS:
        raise NAGError(f"unknown random stream {stream!r}; add it to nag_tf.seeds.STREAMS (known: {sorted(STREAMS)})")
    try:
        value = -1 if isinstance(seed, bool) else operator.index(seed)  # ints and NumPy integers only
    except TypeError:
        value = -1
    if value < 0:
        raise NAGError(f"a seed must be a non-negative integer, got {seed!r}; pass e.g. --seed=0")
    key = "/".join([stream, str(value), *(str(int(i)) for i in indices)])
    # sha256, not hash(): Python salts str hashes per process, and a seed must mean the same run everywhere.
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little") & _MASK_31_BITS
