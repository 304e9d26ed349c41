"""A private, loopback-only network for a LocalCluster's workers — or the host network, by consent.

Taught in notebooks/06_multi_worker.ipynb. TensorFlow's gRPC server listens on every
network interface, whatever host TF_CONFIG names, and it neither authenticates nor encrypts
(tensorflow/tensorflow#11689). On Linux the launcher therefore starts a small keeper process
(``python -m hpclab.worker --netns-keeper``) that holds a new network namespace whose only
interface is loopback, and every worker joins it.

Where no namespace can be made (macOS, many containers), the workers would listen on every
interface of the machine: ``choose_network`` refuses that unless the user consents, with
``isolate=False`` or with HPCLAB_ALLOW_HOST_NETWORK=1 in the environment.
``HPCLAB_NETNS=off`` in the environment disables namespaces (to try the fallback).
"""

from __future__ import annotations

import ipaddress
import os
import pathlib
import socket
import subprocess
import sys

from hpclab import _procs

CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
NETNS_ENV = "HPCLAB_NETNS_PID"
ALLOW_HOST_NETWORK = "HPCLAB_ALLOW_HOST_NETWORK"
PRIVATE = "private network namespace (loopback only)"


# -- inside a process: make, join and inspect a namespace (Linux) ---------------------------
def _libc_call(name: str, *args) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")


def private_loopback_namespace() -> None:
    """Move this (single-threaded) process into a new network namespace, loopback up."""
    import fcntl
    import struct

    if not sys.platform.startswith("linux"):
        raise OSError(f"network namespaces need Linux; this is {sys.platform}")
    try:
        _libc_call("unshare", CLONE_NEWNET)  # root with CAP_SYS_ADMIN
    except OSError:  # an ordinary user: a user namespace first, same uid/gid inside
        uid, gid = os.getuid(), os.getgid()
        _libc_call("unshare", CLONE_NEWUSER | CLONE_NEWNET)
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                           ("gid_map", f"{gid} {gid} 1")):
            pathlib.Path(f"/proc/self/{name}").write_text(text)
    ifreq = "16sh22x"  # struct ifreq: interface name, flags; SIOCGIFFLAGS / SIOCSIFFLAGS
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack(ifreq, fcntl.ioctl(s, 0x8913, struct.pack(ifreq, b"lo", 0)))[1]
        fcntl.ioctl(s, 0x8914, struct.pack(ifreq, b"lo", flags | 0x1))  # IFF_UP


def join_namespace(pid: int) -> None:
    """Enter the network namespace (and its user namespace) that process ``pid`` holds."""
    for kind, flag in (("user", CLONE_NEWUSER), ("net", CLONE_NEWNET)):
        if os.readlink(f"/proc/{pid}/ns/{kind}") == os.readlink(f"/proc/self/ns/{kind}"):
            continue
        fd = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY)
        try:
            _libc_call("setns", fd, flag)
        finally:
            os.close(fd)


def listening_sockets(pid: int) -> list[dict]:
    """The listening TCP sockets of process ``pid`` and the interfaces of its network
    namespace, read from Linux /proc (psutil reads the caller's namespace instead)."""
    proc = pathlib.Path(f"/proc/{pid}")
    dev = (proc / "net" / "dev").read_text().splitlines()[2:]
    interfaces = ",".join(sorted(line.split(":")[0].strip() for line in dev))
    inodes = set()
    for fd in (proc / "fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for name in ("tcp", "tcp6"):
        for line in (proc / "net" / name).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # state 0A: LISTEN
                continue
            hex_ip, hex_port = cols[1].split(":")
            raw = bytes.fromhex(hex_ip)  # 32-bit words in host (little-endian) order
            raw = b"".join(raw[k:k + 4][::-1] for k in range(0, len(raw), 4))
            found.append({"address": str(ipaddress.ip_address(raw)),
                          "port": int(hex_port, 16), "interfaces": interfaces})
    return found


def sockets_of(procs: list[subprocess.Popen]) -> list[dict]:
    """``listening_sockets`` of every process still running, with its index as "worker"."""
    rows = []
    for i, proc in enumerate(procs):
        if proc.poll() is None:
            try:
                rows += [dict(worker=i, **s) for s in listening_sockets(proc.pid)]
            except OSError:
                continue
    return rows


# -- in the launcher: start a keeper, or consent to the host network -----------------------
def start_keeper(timeout_s: float = 30.0) -> tuple[subprocess.Popen | None, str]:
    """(keeper process, "ready") where a private namespace can be made, else (None, why not)."""
    import selectors

    keeper = _procs.start(["--netns-keeper"], stdout=subprocess.PIPE, text=True)
    with selectors.DefaultSelector() as sel:
        sel.register(keeper.stdout, selectors.EVENT_READ)
        line = keeper.stdout.readline().strip() if sel.select(timeout=timeout_s) else "no answer"
    if line == "ready":
        return keeper, line
    _procs.stop_processes([keeper], grace_s=1.0)
    keeper.stdout.close()
    return None, line or f"the keeper exited with code {keeper.returncode}"


def why_no_private_network() -> str | None:
    """None where workers can get a private loopback-only network here, else the reason."""
    keeper, line = start_keeper()
    if keeper is None:
        return line
    _procs.stop_processes([keeper], grace_s=1.0)
    keeper.stdout.close()
    return None


def host_network_risk(problem: str) -> str:
    return (f"no private network namespace here ({problem}). On the host network each "
            "worker's TensorFlow gRPC server listens on every interface of this machine, "
            "with no authentication: while the job runs, anyone who can reach this machine "
            "can connect to the workers (tensorflow/tensorflow#11689). On a trusted network "
            f"(or behind a firewall) consent with LocalCluster(..., isolate=False) or with "
            f"{ALLOW_HOST_NETWORK}=1 in the environment")


def choose_network(isolate) -> tuple[subprocess.Popen | None, str]:
    """(keeper or None, a description of the workers' network) for ``isolate``: True needs a
    private namespace, False takes the host network, "auto" takes a namespace where one can
    be made and the host network elsewhere only with HPCLAB_ALLOW_HOST_NETWORK=1."""
    if isolate is False:
        return None, "host network (isolate=False)"
    keeper, problem = start_keeper()
    if keeper is not None:
        return keeper, PRIVATE
    if isolate is True:
        raise RuntimeError(f"isolate=True needs Linux network namespaces; here: {problem}. "
                           "Use isolate='auto' and read its conditions in hpclab.netns")
    if os.environ.get(ALLOW_HOST_NETWORK) == "1":
        return None, f"host network ({ALLOW_HOST_NETWORK}=1; no private namespace: {problem})"
    raise RuntimeError(host_network_risk(problem))
