"""Pick a tf.distribute strategy for this machine and say why.

Taught in notebooks/04_mirrored_strategy.ipynb (MirroredStrategy) and
notebooks/07_tpu_strategy.ipynb (the TPU connect pattern with a fallback).
"""

from __future__ import annotations

import glob
import json
import os

from hpclab import checks

KINDS = ("auto", "tpu", "mirrored", "multi_worker", "default")


class StrategyUnavailable(RuntimeError):
    """An explicitly requested strategy cannot run on this machine."""


def resolve(kind: str = "auto", *, tpu: str | None = None, cross_device_ops=None):
    """Return ``(strategy, reason)``; ``reason`` is one line a student can read.

    kind="auto" tries, in order: a TPU; MirroredStrategy over all GPUs when there is
    more than one; MirroredStrategy over the logical CPU devices when
    ``hpclab.devices.configure(logical_cpus=N)`` made more than one; else the default
    strategy. An explicit kind that is not available raises StrategyUnavailable;
    it never falls back silently. ``cross_device_ops`` is passed to MirroredStrategy.

    ``tpu`` names a TPU ("local" on a TPU VM, a Cloud TPU name, or "grpc://host:port").
    Beware, TensorFlow waits without a time limit for a grpc:// address where nothing
    answers, and in ``resolve("multi_worker")`` until every worker in TF_CONFIG has started
    (measured: worker 0 alone still waited after 12 minutes, ignoring SIGTERM): run workers
    under a launcher with a deadline (hpclab.cluster, Slurm, Kubernetes). A TPU name that
    cannot be looked up, and a TF_CONFIG this task is not part of, fail at once.
    """
    checks.one_of("kind", kind, KINDS)
    import tensorflow as tf

    if kind in ("auto", "tpu"):
        strategy, why_not = _connect_tpu(tf, tpu)
        if strategy is not None:
            cores = strategy.num_replicas_in_sync
            return strategy, f"TPUStrategy: a TPU was found ({cores} cores)"
        if kind == "tpu":
            raise StrategyUnavailable(
                f"no TPU is reachable ({why_not}). Run on a Cloud TPU VM (pass tpu='local' "
                "there), or use resolve('auto') to fall back to GPUs or CPUs"
            )

    if kind == "multi_worker":
        return _multi_worker(tf)

    if kind in ("auto", "mirrored"):
        gpus = tf.config.list_logical_devices("GPU")
        cpus = tf.config.list_logical_devices("CPU")
        if len(gpus) > 1:
            strategy = tf.distribute.MirroredStrategy(cross_device_ops=cross_device_ops)
            return strategy, f"MirroredStrategy over {len(gpus)} GPUs"
        if len(cpus) > 1 and not gpus:
            devices = [d.name for d in cpus]
            strategy = tf.distribute.MirroredStrategy(devices, cross_device_ops=cross_device_ops)
            return strategy, (
                f"MirroredStrategy over {len(cpus)} logical CPU devices "
                "(they share this machine's cores: correct, but not faster)"
            )
        if kind == "mirrored":
            raise StrategyUnavailable(
                f"MirroredStrategy needs more than one device; found {len(gpus)} GPU(s) and "
                f"{len(cpus)} logical CPU(s). Call hpclab.devices.configure(logical_cpus=2) "
                "first, in a fresh kernel"
            )

    strategy = tf.distribute.get_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    where = "one GPU" if len(gpus) == 1 else "one CPU device"
    return strategy, f"default strategy: no TPU and a single device ({where})"


def _connect_tpu(tf, tpu: str | None):
    """The connect pattern from the TF TPU guide; returns (strategy or None, reason)."""
    candidates = [tpu] if tpu is not None else [None]
    if tpu is None and (tf.config.list_physical_devices("TPU") or glob.glob("/dev/accel*")):
        candidates.append("local")  # a TPU VM: the chips are on this host
    reason = "no TPU address configured"
    for address in candidates:
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            return tf.distribute.TPUStrategy(resolver), ""
        except (ValueError, OSError, tf.errors.OpError) as err:
            # ValueError: no TPU configured; OSError: a TPU name that cannot be looked up;
            # NotFoundError (an OpError): tpu="local" on a machine without TPU chips.
            reason = f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
    return None, reason


def _multi_worker(tf):
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise StrategyUnavailable(
            "multi_worker needs TF_CONFIG describing the cluster; launch the workers "
            "with hpclab.cluster (notebooks/06) or set TF_CONFIG as on Kubernetes/Slurm"
        )
    try:
        config = json.loads(raw)
        workers, task = config["cluster"]["worker"], config["task"]
        jobs = config["cluster"].get(task["type"], [])
        if not 0 <= task["index"] < len(jobs):  # else TensorFlow waits for a task never started
            raise ValueError(f"task {task} is not in the cluster: it has {len(jobs)} {task['type']}(s)")
    except (ValueError, KeyError, TypeError) as err:
        raise StrategyUnavailable(
            "TF_CONFIG must be JSON like "
            '{"cluster": {"worker": ["127.0.0.1:12345", ...]}, "task": {"type": "worker", '
            f'"index": 0}}}}; got {raw[:200]!r} ({err})'
        ) from None
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    return strategy, (
        f"MultiWorkerMirroredStrategy: worker {task.get('index')} of {len(workers)}"
    )
