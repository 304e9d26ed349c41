"""Start a small TensorFlow cluster of worker processes on this machine, and always stop it.

Taught in notebooks/06_multi_worker.ipynb (MultiWorkerMirroredStrategy, TF_CONFIG,
fault tolerance, Slurm and Kubernetes).

``LocalCluster`` picks free ports on 127.0.0.1, gives every worker its own TF_CONFIG,
writes each worker's output to a log file, and cleans up. The pieces, each in its module:

- hpclab._procs: start processes, each in its own process group; the one clean-up path
  (``Processes.stop``: the ``with`` block, garbage collection and interpreter exit all call
  it); ``TempDir``, a folder that disappears with this process even if it is killed;
- hpclab.worker: what runs in each worker, with a watchdog that kills the worker's group
  when the launcher (this process, whose id it is given) is gone;
- hpclab.netns: a private loopback-only network for the workers, because TensorFlow's gRPC
  server listens on every interface (tensorflow/tensorflow#11689); the host network only
  by consent (``isolate=False`` or HPCLAB_ALLOW_HOST_NETWORK=1);
- hpclab._logs: the workers' logs and JSON records;
- hpclab.addresses (TF_CONFIG, loopback hosts, free ports), hpclab.slurm (sbatch files).
"""

from __future__ import annotations

import os
import pathlib
import signal
import time
import weakref

from hpclab import _procs, checks, netns
from hpclab._logs import WorkerLogs
from hpclab._procs import TempDir
from hpclab.addresses import LOOPBACK, check_host, free_ports, port_free, tf_config
from hpclab.netns import ALLOW_HOST_NETWORK, why_no_private_network
from hpclab.slurm import slurm_script

__all__ = ["ALLOW_HOST_NETWORK", "LOOPBACK", "LocalCluster", "TempDir", "WorkerFailed",
           "check_host", "free_ports", "slurm_script", "tf_config", "why_no_private_network"]


class WorkerFailed(RuntimeError):
    """A worker exited on its own with an error; the launcher stopped the others."""


# -- LocalCluster's argument checks ---------------------------------------------------------
def _check_script(script) -> pathlib.Path:
    if not isinstance(script, (str, os.PathLike)):
        raise TypeError(f"script must be the path of a Python file; got {script!r}")
    path = pathlib.Path(script).resolve()
    if not path.is_file():
        raise ValueError(f"script not found: {script!s}; write the worker script first")
    return path


def _check_ports(ports, num_workers: int, host: str) -> list[int] | None:
    if ports is None:
        return None
    if isinstance(ports, (str, bytes)) or not isinstance(ports, (list, tuple)):
        raise TypeError(f"ports must be a list of {num_workers} port numbers, or None (the "
                        f"launcher picks free ones); got {ports!r}")
    ports = [checks.integer("port", p, maximum=65535, example=20000) for p in ports]
    if len(ports) != num_workers or len(set(ports)) != num_workers:
        raise ValueError(f"ports must be {num_workers} distinct port numbers; got {ports}")
    for p in ports:
        if not port_free(host, p):
            raise ValueError(f"port {p} on {host} is in use: pass ports=None and the launcher "
                             "picks free ports")
    return ports


def _check_env(env, num_workers: int) -> list[dict]:
    fix = (f"env must be a dict of strings such as {{'OMP_NUM_THREADS': '1'}} for all workers, "
           f"or a list of {num_workers} such dicts (one per worker)")
    envs = env if isinstance(env, (list, tuple)) else [env or {}] * num_workers
    if len(envs) != num_workers:
        raise ValueError(f"{fix}; got a list of {len(envs)}")
    for e in envs:
        if not isinstance(e, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in e.items()):
            raise TypeError(f"{fix}; got {env!r}")
    return [dict(e) for e in envs]


def _check_log_dir(log_dir):
    if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
        raise TypeError(f"log_dir must be a folder path or None; got {log_dir!r}")
    return log_dir


class LocalCluster:
    """``num_workers`` processes running ``python script *args``, each with its TF_CONFIG.

    Use it as a context manager; inside: ``wait_for`` a log line or record, ``kill`` a
    worker, ``wait`` for all; read ``log(i)`` and ``records()``, also afterwards. A worker
    that fails makes ``wait``/``wait_for`` stop the others and raise WorkerFailed.

    ``isolate``: "auto" = a private loopback-only network namespace where the OS allows it,
    elsewhere the host network only with HPCLAB_ALLOW_HOST_NETWORK=1 (hpclab.netns says
    why); True = the namespace or an error; False = the host network. ``env``: extra
    environment variables, one dict for all workers or a list of one dict per worker.
    ``log_dir``: without one, a temporary folder that ``stop`` removes (kept while this
    object lives if a worker failed; the error names it).
    """

    def __init__(self, script, num_workers: int = 2, *, args=(), host: str = LOOPBACK,
                 ports=None, log_dir=None, env: dict | list | None = None, isolate="auto"):
        if not hasattr(os, "killpg"):
            raise RuntimeError("LocalCluster needs a POSIX system (Linux or macOS)")
        self.num_workers = checks.integer("num_workers", num_workers, example=2)
        self.host = check_host(host)
        self.script = _check_script(script)
        self.args = checks.arguments("args", args)
        self._ports = _check_ports(ports, self.num_workers, self.host)
        self.envs = _check_env(env, self.num_workers)
        self.isolate = checks.one_of("isolate", isolate, ("auto", True, False))
        self._log_dir = _check_log_dir(log_dir)
        self.log_dir = None
        self.network, self.workers = "not started", []
        self._procs, self._logs, self._killed = _procs.Processes(), None, set()
        self._finalizer = None

    # -- start and stop ----------------------------------------------------------------
    def start(self) -> LocalCluster:
        if self._finalizer is not None:
            raise RuntimeError("this LocalCluster was already started; make a new one")
        # the one clean-up path, also when this object is collected or the interpreter exits:
        self._finalizer = weakref.finalize(self, self._procs.stop, 1.0)
        try:
            self._procs.keeper, self.network = netns.choose_network(self.isolate)
            self._logs = self._procs.logs = WorkerLogs(self.num_workers, self._log_dir)
            self.log_dir = self._logs.directory  # removed by stop() if made automatically
            ports = self._ports or free_ports(self.num_workers, self.host)
            self.workers = [f"{self.host}:{p}" for p in ports]
            for i in range(self.num_workers):
                env = {"TF_CONFIG": tf_config(self.workers, i), "PYTHONUNBUFFERED": "1",
                       **self.envs[i]}
                if self._procs.keeper is not None:
                    env[netns.NETNS_ENV] = str(self._procs.keeper.pid)
                self._procs.workers.append(_procs.start(
                    [str(self.script), *self.args], env=env, stdout=self._logs.open(i),
                    cwd=self._logs.directory))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace_s: float = 3.0) -> dict:
        """Stop every worker and the namespace keeper; return {index: exit code}. Interrupted,
        it can be called again; once it has succeeded, it does nothing more."""
        if self._finalizer is None:
            return {}
        self._procs.stop(checks.number("grace_s", grace_s, low=0, example=3.0))
        return {i: p.returncode for i, p in enumerate(self._procs.workers)}

    def kill(self, index: int) -> None:
        """Kill worker ``index`` at once (SIGKILL), the way a crashed node disappears."""
        index = self._index(index)
        self._killed.add(index)
        if not self._procs.stopped:
            _procs.killpg(self._procs.workers[index], signal.SIGKILL)
            self._procs.workers[index].wait(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- watch -------------------------------------------------------------------------
    @property
    def pids(self) -> list[int]:
        """Process ids of the workers (and of the namespace keeper, last, if any)."""
        keeper = [self._procs.keeper.pid] if self._procs.keeper else []
        return [p.pid for p in self._procs.workers] + keeper

    def exit_codes(self) -> dict:
        """{index: exit code or None while running}; negative codes are signals."""
        return {i: p.poll() for i, p in enumerate(self._procs.workers)}

    def _index(self, index) -> int:
        if not self._procs.workers:
            raise RuntimeError("the cluster has not started: use `with LocalCluster(...) as "
                               "job:` or call start() first")
        return checks.integer("index", index, minimum=0, maximum=self.num_workers - 1,
                              example=0)

    def _fail(self, error: Exception) -> None:  # stop, keep an automatic log folder, raise
        self._logs.keep = True
        self.stop()
        if self._logs.automatic:
            error.args = (f"{error.args[0]} (logs kept in {self._logs.directory})",)
        raise error

    def _check_failures(self) -> None:
        for i, code in self.exit_codes().items():
            if code not in (None, 0) and i not in self._killed:
                how = f"signal {signal.Signals(-code).name}" if code < 0 else f"code {code}"
                self._fail(WorkerFailed(f"worker {i} exited with {how}: {self.error_line(i)} "
                                        f"(the other workers were stopped; log({i}) has the "
                                        "rest)"))

    def wait(self, timeout: float = 300) -> dict:
        """Wait until every worker exits; return {index: exit code}."""
        deadline = time.monotonic() + checks.number("timeout", timeout, low=0, example=300)
        while time.monotonic() < deadline:
            self._check_failures()
            codes = self.exit_codes()
            if None not in codes.values():
                return codes
            time.sleep(0.1)
        self._fail(TimeoutError(f"workers still running after {timeout} s (stopped now); "
                                "log(i) shows where each one was"))

    def wait_for(self, index: int, match, timeout: float = 300):
        """Wait until worker ``index`` logs ``match`` and return it: a substring of a line,
        or a dict that one JSON record must contain, e.g. {"event": "epoch_end", "epoch": 2}."""
        index = self._index(index)
        deadline = time.monotonic() + checks.number("timeout", timeout, low=0, example=300)
        while time.monotonic() < deadline:
            found = self._logs.find(index, match)
            if found is not None:
                return found
            self._check_failures()
            if self._procs.workers[index].poll() is not None:
                self._fail(WorkerFailed(f"worker {index} exited before logging {match!r}"))
            time.sleep(0.1)
        self._fail(TimeoutError(f"worker {index} did not log {match!r} within {timeout} s "
                                "(the cluster was stopped)"))

    def log(self, index: int) -> str:
        """Everything worker ``index`` wrote to stdout and stderr so far."""
        return self._logs.text(self._index(index))

    def records(self, index: int | None = None) -> list[dict]:
        """The JSON objects the workers printed, one per line, in log order."""
        return self._logs.records(None if index is None else self._index(index))

    def error_line(self, index: int) -> str:
        """The first line of the last exception in worker ``index``'s log."""
        return self._logs.error_line(self._index(index))

    def sockets(self) -> list[dict]:
        """Listening TCP sockets of the running workers and the interfaces each one sees."""
        return netns.sockets_of(self._procs.workers)
