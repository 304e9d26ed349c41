"""`hpclab doctor`: what this machine offers the kit, probed safely.

Every probe runs in its own Python process with a time limit, so a hanging import
or an unreachable TPU can never hang the doctor; probes run concurrently.
Read about the output in notebooks/00_environment_and_devices.ipynb.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from hpclab import checks

# Each probe prints one JSON object on its last stdout line.
PROBES = {
    "tensorflow": """
import json, hpclab.devices as d
info = d.build_info()
info["kernel_path"] = d.kernel_path()
inv = d.inventory()
info["devices"] = inv.astype(object).where(inv.notna(), None).to_dict(orient="records")
print(json.dumps(info, default=str))
""",
    "strategy": """
import json, hpclab.strategy as s
strategy, reason = s.resolve("auto")
print(json.dumps({"strategy": type(strategy).__name__, "reason": reason,
                  "replicas": strategy.num_replicas_in_sync}))
""",
    "ai_edge_litert": """
import json, importlib.metadata as md
from ai_edge_litert.interpreter import Interpreter
print(json.dumps({"version": md.version("ai-edge-litert")}))
""",
    "tf_keras": """
import json, importlib.metadata as md
import tf_keras
print(json.dumps({"version": md.version("tf-keras")}))
""",
    "tensorflow_model_optimization": """
import os
os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tfmot is Keras-2 only; it sets this itself too
import json, importlib.metadata as md
import tensorflow_model_optimization as tfmot
print(json.dumps({"version": md.version("tensorflow-model-optimization")}))
""",
}


def run_probes(timeout_s: float = 90.0, probes: dict | None = None) -> dict:
    """Run the probes concurrently; returns {name: {"ok", "seconds", "result" | "error"}}."""
    timeout_s = checks.number("timeout_s", timeout_s, low=0, low_open=True, example=90)
    probes = PROBES if probes is None else probes
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    started = {
        name: (
            subprocess.Popen(
                [sys.executable, "-c", code],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                env=env,
            ),
            time.perf_counter(),
        )
        for name, code in probes.items()
    }
    deadline = time.perf_counter() + timeout_s
    results = {}
    for name, (proc, start) in started.items():
        try:
            out, err = proc.communicate(timeout=max(0.1, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            results[name] = {"ok": False, "seconds": timeout_s,
                             "error": f"timed out after {timeout_s:.0f} s; busy machine? raise --timeout"}
            continue
        seconds = round(time.perf_counter() - start, 1)
        lines = out.strip().splitlines()
        if proc.returncode == 0 and lines:
            try:
                results[name] = {"ok": True, "seconds": seconds, "result": json.loads(lines[-1])}
            except ValueError:
                results[name] = {"ok": False, "seconds": seconds,
                                 "error": f"its last line is not JSON: {lines[-1][:120]!r}"}
        else:
            last = (err.strip().splitlines() or ["no output"])[-1]
            results[name] = {"ok": False, "seconds": seconds, "error": last[:200]}
    return results


def report(results: dict) -> str:
    """Format probe results for a terminal."""
    lines = ["hpclab doctor", "=" * 60]
    tf_probe = results.get("tensorflow", {})
    if tf_probe.get("ok"):
        info = tf_probe["result"]
        lines.append("Versions")
        for key in ("python", "tensorflow", "keras", "cuda_build", "cuda", "cudnn"):
            lines.append(f"  {key:<31}{info.get(key)}")
        cores = f"{info['cpu_logical_cores']} logical / {info['cpu_physical_cores']} physical"
        lines.append(f"  {'cpu cores':<31}{cores}")
        kernels = info.get("kernel_path")
        if kernels:
            lines.append(f"  {'cpu kernels':<31}{kernels['path']} ({kernels['reason']})")
        lines.append("Devices")
        for dev in info["devices"]:
            memory = f"  {dev['memory_mb']} MB" if dev.get("memory_mb") else ""
            lines.append(f"  {dev['kind']:<9}{dev['device_type']:<5}{dev['name']:<26}{memory}")
        accelerators = [d for d in info["devices"] if d["device_type"] in ("GPU", "TPU")]
        if not accelerators:
            lines.append("  no GPU or TPU: lessons run on logical CPU devices")
    else:
        lines.append(f"TensorFlow: FAILED ({tf_probe.get('error')})")
    lines.append("Optional libraries")
    for name in ("ai_edge_litert", "tf_keras", "tensorflow_model_optimization"):
        probe = results.get(name, {})
        status = f"ok {probe['result']['version']}" if probe.get("ok") else (
            f"NOT AVAILABLE ({probe.get('error')})")
        lines.append(f"  {name:<31}{status}")
    lines.append("Distribution")
    probe = results.get("strategy", {})
    if probe.get("ok"):
        res = probe["result"]
        tpu = "yes" if res["strategy"] == "TPUStrategy" else "no"
        lines.append(f"  {'TPU reachable':<31}{tpu}")
        lines.append(f"  {'strategy chosen':<31}{res['strategy']} ({res['replicas']} replica(s))")
        lines.append(f"  {'why':<31}{res['reason']}")
    else:
        lines.append(f"  strategy probe FAILED ({probe.get('error')})")
    lines.append("=" * 60)
    return "\n".join(lines)


def main(timeout_s: float = 90.0) -> int:
    """`hpclab doctor [--timeout S]`: S seconds per probe (raise it on a busy machine)."""
    print(report(run_probes(timeout_s)))
    return 0
