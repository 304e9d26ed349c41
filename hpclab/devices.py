"""Which devices TensorFlow sees, and the one call for a notebook's setup cell.

Taught in notebooks/00_environment_and_devices.ipynb (inventory, logical CPU devices)
and notebooks/01_gpu_memory.ipynb (memory growth, memory limits, virtual GPUs).

TensorFlow is imported inside the functions, never at module import, so that
``import hpclab`` does not start the TF runtime before devices are configured.
"""

from __future__ import annotations

import os
import platform

from hpclab import checks

RESTART_HINT = (
    "TensorFlow devices are already initialized with a different configuration: "
    "restart the kernel and run the setup cell first, before any other TensorFlow code"
)

# The configuration this process applied last (None: configure() not called yet).
_applied: dict | None = None


def configure(
    logical_cpus: int | None = None,
    *,
    memory_growth: bool = False,
    memory_limit_mb: int | None = None,
    virtual_gpus: int | None = None,
) -> dict:
    """Configure devices; call it once, at the top of a notebook, before any TF op.

    logical_cpus     split the (first) CPU into this many logical devices.
    memory_growth    GPUs: allocate memory as needed instead of (almost) all of it.
    memory_limit_mb  GPUs: a hard limit per GPU (or per virtual GPU).
    virtual_gpus     GPUs: make this many virtual GPUs per physical GPU, each with
                     memory_limit_mb.

    Re-running with the same arguments is a no-op. Different arguments after the
    TF runtime has started raise RuntimeError (restart the kernel). Returns a dict:
    the logical device counts by type and the list of actions taken or, on a
    machine without GPUs, the GPU actions that would have been taken.
    """
    memory_growth = checks.boolean("memory_growth", memory_growth)
    if logical_cpus is not None:
        logical_cpus = checks.integer("logical_cpus", logical_cpus, example=2)
    if memory_limit_mb is not None:
        memory_limit_mb = checks.integer("memory_limit_mb", memory_limit_mb, example=2048)
    if virtual_gpus is not None:
        virtual_gpus = checks.integer("virtual_gpus", virtual_gpus, example=2)
        if memory_limit_mb is None:
            raise ValueError(
                "virtual_gpus needs a memory size for each virtual GPU: "
                "pass memory_limit_mb too, e.g. configure(virtual_gpus=2, memory_limit_mb=2048)"
            )
    if memory_growth and memory_limit_mb is not None:
        raise ValueError(
            "memory_growth and memory_limit_mb exclude each other on a GPU: "
            "pass one of them (growth: allocate on demand; limit: a fixed cap)"
        )

    request = {
        "logical_cpus": logical_cpus,
        "memory_growth": memory_growth,
        "memory_limit_mb": memory_limit_mb,
        "virtual_gpus": virtual_gpus,
    }
    global _applied
    if _applied is not None and _applied != request:
        raise RuntimeError(f"{RESTART_HINT} (configure() already ran with {_applied}).")

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    actions: list[str] = []
    if _applied is None:
        try:
            actions += _apply(tf, request, gpus)
        except RuntimeError as err:  # "... cannot be modified after being initialized"
            raise RuntimeError(f"{RESTART_HINT}. TensorFlow said: {err}") from None
        _applied = request
    else:
        actions.append("same configuration as before: nothing to do")

    logical = tf.config.list_logical_devices()  # starts the runtime
    counts = {t: sum(d.device_type == t for d in logical) for t in ("CPU", "GPU", "TPU")}
    if logical_cpus is not None and counts["CPU"] != logical_cpus:
        raise RuntimeError(
            f"{RESTART_HINT}: asked for {logical_cpus} logical CPUs, the runtime has {counts['CPU']}."
        )
    return {"physical_gpus": len(gpus), "logical": counts, "actions": actions}


def _apply(tf, request: dict, gpus: list) -> list[str]:
    """Apply a validated request; returns a human-readable list of what was done."""
    actions = []
    n_cpu = request["logical_cpus"]
    if n_cpu is not None:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n_cpu)]
        )
        actions.append(f"split {cpu.name} into {n_cpu} logical CPU devices")

    gpu_actions = []
    if request["memory_growth"]:
        gpu_actions.append("enable memory growth (tf.config.experimental.set_memory_growth)")
    if request["memory_limit_mb"] is not None:
        n_virtual = request["virtual_gpus"] or 1
        gpu_actions.append(
            f"create {n_virtual} logical GPU(s) of {request['memory_limit_mb']} MB each "
            "(tf.config.set_logical_device_configuration)"
        )
    if gpu_actions and not gpus:
        actions += [f"no GPU found; on each GPU this would {a}" for a in gpu_actions]
    for gpu in gpus:
        if request["memory_growth"]:
            tf.config.experimental.set_memory_growth(gpu, True)
        if request["memory_limit_mb"] is not None:
            limit = request["memory_limit_mb"]
            tf.config.set_logical_device_configuration(
                gpu,
                [
                    tf.config.LogicalDeviceConfiguration(memory_limit=limit)
                    for _ in range(request["virtual_gpus"] or 1)
                ],
            )
        actions += [f"{gpu.name}: {a}" for a in gpu_actions]
    if os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH") is not None and gpus:
        actions.append(
            "TF_FORCE_GPU_ALLOW_GROWTH is set: it overrides the memory-growth setting in code"
        )
    return actions


def inventory():
    """Physical and logical devices as a pandas DataFrame (starts the TF runtime).

    Columns: kind (physical/logical), device_type, name, memory_mb (host RAM for the
    CPU, the configured limit for a logical GPU, None where TF does not say).
    """
    import pandas as pd
    import psutil
    import tensorflow as tf

    host_mb = round(psutil.virtual_memory().total / 2**20)
    rows = []
    for dev in tf.config.list_physical_devices():
        memory = host_mb if dev.device_type == "CPU" else None
        rows.append(("physical", dev.device_type, dev.name, memory))
    gpu_limits = _logical_gpu_limits(tf)
    for dev in tf.config.list_logical_devices():
        memory = gpu_limits.get(dev.name) if dev.device_type == "GPU" else None
        rows.append(("logical", dev.device_type, dev.name, memory))
    frame = pd.DataFrame(rows, columns=["kind", "device_type", "name", "memory_mb"])
    return frame.astype({"memory_mb": "Int64"})  # nullable integers: <NA> where unknown


def _logical_gpu_limits(tf) -> dict:
    """Map logical GPU names to the memory limit configured for them, where one was set."""
    limits = {}
    index = 0
    for gpu in tf.config.list_physical_devices("GPU"):
        configs = tf.config.get_logical_device_configuration(gpu) or [None]
        for config in configs:
            if config is not None and config.memory_limit:
                limits[f"/device:GPU:{index}"] = config.memory_limit
            index += 1
    return limits


def build_info() -> dict:
    """Versions of Python, TensorFlow, Keras, CUDA and cuDNN, and the CPU count."""
    import keras
    import psutil
    import tensorflow as tf

    info = tf.sysconfig.get_build_info()
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "cuda_build": bool(info.get("is_cuda_build", False)),
        "cuda": info.get("cuda_version", "none"),
        "cudnn": info.get("cudnn_version", "none"),
        "cpu_logical_cores": psutil.cpu_count(logical=True),
        "cpu_physical_cores": psutil.cpu_count(logical=False),
    }


# CPU features for which TensorFlow on x86 Linux turns oneDNN on by default
# (DefaultOneDnnPolicy in tensorflow/core/util/port.cc), as /proc/cpuinfo names them.
ONEDNN_DEFAULT_FLAGS = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")


def _cpu_flags() -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (Linux); None where that file is missing."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return set()


def kernel_path() -> dict:
    """Which CPU kernels TensorFlow runs in this process: "oneDNN" or "Eigen", and why.

    Taught in notebooks/00_environment_and_devices.ipynb. TensorFlow decides once per
    process: ``TF_ENABLE_ONEDNN_OPTS`` (0/1) if set, else, on x86 Linux, oneDNN only on
    CPUs with one of ONEDNN_DEFAULT_FLAGS. Imports TensorFlow but starts no runtime.
    Returns path, env (the variable's value or None), cpu_flags (which of
    ONEDNN_DEFAULT_FLAGS this CPU has; None if unknown) and reason.
    """
    from tensorflow.python.util import _pywrap_util_port

    onednn = bool(_pywrap_util_port.IsMklEnabled())
    env = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    flags = _cpu_flags()
    found = None if flags is None else sorted(f for f in ONEDNN_DEFAULT_FLAGS if f in flags)
    path = "oneDNN" if onednn else "Eigen"
    if env is not None:
        reason = f"TF_ENABLE_ONEDNN_OPTS={env} chooses it"
    elif found:
        reason = f"the default on this CPU: it has {', '.join(found)}"
    elif found is not None and platform.machine() in ("x86_64", "AMD64"):
        reason = "the default on this CPU: it has none of " + ", ".join(ONEDNN_DEFAULT_FLAGS)
    else:
        reason = f"the default of this TensorFlow build on {platform.system()}/{platform.machine()}"
    return {"path": path, "env": env, "cpu_flags": found, "reason": reason}
