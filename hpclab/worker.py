"""What runs inside each process that hpclab.cluster launches: ``python -m hpclab.worker
SCRIPT ARGS...`` joins the cluster's private network namespace (if any), starts a watchdog,
then runs SCRIPT as ``__main__``.

Taught in notebooks/06_multi_worker.ipynb. The watchdog is the safety net for a launcher
that dies without cleaning up (killed, out of memory, crashed): the launcher passes its own
process id in HPCLAB_LAUNCHER_PID, and as soon as this process's parent is not that process
any more — also if the launcher died before this process even started — the watchdog kills
this worker's whole process group.

Two helper modes: ``--netns-keeper`` holds a loopback-only network namespace for the workers
(hpclab.netns), with the same watchdog; ``--reaper DIR FD`` detaches itself and removes DIR
when the pipe FD closes, that is when the launcher is gone (hpclab._procs.TempDir).
"""

from __future__ import annotations

import os
import pathlib
import signal
import sys
import time

from hpclab._procs import LAUNCHER_ENV
from hpclab.netns import NETNS_ENV, join_namespace, private_loopback_namespace

__all__ = ["launcher_pid", "main", "watch_launcher"]


def launcher_pid() -> int:
    """The launcher's process id, as the launcher passed it (else this process's parent).
    Read once: the variable is removed, so that processes this one starts do not inherit it."""
    value = os.environ.pop(LAUNCHER_ENV, "")
    return int(value) if value.isdigit() else os.getppid()


def watch_launcher(launcher: int, poll_s: float = 0.5) -> None:
    """Block while the launcher is this process's parent, then kill this process group."""
    while os.getppid() == launcher:
        time.sleep(poll_s)
    os.killpg(0, signal.SIGKILL)


def _keeper(launcher: int) -> int:
    if os.environ.get("HPCLAB_NETNS") == "off":
        print("disabled by HPCLAB_NETNS=off", flush=True)
        return 1
    try:
        private_loopback_namespace()
    except (OSError, AttributeError) as err:
        print(f"{type(err).__name__}: {err}", flush=True)
        return 1
    print("ready", flush=True)
    watch_launcher(launcher)
    return 0


def _reaper(directory: str, fd: int) -> int:
    import shutil

    if os.fork() > 0:  # detach: the launcher's subprocess.run returns, no zombie is left
        os._exit(0)
    while os.read(fd, 1):  # returns b"" once every write end is closed: launcher gone
        pass
    shutil.rmtree(directory, ignore_errors=True)
    return 0


def main(argv: list[str]) -> int:
    launcher = launcher_pid()
    if argv == ["--netns-keeper"]:
        return _keeper(launcher)
    if len(argv) == 3 and argv[0] == "--reaper":
        return _reaper(argv[1], int(argv[2]))
    if not argv or argv[0].startswith("-"):
        print("usage: python -m hpclab.worker SCRIPT [ARGS...]", file=sys.stderr)
        return 2
    if os.environ.get(NETNS_ENV):
        join_namespace(int(os.environ[NETNS_ENV]))  # must happen before any thread starts
    import runpy
    import threading

    threading.Thread(target=watch_launcher, args=(launcher,), daemon=True).start()
    sys.argv = list(argv)
    sys.path.insert(0, str(pathlib.Path(argv[0]).resolve().parent))
    runpy.run_path(argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
