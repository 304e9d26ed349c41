"""Record a lesson's key measured numbers, one file per machine, for a class-wide report.

    hpclab.results.record("04", "scaling efficiency, 4 replicas", 0.41, "fraction")

appends (or updates) one entry in ``results/machine-<id>.json`` under the folder the notebook
runs in (``HPCLAB_RESULTS_DIR`` chooses another folder). The file also holds the machine's
fingerprint: CPU model, cores, CPU kernel path, GPUs/TPUs and versions, never a host name,
so that students can hand it in. ``hpclab report FILES...`` (hpclab/report.py) turns the files
of a class into one HTML page that compares the machines.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import platform
import tempfile
import time

from hpclab import checks

FORMAT = 1  # bump when the file layout changes; report.py refuses other formats clearly
DIR_VARIABLE = "HPCLAB_RESULTS_DIR"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "Model", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fingerprint() -> dict:
    """What makes this machine's numbers differ from another's (imports TensorFlow)."""
    import keras
    import psutil
    import tensorflow as tf

    import hpclab
    from hpclab import devices

    accelerators = []
    for dev in tf.config.list_physical_devices():
        if dev.device_type in ("GPU", "TPU"):
            details = {}
            try:
                details = tf.config.experimental.get_device_details(dev)
            except (ValueError, RuntimeError):
                pass
            accelerators.append(f"{dev.device_type}: {details.get('device_name', 'unknown model')}")
    return {
        "cpu_model": _cpu_model(),
        "cpu_cores": psutil.cpu_count(logical=True),
        "kernel_path": devices.kernel_path()["path"],
        "accelerators": sorted(accelerators),
        "os": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "hpclab": hpclab.__version__,
    }


def machine_id(machine: dict) -> str:
    """A short stable id for a fingerprint (the file name), not derived from the host name."""
    text = json.dumps(machine, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def results_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get(DIR_VARIABLE) or "results")


def record(lesson, name: str, value, unit: str, *, machine: dict | None = None,
           folder=None) -> pathlib.Path:
    """Store one measured number of a lesson; returns the machine's results file.

    lesson  the lesson's number, e.g. "04" or 4
    name    what was measured, e.g. "examples/s, 2 replicas" (re-recording a name replaces it)
    value   a finite number
    unit    e.g. "examples/s", "s", "fraction", "bytes"
    The file is rewritten atomically: a failure never leaves it half-written.
    """
    if isinstance(lesson, bool) or not isinstance(lesson, (int, str)) or str(lesson).strip() == "":
        raise TypeError(f"lesson must be the lesson's number, e.g. lesson='04'; got {lesson!r}")
    lesson = f"{int(lesson):02d}" if str(lesson).strip().isdigit() else str(lesson).strip()
    for label, text in (("name", name), ("unit", unit)):
        if not isinstance(text, str) or not text.strip():
            raise TypeError(f"{label} must be a non-empty string, e.g. unit='examples/s'; got {text!r}")
    value = checks.number("value", value)
    machine = fingerprint() if machine is None else machine
    folder = results_dir() if folder is None else pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"machine-{machine_id(machine)}.json"
    with _locked(path):  # two notebooks running at once may record into the same file
        data = {"format": FORMAT, "machine": machine, "results": []}
        if path.exists():
            data = load(path)
        entries = [r for r in data["results"] if (r["lesson"], r["name"]) != (lesson, name)]
        entries.append({"lesson": lesson, "name": name, "value": value, "unit": unit,
                        "recorded": time.strftime("%Y-%m-%dT%H:%M:%S")})
        data["results"] = sorted(entries, key=lambda r: (r["lesson"], r["name"]))
        _write_atomically(path, json.dumps(data, indent=1, sort_keys=True))
    return path


@contextlib.contextmanager
def _locked(path: pathlib.Path):
    """An exclusive lock on PATH.lock for a read-modify-write (no lock where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: one notebook at a time
        yield
        return
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_atomically(path: pathlib.Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


class BadResultsFile(ValueError):
    """A results file that is not one hpclab.results wrote (the message says what is wrong)."""


def load(path) -> dict:
    """Read and validate one results file; BadResultsFile says what is wrong and how to fix it."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise BadResultsFile(f"{path}: no such file (results files are results/machine-*.json)")
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadResultsFile(f"{path}: not a JSON results file ({err}); record it again with "
                             "hpclab.results.record") from None
    if not isinstance(data, dict) or "format" not in data:
        raise BadResultsFile(f"{path}: not an hpclab results file (no 'format' field)")
    if data["format"] != FORMAT:
        raise BadResultsFile(f"{path}: results format {data['format']!r}, this hpclab reads "
                             f"format {FORMAT}: record it again with this version of the kit")
    machine, results = data.get("machine"), data.get("results")
    if not isinstance(machine, dict) or not isinstance(results, list):
        raise BadResultsFile(f"{path}: 'machine' must be an object and 'results' a list")
    for i, entry in enumerate(results):
        ok = (isinstance(entry, dict) and {"lesson", "name", "value", "unit"} <= entry.keys()
              and isinstance(entry["value"], (int, float)) and not isinstance(entry["value"], bool))
        if not ok:
            raise BadResultsFile(f"{path}: result {i} needs lesson, name, a numeric value and unit; "
                                 f"got {entry!r}")
    return data
