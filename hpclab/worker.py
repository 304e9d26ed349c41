"""What runs inside each process that hpclab.cluster launches: ``python -m hpclab.worker
SCRIPT ARGS...`` joins the cluster's private network namespace (if any), starts a
parent-death watchdog, then runs SCRIPT as ``__main__``.

Taught in notebooks/06_multi_worker.ipynb. Two safety nets live here:

- parent-death safety: a daemon thread polls the parent pid; when the launcher (the
  notebook kernel, a test) is gone, it kills this worker's whole process group;
- loopback-only networking: TensorFlow's gRPC server listens on every interface, so on
  Linux the launcher starts ``python -m hpclab.worker --netns-keeper``, which holds a new
  network namespace with only the loopback interface up, and every worker joins it
  (``HPCLAB_NETNS=off`` in the environment disables this).
"""

from __future__ import annotations

import ipaddress
import os
import pathlib
import signal
import socket
import sys
import time

CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
NETNS_ENV = "HPCLAB_NETNS_PID"


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


def die_with_parent(parent: int, poll_s: float = 0.5) -> None:
    """Block until the parent process is gone, then kill this process group."""
    while os.getppid() == parent:
        time.sleep(poll_s)
    os.killpg(0, signal.SIGKILL)


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


def main(argv: list[str]) -> int:
    parent = os.getppid()
    if argv == ["--netns-keeper"]:
        if os.environ.get("HPCLAB_NETNS") == "off":
            print("disabled by HPCLAB_NETNS=off", flush=True)
            return 1
        try:
            private_loopback_namespace()
        except (OSError, AttributeError) as err:
            print(f"{type(err).__name__}: {err}", flush=True)
            return 1
        print("ready", flush=True)
        die_with_parent(parent)
        return 0
    if not argv or argv[0].startswith("-"):
        print("usage: python -m hpclab.worker SCRIPT [ARGS...]", file=sys.stderr)
        return 2
    if os.environ.get(NETNS_ENV):
        join_namespace(int(os.environ[NETNS_ENV]))  # must happen before any thread starts
    import runpy
    import threading

    threading.Thread(target=die_with_parent, args=(parent,), daemon=True).start()
    sys.argv = list(argv)
    sys.path.insert(0, str(pathlib.Path(argv[0]).resolve().parent))
    runpy.run_path(argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
