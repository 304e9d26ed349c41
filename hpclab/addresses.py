"""Addresses of a local TensorFlow cluster: TF_CONFIG, loopback hosts, free ports.

Taught in notebooks/06_multi_worker.ipynb (section 1: a cluster is a list of addresses).
"""

from __future__ import annotations

import ipaddress
import json
import socket

from hpclab import checks

LOOPBACK = "127.0.0.1"


def tf_config(workers: list[str], index: int, task_type: str = "worker") -> str:
    """The TF_CONFIG JSON for task ``index`` of a cluster of ``workers`` ("host:port")."""
    if not isinstance(workers, (list, tuple)) or not all(isinstance(w, str) for w in workers):
        raise TypeError("workers must be a list of 'host:port' strings, e.g. "
                        f"['{LOOPBACK}:20000', '{LOOPBACK}:20001'] (a single worker is a list "
                        f"of one); got {workers!r}")
    if not workers:
        raise ValueError("workers must list at least one 'host:port'; got []")
    index = checks.integer("index", index, minimum=0, maximum=len(workers) - 1, example=0)
    return json.dumps({"cluster": {task_type: list(workers)},
                       "task": {"type": task_type, "index": index}})


def check_host(host: str) -> str:
    """Return ``host`` if it is an IPv4 loopback address ("localhost" -> 127.0.0.1)."""
    if not isinstance(host, str):
        raise TypeError(f"host must be a string such as {LOOPBACK!r}; got {host!r}")
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
    n, host = checks.integer("n", n, example=2), check_host(host)
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def port_free(host: str, port: int) -> bool:
    """Whether ``port`` on ``host`` can be bound right now."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
