"""Separate "hosts" for tests: Linux network namespaces joined by a private bridge.

A robot swarm that only ever ran on one machine has only ever talked over loopback (and,
with Fast DDS, shared memory). :func:`hosts` gives a test ``n`` network namespaces that
behave like machines on one LAN segment, so DDS discovery (UDP multicast) and user traffic
have to cross real interfaces:

* a hub namespace holding a Linux bridge ``br0`` (multicast snooping off, so multicast
  floods to every port, as on a plain switch);
* per host a namespace with loopback up and ``eth0``, one end of a veth pair whose other end
  is a port of the bridge, an address ``<subnet>.<i + 1>/24`` and a route for multicast
  (224.0.0.0/4) via ``eth0``: the namespaces have no default route, and without that route a
  send to a DDS multicast group fails with "network unreachable".

Nothing outside these namespaces is touched: the bridge lives in the hub namespace, not in
the root one, and no interface of the machine is moved, created or configured. Because
every run has its own bridge, concurrent runs may use the same subnet without seeing each
other. Names carry the prefix and the pid (``<prefix>-<pid>-hub``, ``<prefix>-<pid>-h<i>``);
namespaces of the same prefix left behind by a run that was killed (its pid no longer
alive) are removed first. On leaving the context, even on an error, Ctrl-C or SIGTERM, the
processes the hosts started and every namespace are removed (deleting a namespace deletes
its veth ends and the bridge with it).

Everything is done with ``ip`` from iproute2 and needs root (CAP_SYS_ADMIN and
CAP_NET_ADMIN): :func:`can_create_namespaces` says why not, for tests to skip with.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

IP_TIMEOUT = 20.0
"""Seconds any one ``ip`` command may take (they take milliseconds; a hang is a broken system)."""
STOP_GRACE = 3.0
"""Seconds a process a host started gets to end after SIGTERM before it is killed."""
DEFAULT_SUBNET = "10.231.0"
"""First three octets of the hosts' /24: a private range, reachable only over the test's own bridge."""


class NetnsError(RuntimeError):
    """An ``ip`` command failed (the message has the command and what it printed)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip ARGS``; :class:`NetnsError` with its stderr if it fails and ``check``."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT)
    if check and proc.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def list_namespaces() -> list[str]:
    """Names of the named network namespaces (``ip netns list``)."""
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _delete_namespace(name: str) -> None:
    """End what still runs in namespace ``name`` (only this helper starts processes there), then delete it.

    ``ip netns del`` only unmounts the name: a process still inside would keep the namespace,
    with its interfaces and the DDS sockets, alive.
    """
    pids = [int(p) for p in _ip("netns", "pids", name, check=False).stdout.split() if p.isdigit()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + STOP_GRACE
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if _pid_alive(p)]
            if pids:
                time.sleep(0.05)
        if not pids:
            break
    _ip("netns", "del", name, check=False)


def clean_stale(prefix: str) -> list[str]:
    """Delete namespaces ``<prefix>-<pid>-...`` whose creating process is gone; the names deleted."""
    removed = []
    for name in list_namespaces():
        head, _, rest = name.partition(f"{prefix}-")
        pid = rest.split("-", 1)[0]
        if head or not pid.isdigit() or _pid_alive(int(pid)):
            continue
        _delete_namespace(name)
        removed.append(name)
    return removed


def can_create_namespaces(prefix: str = "distopt-probe") -> str | None:
    """None if this process can build :func:`hosts`; otherwise why not (for ``pytest.skip``).

    It checks for root and for ``ip``, then really creates a namespace holding a bridge and a
    veth pair (containers often lack one of the three: no mount rights for /run/netns, no
    bridge or veth driver) and deletes it again.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root (CAP_SYS_ADMIN, CAP_NET_ADMIN): run the tests as root"
    if shutil.which("ip") is None:
        return "`ip` not found: install iproute2 (apt-get install iproute2)"
    name = f"{prefix}-{os.getpid()}-{threading.get_ident() % 10_000}"
    try:
        clean_stale(prefix)  # a probe of a run that was killed half-way
        for args in (("netns", "add", name), ("-n", name, "link", "add", "br0", "type", "bridge"),
                     ("-n", name, "link", "add", "va", "type", "veth", "peer", "name", "vb")):
            proc = _ip(*args, check=False)
            if proc.returncode != 0:
                return f"cannot create network namespaces here: ip {' '.join(args)}: {proc.stderr.strip()}"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot run ip: {exc}"
    finally:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            if name in list_namespaces():
                _ip("netns", "del", name, check=False)
    return None


@dataclass
class Host:
    """One namespace: a "machine" with ``eth0`` at :attr:`address` on the test's bridge."""

    name: str
    """The network namespace's name (``ip netns exec <name> ...``)."""
    address: str
    """Its IPv4 address on the bridge."""
    interface: str = "eth0"
    processes: list[subprocess.Popen[Any]] = field(default_factory=list)
    """Everything :meth:`popen` started, ended by :func:`hosts` on exit."""

    def command(self, cmd: Sequence[str]) -> list[str]:
        """``cmd`` run inside this namespace."""
        return ["ip", "netns", "exec", self.name, *cmd]

    def popen(self, cmd: Sequence[str], env: Mapping[str, str] | None = None, **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``cmd`` inside this namespace with exactly ``env`` (``ip netns exec`` execs it: same pid)."""
        proc = subprocess.Popen(self.command(cmd), env=dict(env) if env is not None else None, **kwargs)
        self.processes.append(proc)
        return proc

    def run(self, cmd: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 60.0,
            **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        """Run ``cmd`` inside this namespace to completion (``subprocess.run`` arguments otherwise)."""
        return subprocess.run(self.command(cmd), env=dict(env) if env is not None else None, timeout=timeout,
                              **kwargs)

    def counters(self) -> dict[str, int]:
        """``eth0``'s packet and byte counters (``rx_packets``, ``tx_packets``, ``rx_bytes``, ``tx_bytes``)."""
        out = _ip("-n", self.name, "-s", "-j", "link", "show", "dev", self.interface).stdout
        stats = json.loads(out)[0]["stats64"]
        return {f"{way}_{what}": int(stats[way][what]) for way in ("rx", "tx") for what in ("packets", "bytes")}

    def stop_processes(self) -> None:
        """SIGTERM, then SIGKILL after :data:`STOP_GRACE`, every process :meth:`popen` started that still runs."""
        running = [p for p in self.processes if p.poll() is None]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in running:
            try:
                proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_GRACE)


def set_link(host: Host, up: bool) -> None:
    """Plug ``host``'s cable into the bridge (``up``) or pull it: its port on the hub goes up or down.

    The host's own ``eth0`` keeps its address and routes (it only loses carrier), so a heal needs
    nothing but the port back up: a network partition, as a radio drop-out is to the robots.
    """
    base, index = host.name.rsplit("-h", 1)
    _ip("-n", f"{base}-hub", "link", "set", f"v{index}", "up" if up else "down")


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While inside: SIGTERM raises SystemExit (so ``finally`` blocks run) instead of ending Python at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _setup(hub: str, hosts_: list[Host]) -> None:
    _ip("-n", hub, "link", "set", "lo", "up")
    _ip("-n", hub, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
    _ip("-n", hub, "link", "set", "br0", "addrgenmode", "none")  # no IPv6 chatter from the bridge itself
    _ip("-n", hub, "link", "set", "br0", "up")
    for i, host in enumerate(hosts_):
        port = f"v{i}"
        _ip("-n", hub, "link", "add", port, "type", "veth", "peer", "name", host.interface, "netns", host.name)
        _ip("-n", hub, "link", "set", port, "master", "br0", "addrgenmode", "none")
        _ip("-n", hub, "link", "set", port, "up")
        _ip("-n", host.name, "link", "set", "lo", "up")
        # No IPv6 link-local address: the counters then count IPv4 (DDS) traffic, not router solicitations.
        _ip("-n", host.name, "link", "set", host.interface, "multicast", "on", "addrgenmode", "none")
        _ip("-n", host.name, "addr", "add", f"{host.address}/24", "dev", host.interface)
        _ip("-n", host.name, "link", "set", host.interface, "up")
        _ip("-n", host.name, "route", "add", "224.0.0.0/4", "dev", host.interface)


@contextlib.contextmanager
def hosts(n: int, prefix: str = "distopt", subnet: str = DEFAULT_SUBNET) -> Iterator[list[Host]]:
    """``n`` :class:`Host` namespaces on one private bridge, removed again on exit (see the module docstring).

    ``prefix`` names the namespaces (keep it short and specific to the test); ``subnet`` is
    the first three octets of the /24 the hosts get addresses ``.1`` to ``.n`` from.
    """
    if not 1 <= n <= 250:
        raise ValueError(f"n must be between 1 and 250, got {n}")
    clean_stale(prefix)
    base = f"{prefix}-{os.getpid()}"
    hub = f"{base}-hub"
    members = [Host(f"{base}-h{i}", f"{subnet}.{i + 1}") for i in range(n)]
    created: list[str] = []
    with _sigterm_raises():
        try:
            for name in (hub, *(h.name for h in members)):
                _ip("netns", "add", name)
                created.append(name)
            _setup(hub, members)
            yield members
        finally:
            for host in members:
                with contextlib.suppress(Exception):
                    host.stop_processes()
            for name in reversed(created):
                _delete_namespace(name)
