"""Process plumbing for hpclab.cluster: start helper processes, stop them, remove their files.

Taught in notebooks/06_multi_worker.ipynb. Every process starts as ``python -m hpclab.worker``
in a session (process group) of its own, with this process's id in HPCLAB_LAUNCHER_PID: its
watchdog (hpclab.worker) kills its group as soon as its parent is no longer that process.

``Processes.stop`` is the one clean-up path of a LocalCluster: the ``with`` block calls it,
and a ``weakref.finalize`` calls it when the cluster is garbage-collected or the
interpreter exits. ``TempDir`` is a temporary folder that disappears with this process, also
when it is killed without running any Python clean-up.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref

LAUNCHER_ENV = "HPCLAB_LAUNCHER_PID"


def python_env(extra: dict) -> dict:
    """os.environ plus ``extra``, with this hpclab importable and this process as launcher."""
    root = str(pathlib.Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    return {"TF_CPP_MIN_LOG_LEVEL": "2", **os.environ, **extra, "PYTHONPATH": path,
            LAUNCHER_ENV: str(os.getpid())}


def start(args: list[str], *, env: dict | None = None, stdout=subprocess.DEVNULL,
          cwd=None, text: bool = False) -> subprocess.Popen:
    """Run ``python -m hpclab.worker *args`` in a new session; stderr goes to stdout."""
    return subprocess.Popen([sys.executable, "-m", "hpclab.worker", *args],
                            stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.STDOUT,
                            env=python_env(env or {}), cwd=cwd, text=text, start_new_session=True)


def killpg(proc: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the process group that ``proc`` leads (its children too); no error
    if the group is gone already."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_processes(procs: list[subprocess.Popen], grace_s: float) -> None:
    """SIGTERM every group at once, give all of them ``grace_s`` together to exit, then
    SIGKILL whatever is left of each group (children a leader left behind, too)."""
    for proc in procs:
        killpg(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for proc in procs:
        killpg(proc, signal.SIGKILL)
    for proc in procs:
        proc.wait(timeout=10)


def _remove(path: pathlib.Path, write_end: int) -> None:
    shutil.rmtree(path, ignore_errors=True)
    os.close(write_end)  # the reaper sees the end of its pipe and exits


class TempDir:
    """A new temporary folder, removed by ``remove()``, when this object is garbage-collected,
    at interpreter exit, and, if this process is killed (no Python clean-up runs), by a
    small detached reaper process: it holds the read end of a pipe whose only write end
    lives in this process, and removes the folder when that pipe closes.

    Use it where a path is expected: ``os.path.join(tmp, "ckpt")`` works.
    """

    def __init__(self, prefix: str = "hpclab-"):
        self.path = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
        read_end, write_end = os.pipe()
        try:
            subprocess.run([sys.executable, "-m", "hpclab.worker", "--reaper", str(self.path),
                            str(read_end)], pass_fds=(read_end,), env=python_env({}),
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True, check=True,
                           timeout=60)  # returns once the reaper has detached itself
        except BaseException:
            _remove(self.path, write_end)
            raise
        finally:
            os.close(read_end)
        self._finalizer = weakref.finalize(self, _remove, self.path, write_end)

    def remove(self) -> None:
        self._finalizer()

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"TempDir({str(self.path)!r})"


class Processes:
    """Every process that one LocalCluster started, their logs, and the one way to stop
    them. ``stop`` can be interrupted and called again; once it has succeeded, it does
    nothing more (a process group id must not be signalled long after its processes ended).
    """

    def __init__(self):
        self.workers: list[subprocess.Popen] = []
        self.keeper: subprocess.Popen | None = None
        self.logs = None  # a hpclab._logs.WorkerLogs: closed (and maybe removed) on stop
        self.stopped = False

    def stop(self, grace_s: float = 3.0) -> None:
        if self.stopped:
            return
        keeper = [self.keeper] if self.keeper is not None else []
        stop_processes([*self.workers, *keeper], grace_s)
        if self.keeper is not None and self.keeper.stdout:
            self.keeper.stdout.close()
        if self.logs is not None:
            self.logs.close()
        self.stopped = True
