"""Run a snippet in a fresh Python process: device configuration is per process."""

import os
import subprocess
import sys
import textwrap


def run_python(code: str, timeout: float = 180, env: dict | None = None):
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=timeout, env=full_env, stdin=subprocess.DEVNULL,
    )
