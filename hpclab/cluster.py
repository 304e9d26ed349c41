"""Start a small TensorFlow cluster of worker processes on this machine, and always stop it.

Taught in notebooks/06_multi_worker.ipynb (MultiWorkerMirroredStrategy, TF_CONFIG,
fault tolerance, Slurm and Kubernetes).

``LocalCluster`` picks free ports on 127.0.0.1, gives every worker its own TF_CONFIG,
writes each worker's output to a log file, and cleans up: every worker runs in its own
session (process group), killed with its group when the ``with`` block ends, also on an
error or a KeyboardInterrupt; an ``atexit`` hook stops a forgotten cluster, and every
worker kills itself when its parent dies (hpclab.worker).

TensorFlow's gRPC server listens on every network interface, whatever host TF_CONFIG
names (tensorflow/tensorflow#11689). Where Linux allows it, the workers therefore share
a private network namespace whose only interface is loopback (``isolate``).
"""

from __future__ import annotations

import atexit
import ipaddress
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref

from hpclab.worker import listening_sockets

LOOPBACK = "127.0.0.1"
_LIVE: weakref.WeakSet[LocalCluster] = weakref.WeakSet()
_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit)|Killed|Aborted)\b.*")


class WorkerFailed(RuntimeError):
    """A worker exited on its own with an error; the launcher stopped the others."""


def tf_config(workers: list[str], index: int, task_type: str = "worker") -> str:
    """The TF_CONFIG JSON for task ``index`` of a cluster of ``workers`` ("host:port")."""
    if not 0 <= index < len(workers):
        raise ValueError(f"index must be in [0, {len(workers)}); got {index!r}")
    return json.dumps({"cluster": {task_type: list(workers)},
                       "task": {"type": task_type, "index": index}})


def check_host(host: str) -> str:
    """Return ``host`` if it is an IPv4 loopback address ("localhost" -> 127.0.0.1)."""
    if host == "localhost":
        return LOOPBACK
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if isinstance(address, ipaddress.IPv4Address) and address.is_loopback:
        return host
    raise ValueError(
        f"host must be an IPv4 loopback address such as {LOOPBACK!r}: LocalCluster starts "
        "workers on this machine only (on a real cluster set TF_CONFIG on each node or use "
        f"SlurmClusterResolver, see notebooks/06_multi_worker.ipynb); got {host!r}")


def free_ports(n: int, host: str = LOOPBACK) -> list[int]:
    """``n`` distinct ports that are free on ``host`` right now (the OS picks them)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind((check_host(host), 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _python_env(extra: dict) -> dict:
    """os.environ plus ``extra``, with this hpclab importable in the child."""
    root = str(pathlib.Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    return {"TF_CPP_MIN_LOG_LEVEL": "2", **os.environ, **extra, "PYTHONPATH": path}


class LocalCluster:
    """``num_workers`` processes running ``python script *args``, each with its TF_CONFIG.

    Use it as a context manager; inside: ``wait_for`` a log line or record, ``kill`` a
    worker, ``wait`` for all to finish, read ``log(i)`` and ``records()``. A worker that
    exits with an error makes ``wait``/``wait_for`` stop the other workers (a collective
    job cannot go on with one missing) and raise WorkerFailed. ``isolate``: "auto" uses a
    private loopback-only network namespace where the OS allows it (and the environment
    has no HPCLAB_NETNS=off), True requires one, False uses the host network. ``env``: extra
    environment variables, one dict for all workers or a list with one dict per worker.
    """

    def __init__(self, script, num_workers: int = 2, *, args=(), host: str = LOOPBACK,
                 ports=None, log_dir=None, env: dict | list | None = None, isolate="auto"):
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
            raise ValueError(f"num_workers must be a positive integer, e.g. 2; got {num_workers!r}")
        self.host = check_host(host)
        self.script = pathlib.Path(script).resolve()
        if not self.script.is_file():
            raise ValueError(f"script not found: {script!s}; write the worker script first")
        if isolate not in ("auto", True, False):
            raise ValueError(f"isolate must be 'auto', True or False; got {isolate!r}")
        if not hasattr(os, "killpg"):
            raise RuntimeError("LocalCluster needs a POSIX system (Linux or macOS)")
        if ports is not None:
            ports = list(ports)
            if not all(isinstance(p, int) and not isinstance(p, bool) for p in ports) or \
                    len(ports) != num_workers or len(set(ports)) != num_workers:
                raise ValueError(f"ports must be {num_workers} distinct port numbers; got {ports}")
            for p in ports:
                if not 0 < p < 65536 or not _port_free(self.host, p):
                    raise ValueError(f"port {p} on {self.host} is in use or invalid: pass "
                                     "ports=None and the launcher picks free ports")
        self.num_workers, self.args, self._ports = num_workers, [str(a) for a in args], ports
        self.log_dir = pathlib.Path(log_dir) if log_dir else None
        envs = env if isinstance(env, (list, tuple)) else [env or {}] * num_workers
        if len(envs) != num_workers:
            raise ValueError(f"env must be one dict, or a list of {num_workers} dicts (one per "
                             f"worker); got a list of {len(envs)}")
        self.envs, self.isolate = [dict(e) for e in envs], isolate
        self.network, self.workers, self.procs = "not started", [], []
        self._keeper, self._killed, self._logs, self._stopped = None, set(), [], False

    # -- start and stop ----------------------------------------------------------------
    def start(self) -> LocalCluster:
        if self.procs or self._keeper or self._stopped:
            raise RuntimeError("this LocalCluster was already started; make a new one")
        if self.log_dir is None:
            self.log_dir = pathlib.Path(tempfile.mkdtemp(prefix="hpclab-cluster-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        _LIVE.add(self)
        try:
            self._start_keeper()
            ports = self._ports or free_ports(self.num_workers, self.host)
            self.workers = [f"{self.host}:{p}" for p in ports]
            for i in range(self.num_workers):
                extra = {"TF_CONFIG": tf_config(self.workers, i), "PYTHONUNBUFFERED": "1",
                         **self.envs[i]}
                if self._keeper is not None:
                    extra["HPCLAB_NETNS_PID"] = str(self._keeper.pid)
                self._logs.append(open(self.log_dir / f"worker{i}.log", "w"))  # noqa: SIM115
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "hpclab.worker", str(self.script), *self.args],
                    stdin=subprocess.DEVNULL, stdout=self._logs[-1], stderr=subprocess.STDOUT,
                    env=_python_env(extra), cwd=self.log_dir, start_new_session=True))
        except BaseException:
            self.stop()
            raise
        return self

    def _start_keeper(self) -> None:
        """A tiny process holding a loopback-only network namespace for the workers."""
        if self.isolate is False:
            self.network = "host network (isolate=False)"
            return
        import selectors

        self._keeper = keeper = subprocess.Popen(
            [sys.executable, "-m", "hpclab.worker", "--netns-keeper"], text=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=_python_env({}), start_new_session=True)
        with selectors.DefaultSelector() as sel:
            sel.register(keeper.stdout, selectors.EVENT_READ)
            line = keeper.stdout.readline().strip() if sel.select(timeout=30) else "no answer"
        if line == "ready":
            self.network = "private network namespace (loopback only)"
            return
        self._stop_proc(keeper)
        self._keeper = None
        if self.isolate is True:
            raise RuntimeError(f"isolate=True needs Linux network namespaces; here: {line}. "
                               "Use isolate='auto' (host network where unavailable)")
        self.network = f"host network (no private namespace here: {line})"

    @staticmethod
    def _stop_proc(proc, grace_s: float = 3.0) -> None:
        """SIGTERM the process group, give the leader ``grace_s`` to exit, then SIGKILL
        whatever is left of the group (children the leader left behind, too)."""
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                pass

    def stop(self, grace_s: float = 3.0) -> dict:
        """Stop every worker and the namespace keeper; return {index: exit code}."""
        if self._stopped:  # once only: a process group id must not be signalled long after
            return {i: p.returncode for i, p in enumerate(self.procs)}
        self._stopped = True
        for proc in self.procs:  # all at once first, so no worker waits for a stopped peer
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in [*self.procs, *([self._keeper] if self._keeper else [])]:
            self._stop_proc(proc, grace_s)
        if self._keeper is not None and self._keeper.stdout:
            self._keeper.stdout.close()
        for log in self._logs:
            log.close()
        _LIVE.discard(self)
        return {i: p.returncode for i, p in enumerate(self.procs)}

    def kill(self, index: int) -> None:
        """Kill worker ``index`` at once (SIGKILL), the way a crashed node disappears."""
        proc = self.procs[index]
        self._killed.add(index)
        if self._stopped:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def __del__(self):
        try:
            if not self._stopped and (self.procs or self._keeper):
                self.stop(grace_s=0.5)
        except Exception:  # noqa: BLE001, S110 (interpreter shutdown: atexit ran already)
            pass

    # -- watch -------------------------------------------------------------------------
    @property
    def pids(self) -> list[int]:
        """Process ids of the workers (and of the namespace keeper, last, if any)."""
        return [p.pid for p in self.procs] + ([self._keeper.pid] if self._keeper else [])

    def exit_codes(self) -> dict:
        """{index: exit code or None while running}; negative codes are signals."""
        return {i: p.poll() for i, p in enumerate(self.procs)}

    def _check_failures(self) -> None:
        for i, code in self.exit_codes().items():
            if code not in (None, 0) and i not in self._killed:
                self.stop()
                how = f"signal {signal.Signals(-code).name}" if code < 0 else f"code {code}"
                raise WorkerFailed(f"worker {i} exited with {how}: {self.error_line(i)} "
                                   f"(the other workers were stopped; log({i}) has the rest)")

    def error_line(self, index: int) -> str:
        """The first line of the last exception in worker ``index``'s log (or its last line)."""
        lines = [line for line in self.log(index).splitlines() if line.strip()]
        errors = [line for line in lines if _ERROR_LINE.match(line)]
        return (errors or lines or ["(empty log)"])[-1][:300]

    def wait(self, timeout: float = 300) -> dict:
        """Wait until every worker exits; return {index: exit code}."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_failures()
            codes = self.exit_codes()
            if None not in codes.values():
                return codes
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"workers still running after {timeout} s (stopped now); "
                           "log(i) shows where each one was")

    def wait_for(self, index: int, match, timeout: float = 300):
        """Wait until worker ``index`` logs ``match`` and return it: a substring of a line,
        or a dict that one JSON record must contain, e.g. {"event": "epoch_end", "epoch": 2}."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self._find(index, match)
            if found is not None:
                return found
            self._check_failures()
            if self.procs[index].poll() is not None:
                self.stop()
                raise WorkerFailed(f"worker {index} exited before logging {match!r}")
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"worker {index} did not log {match!r} within {timeout} s "
                           "(the cluster was stopped)")

    def _find(self, index, match):
        if isinstance(match, dict):
            return next((r for r in self.records(index)
                         if all(r.get(k) == v for k, v in match.items())), None)
        return next((line for line in self.log(index).splitlines() if match in line), None)

    def log(self, index: int) -> str:
        """Everything worker ``index`` wrote to stdout and stderr so far."""
        path = self.log_dir / f"worker{index}.log" if self.log_dir else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def records(self, index: int | None = None) -> list[dict]:
        """The JSON objects the workers printed, one per line, in log order."""
        out = []
        for i in range(self.num_workers) if index is None else [index]:
            for line in self.log(i).splitlines():
                if line.startswith("{"):
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
        return out

    def sockets(self) -> list[dict]:
        """Listening TCP sockets of the running workers, each with the network interfaces
        that worker can see (read from Linux /proc; an empty list elsewhere)."""
        rows = []
        for i, proc in enumerate(self.procs):
            if proc.poll() is None:
                try:
                    rows += [dict(worker=i, **s) for s in listening_sockets(proc.pid)]
                except OSError:
                    continue
        return rows


@atexit.register
def stop_all() -> None:
    """Stop every LocalCluster still running in this process (also runs at exit)."""
    for job in list(_LIVE):
        job.stop(grace_s=1.0)


def slurm_script(script: str, *, args=(), nodes: int = 2, gpus_per_node: int = 0,
                 port_base: int = 8888, time_limit: str = "00:30:00",
                 job_name: str = "hpclab-mwms") -> str:
    """The text of an sbatch file that runs ``script`` once per node; the script builds
    its cluster with SlurmClusterResolver (notebooks/06). Nothing is written to disk."""
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
        raise ValueError(f"nodes must be a positive integer, e.g. 2; got {nodes!r}")
    gres = [f"#SBATCH --gres=gpu:{gpus_per_node}"] if gpus_per_node else []
    command = " ".join(["python", str(script), *map(str, args)])
    return "\n".join([
        "#!/bin/bash",
        f"#SBATCH --job-name={job_name}",
        f"#SBATCH --nodes={nodes}",
        "#SBATCH --ntasks-per-node=1   # one worker per node; it drives all the node's GPUs",
        *gres,
        f"#SBATCH --time={time_limit}",
        "#SBATCH --requeue             # a node fails: Slurm requeues the job, which resumes",
        "#SBATCH --output=%x-%j.out    # from the last checkpoint",
        "set -euo pipefail",
        "# In every task, SlurmClusterResolver reads SLURM_PROCID, SLURM_STEP_NODELIST and",
        "# SLURM_STEP_TASKS_PER_NODE and lists the workers as node:port.",
        f"export HPCLAB_SLURM_PORT_BASE={port_base}",
        "# The checkpoint directory must be on a file system that all nodes share.",
        f"srun {command}",
        "",
    ])
