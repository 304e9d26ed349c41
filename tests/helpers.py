"""Shared test helpers: run a snippet in a fresh Python process (device configuration is per
process), tell whether a process is alive."""

import os
import subprocess
import sys
import textwrap

import psutil


def run_python(code: str, timeout: float = 180, env: dict | None = None):
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=timeout, env=full_env, stdin=subprocess.DEVNULL,
    )


def alive(pid) -> bool:
    """True while the process runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
