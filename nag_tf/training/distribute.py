"""tf.distribute strategies for training: one device, several GPUs, several machines, TPU.

The global batch (--batch_size) is split across replicas by tf.data; each
replica's loss is its batch mean divided by the number of replicas, so the
summed gradients equal the single-device gradient of the global batch mean
(a custom train_step's gradients are summed over replicas, not averaged).
Batch norm in the generator is synchronized, so its statistics cover the
global batch. Only the chief writes checkpoints, logs and weights.
"""

import json
import os
import tempfile

import tensorflow as tf

from nag_tf.choices import STRATEGIES
from nag_tf.errors import NAGError

__all__ = ["STRATEGIES", "make_strategy", "is_chief", "worker_logdir", "use_logical_cpus"]


def use_logical_cpus(count):
    """Splits the CPU into `count` logical devices (for MirroredStrategy tests); call before TF uses devices."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def make_strategy(name, devices=None):
    """The strategy named by --strategy.

    Args:
      name: "default" (one device), "mirrored" (all local GPUs, or `devices`),
        "multi_worker" (machines listed in TF_CONFIG) or "tpu".
      devices: explicit device names for "mirrored" (e.g. two logical CPUs).
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise NAGError(
                "--strategy=multi_worker needs TF_CONFIG (cluster and task) in the environment of every worker"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError) as error:
            raise NAGError(f"--strategy=tpu: no TPU found ({str(error).splitlines()[0][:120]})") from None
        return tf.distribute.TPUStrategy(resolver)
    raise NAGError(f"--strategy={name!r}: expected one of {', '.join(STRATEGIES)}")


def is_chief(strategy):
    """True except on non-chief workers of a multi-worker cluster."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    kind, index = task.get("type"), task.get("index", 0)
    return kind == "chief" or (
        kind == "worker" and index == 0 and "chief" not in json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
    )


def worker_logdir(logdir, strategy):
    """The chief writes to `logdir`; other workers take part in collective saves in a throw-away folder."""
    if is_chief(strategy):
        return logdir
    return tempfile.mkdtemp(prefix="nag_worker_")
