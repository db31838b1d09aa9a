"""Separate hosts on one Linux machine: a network namespace per party, joined to the root namespace (where
the portal, PostgreSQL, Redis and the chain run) by a veth pair, and the key parties joined to one another.

    with Hosts(HOSPITALS + KEY_PARTIES, mesh=KEY_PARTIES, base_dir=tmp_path) as hosts:
        h1 = hosts["h1"]
        node = hosts.popen("h1", [sys.executable, "-m", "node", ...], env=env, cwd=h1.data_dir)
        # h1 reaches the portal at h1.root_address; k1 reaches k2 at hosts.address_of("k2", "k1")
        table = reachability(hosts, {"portal http": root_service(hosts, 8000),
                                     "h2": party_service(hosts, "h2", 9000)})

What each party can reach, and why (nothing here changes a sysctl or a firewall rule):

- A namespace starts with no interface but `lo`; it gets one veth end with a /30 address (the root namespace
  holds the other end, `root_address`), and a key party one more veth per other key party (a /30 each).
  Its routes are only those the kernel adds for these addresses (the connected /30s): no default route.
- So a hospital has no route to another hospital's /30, to a key party's /30s, or to any address of the
  root namespace but its own link's root end: connecting there fails at once ("Network is unreachable").
  This holds whatever `net.ipv4.ip_forward` says in the root namespace (0 on the machine this was written
  on; the harness's test also passed with it at 1): forwarding would only matter to packets that reach the
  root addressed to another namespace, and no namespace has a route that sends them there. A party that
  added such a route itself (its processes run as root) would get through only if forwarding were on.
- 127.0.0.1 in a namespace is that namespace's own loopback, so a root-namespace service bound to 127.0.0.1
  (PostgreSQL, Redis, the chain's RPC) is out of every namespace's reach; one bound to 0.0.0.0 (the portal's
  HTTP) is reached at the root end of the party's link. Keeping the database and the broker from the parties
  thus rests on their binding 127.0.0.1 only.
- The veths get no IPv6 link-local address (`addrgenmode none`): nothing is reachable over IPv6 either.
- The link subnets come from 10.213.0.0/16, checked against every address and route of the root namespace,
  so the test's traffic goes to loopback or to these namespaces only.

Names are short (an interface name has at most 15 characters): every namespace and root-side interface
starts with a prefix of the process and the instance, `dhn` + the pid (5 base-36 digits) + a counter (2).
Teardown (leaving the `with` block, also on an exception or KeyboardInterrupt, or `close()`) stops every
process started with `popen` and every process left in the namespaces (SIGTERM, SIGKILL after a deadline),
deletes the veths and the namespaces, and is safe to repeat and after a creation that failed half-way.
Nothing outlives the process but what a SIGKILL of it leaves: `python -m tests.hosts.netns --clean`.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POOL = ipaddress.ip_network("10.213.0.0/16")
MAX_HOSTS = 36  # one base-36 digit per host in the interface names
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,15}$")
PREFIX_PATTERN = re.compile(r"dhn([0-9a-z]{5})([0-9a-z]{2})")  # dhn + pid + instance counter
ROUTE_TYPES = {"unicast", "local", "broadcast", "multicast", "throw", "unreachable", "prohibit", "blackhole",
               "nat", "anycast"}  # fmt: skip
IP_TIMEOUT_S = 10.0  # one `ip` command
TERM_TIMEOUT_S = 5.0  # SIGTERM to SIGKILL at teardown
KILL_TIMEOUT_S = 3.0  # SIGKILL to giving up

Address = tuple[str, int]
# What a reachability column tries from a party: fixed addresses, or the addresses that party would use.
Target = Address | Sequence[Address] | Callable[["Host"], Sequence[Address]]

_instances = itertools.count()


class NetnsError(RuntimeError):
    """An `ip` command failed, or teardown left something behind."""


def ip_binary() -> str | None:
    """The `ip` command (iproute2): on PATH, or where Debian puts it (not on a non-root PATH)."""
    found = shutil.which("ip")
    return found or next((p for p in ("/usr/sbin/ip", "/sbin/ip") if os.access(p, os.X_OK)), None)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    binary = ip_binary()
    if binary is None:
        raise NetnsError("the `ip` command (iproute2) is not installed")
    done = subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S, stdin=subprocess.DEVNULL
    )
    if check and done.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}")
    return done


def _base36(value: int, width: int) -> str:
    digits = ""
    for _ in range(width):
        value, digit = divmod(value, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
    return digits


def namespaces_available() -> str | None:
    """None when this process can create namespaces and veth pairs, otherwise why not (for a skip)."""
    if not sys.platform.startswith("linux"):
        return f"network namespaces need Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return f"creating network namespaces needs root (running as uid {os.geteuid()})"
    if ip_binary() is None:
        return "the `ip` command (iproute2) is not installed"
    prefix = f"dhn{_base36(os.getpid(), 5)}zz"  # instances count to "zy" only
    probe = f"{prefix}-probe"
    try:
        _ip("netns", "add", probe)
        _ip("link", "add", f"{prefix}ra", "type", "veth", "peer", "name", f"{prefix}rb", "netns", probe)
        _ip("netns", "exec", probe, "true")
    except (NetnsError, OSError, subprocess.TimeoutExpired) as error:
        return f"cannot create a network namespace with a veth pair here: {error}"
    finally:
        for command in (["link", "del", f"{prefix}ra"], ["netns", "del", probe]):
            try:
                _ip(*command, check=False)
            except (NetnsError, OSError, subprocess.TimeoutExpired):
                pass
    return None


def _namespaces() -> list[str]:
    return [line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.strip()]


def _root_links() -> list[str]:
    """Interface names in the root namespace (`veth@peer` loses its `@peer`)."""
    names = []
    for line in _ip("-o", "link", "show").stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            names.append(parts[1].strip().split("@")[0])
    return names


def leftovers(prefix: str) -> list[str]:
    """Namespaces and root-namespace interfaces whose names start with `prefix` (empty after teardown)."""
    return [f"netns {n}" for n in _namespaces() if n.startswith(prefix)] + [
        f"link {n}" for n in _root_links() if n.startswith(prefix)
    ]


def root_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the root namespace has an address in or a route to (any table; not the default)."""
    networks = []
    for line in _ip("-o", "-4", "addr", "show").stdout.splitlines():
        match = re.search(r"\binet (\S+)", line)
        if match:
            networks.append(ipaddress.ip_interface(match.group(1)).network)
    for line in _ip("-4", "route", "show", "table", "all").stdout.splitlines():
        tokens = line.split()
        if not tokens:
            continue
        destination = tokens[1] if tokens[0] in ROUTE_TYPES and len(tokens) > 1 else tokens[0]
        if destination == "default":
            continue
        try:
            networks.append(ipaddress.ip_network(destination, strict=False))
        except ValueError:
            continue
    return [n for n in networks if isinstance(n, ipaddress.IPv4Network)]


def root_addresses() -> list[str]:
    """The root namespace's own IPv4 addresses."""
    found = re.findall(r"\binet (\d+\.\d+\.\d+\.\d+)/", _ip("-o", "-4", "addr", "show").stdout)
    return list(dict.fromkeys(found))


def _pick_subnets(
    count: int, taken: Sequence[ipaddress.IPv4Network], start: int
) -> list[ipaddress.IPv4Network]:
    """`count` /30s of POOL overlapping nothing in `taken`, scanning from /30 number `start` (spread by pid,
    so that two test processes at once rarely try the same ones; the root's links are checked again after)."""
    blocks = list(POOL.subnets(new_prefix=30))
    chosen: list[ipaddress.IPv4Network] = []
    for offset in range(len(blocks)):
        block = blocks[(start + offset) % len(blocks)]
        if not any(block.overlaps(network) for network in taken):
            chosen.append(block)
            if len(chosen) == count:
                return chosen
    raise NetnsError(f"no {count} free /30 subnets left in {POOL}")


@dataclass(frozen=True)
class Host:
    """One party's namespace. `address` is its own end of the link to the root namespace, `root_address` the
    root's end (where it reaches the portal); `mesh` maps each other mesh party to this party's own address on
    the link between the two (the peer reaches it there)."""

    name: str
    netns: str
    address: str
    root_address: str
    link: str  # the interface in the namespace
    root_link: str  # its peer in the root namespace
    mesh: Mapping[str, str] = field(default_factory=dict)
    directory: Path | None = None

    def _subdir(self, name: str) -> Path:
        if self.directory is None:
            raise ValueError("Hosts(..., base_dir=...) was not given: the hosts have no directories")
        return self.directory / name

    @property
    def data_dir(self) -> Path:
        return self._subdir("data")

    @property
    def share_dir(self) -> Path:
        return self._subdir("share")

    @property
    def key_dir(self) -> Path:
        return self._subdir("key")


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Ctrl-C during teardown is held until teardown ends (then raised): it cannot leave half a teardown."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is None or previous == signal.SIG_IGN:  # not Python's handler, or Ctrl-C ignored anyway
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


_PROBE_SCRIPT = """
import json, socket, sys, threading
targets, timeout = json.loads(sys.argv[1]), float(sys.argv[2])
results = ["no answer in time"] * len(targets)
def probe(index, host, port):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            results[index] = None
    except OSError as error:
        results[index] = f"{type(error).__name__}: {error}"
threads = [threading.Thread(target=probe, args=(i, h, p)) for i, (h, p) in enumerate(targets)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(timeout + 5)
print(json.dumps(results))
"""


class Hosts:
    """A namespace per name, linked to the root namespace; the names in `mesh` also linked pairwise.

    Use as a context manager (or call `close()`); `hosts[name]` is that party's `Host`. With `base_dir`, each
    host gets base_dir/name/{data,share,key}/ (created; left for the caller's tmp_path to remove).
    """

    def __init__(
        self,
        names: Sequence[str],
        mesh: Sequence[str] = (),
        base_dir: Path | None = None,
        term_timeout: float = TERM_TIMEOUT_S,
    ):
        names, mesh = list(names), list(mesh)
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"host names must be distinct, and at least one: {names}")
        if len(names) > MAX_HOSTS:
            raise ValueError(f"at most {MAX_HOSTS} hosts")
        bad = [n for n in names if not NAME_PATTERN.match(n)]
        if bad:
            raise ValueError(f"host names must match {NAME_PATTERN.pattern}: {bad}")
        if len(set(mesh)) != len(mesh) or not set(mesh) <= set(names):
            raise ValueError(f"mesh must be distinct names among the hosts: {mesh}")
        self.names = names
        self.mesh_names = mesh
        self.base_dir = base_dir
        self.term_timeout = term_timeout
        self.prefix = f"dhn{_base36(os.getpid(), 5)}{_base36(next(_instances) % 1295, 2)}"
        self.hosts: dict[str, Host] = {}
        self.root_addresses: list[str] = []  # the root namespace's IPv4 addresses, once created
        self._processes: list[tuple[subprocess.Popen[Any], bool]] = []  # (process, leads its own group)
        self._lock = threading.Lock()
        self._created = False
        self._closed = False

    # --- lifetime -------------------------------------------------------------------------------------------

    def __enter__(self) -> Hosts:
        self.create()
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            self.close()
        except NetnsError as error:
            if exc is None:
                raise
            print(f"[netns] teardown: {error}", file=sys.stderr)  # the exception in flight is the one to see

    def netns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def create(self) -> None:
        """Creates the namespaces and links; on any failure (or Ctrl-C) removes what it made and re-raises."""
        if self._created or self._closed:
            raise NetnsError("a Hosts is created once")
        self._created = True
        try:
            self._create()
        except BaseException:
            self.close(check=False)
            raise

    def _create(self) -> None:
        pairs = list(itertools.combinations(self.mesh_names, 2))
        start = (os.getpid() * 97 + int(self.prefix[-2:], 36) * 13) % (POOL.num_addresses // 4)
        subnets = _pick_subnets(len(self.names) + len(pairs), root_networks(), start)
        index = {name: _base36(i, 1) for i, name in enumerate(self.names)}
        mesh_addresses: dict[str, dict[str, str]] = {name: {} for name in self.names}
        links: dict[str, tuple[str, str, str, str]] = {}

        for name, subnet in zip(self.names, subnets, strict=False):
            ns = self.netns(name)
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            root_end, own_end = f"{self.prefix}r{index[name]}a", f"{self.prefix}r{index[name]}b"
            root_ip, own_ip = (str(a) for a in itertools.islice(subnet.hosts(), 2))
            _ip("link", "add", root_end, "type", "veth", "peer", "name", own_end, "netns", ns)
            self._configure(None, root_end, f"{root_ip}/{subnet.prefixlen}")
            self._configure(ns, own_end, f"{own_ip}/{subnet.prefixlen}")
            links[name] = (own_ip, root_ip, own_end, root_end)

        for (a, b), subnet in zip(pairs, subnets[len(self.names) :], strict=True):
            end_a, end_b = f"{self.prefix}m{index[a]}{index[b]}a", f"{self.prefix}m{index[a]}{index[b]}b"
            ip_a, ip_b = (str(x) for x in itertools.islice(subnet.hosts(), 2))
            _ip("-n", self.netns(a), "link", "add", end_a, "type", "veth", "peer", "name", end_b,
                "netns", self.netns(b))  # fmt: skip
            self._configure(self.netns(a), end_a, f"{ip_a}/{subnet.prefixlen}")
            self._configure(self.netns(b), end_b, f"{ip_b}/{subnet.prefixlen}")
            mesh_addresses[a][b], mesh_addresses[b][a] = ip_a, ip_b

        self._check_root_subnets(subnets[: len(self.names)])
        for name in self.names:
            directory = None
            if self.base_dir is not None:
                directory = Path(self.base_dir) / name
                for sub in ("data", "share", "key"):
                    (directory / sub).mkdir(parents=True, exist_ok=True)
            own_ip, root_ip, own_end, root_end = links[name]
            self.hosts[name] = Host(name, self.netns(name), own_ip, root_ip, own_end, root_end,
                                    dict(mesh_addresses[name]), directory)  # fmt: skip
        self.root_addresses = root_addresses()

    @staticmethod
    def _configure(ns: str | None, interface: str, cidr: str) -> None:
        """No IPv6 link-local address, the IPv4 address, up: the kernel adds the connected route only."""
        where = ["-n", ns] if ns else []
        _ip(*where, "link", "set", "dev", interface, "addrgenmode", "none")
        _ip(*where, "addr", "add", cidr, "dev", interface)
        _ip(*where, "link", "set", "dev", interface, "up")

    def _check_root_subnets(self, subnets: Sequence[ipaddress.IPv4Network]) -> None:
        """Another process may have taken the same subnet between our look and our `ip addr add`."""
        ours = {host_link: subnet for host_link, subnet in zip(self._root_ends(), subnets, strict=True)}
        for line in _ip("-o", "-4", "addr", "show").stdout.splitlines():
            match = re.match(r"\d+:\s+(\S+)\s+inet (\S+)", line)
            if not match:
                continue
            interface, network = match.group(1).split("@")[0], ipaddress.ip_interface(match.group(2)).network
            for root_end, subnet in ours.items():
                if interface != root_end and network.overlaps(subnet):
                    raise NetnsError(f"{subnet} of {root_end} collides with {network} on {interface}")

    def _root_ends(self) -> list[str]:
        return [f"{self.prefix}r{_base36(i, 1)}a" for i in range(len(self.names))]

    def close(self, check: bool = True) -> None:
        """Stops the processes, deletes the links and namespaces; idempotent. Raises NetnsError (when `check`)
        if something with this instance's prefix is still there afterwards."""
        with _interrupts_deferred():
            self._closed = True
            self._stop_processes()
            for link in _root_links():
                if link.startswith(self.prefix):
                    _ip("link", "del", "dev", link, check=False)
            for ns in _namespaces():
                if ns.startswith(self.prefix + "-"):
                    _ip("netns", "del", ns, check=False)
            remaining = leftovers(self.prefix)
        if remaining and check:
            raise NetnsError(f"left after teardown: {', '.join(remaining)}")

    def _namespace_pids(self) -> list[int]:
        pids = []
        for ns in _namespaces():
            if ns.startswith(self.prefix + "-"):
                pids += [int(p) for p in _ip("netns", "pids", ns, check=False).stdout.split() if p.isdigit()]
        return [p for p in pids if p != os.getpid()]

    def _signal_all(self, sig: signal.Signals) -> None:
        with self._lock:
            processes = list(self._processes)
        for process, own_group in processes:
            if process.returncode is not None:  # reaped by the caller: its pid may be someone else's now
                continue
            try:  # an unreaped leader keeps its pid (and group id) ours, even as a zombie
                if own_group:
                    os.killpg(process.pid, sig)
                else:
                    os.kill(process.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in self._namespace_pids():
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def _all_exited(self) -> bool:
        with self._lock:
            processes = list(self._processes)
        for process, _ in processes:
            if process.returncode is not None:
                continue
            try:  # WNOWAIT: look without reaping, so the group id stays valid for the SIGKILL
                if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
                    return False
            except ChildProcessError:
                continue
        return not self._namespace_pids()

    def _stop_processes(self) -> None:
        with self._lock:
            anything = bool(self._processes)
        if not anything and not self._namespace_pids():
            return
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self.term_timeout
        while not self._all_exited() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._signal_all(signal.SIGKILL)  # what ignored SIGTERM, and what the groups left behind (children)
        deadline = time.monotonic() + KILL_TIMEOUT_S
        while not self._all_exited() and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._lock:
            processes, self._processes = self._processes, []
        for process, _ in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"[netns] pid {process.pid} survived SIGKILL", file=sys.stderr)

    # --- access ---------------------------------------------------------------------------------------------

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def __iter__(self) -> Iterator[Host]:
        return iter(self.hosts.values())

    def address_of(self, name: str, seen_from: str | None = None) -> str:
        """Where `seen_from` (a mesh party; None: the root namespace) reaches `name`: its mesh address on
        their link when both are in the mesh, else its root-link address (reachable from the root only)."""
        host = self.hosts[name]
        if seen_from is not None and seen_from in host.mesh:
            return host.mesh[seen_from]
        return host.address

    # --- processes ------------------------------------------------------------------------------------------

    def command(self, name: str | None, argv: Sequence[str]) -> list[str]:
        """argv run inside `name`'s namespace (`ip netns exec`, which execs it: same pid); None: as it is."""
        if name is None:
            return [str(a) for a in argv]
        if name not in self.hosts:
            raise KeyError(f"no host {name!r} (hosts: {', '.join(self.hosts) or 'none yet'})")
        return [ip_binary() or "ip", "netns", "exec", self.hosts[name].netns, *(str(a) for a in argv)]

    def popen(self, name: str | None, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Starts argv in `name`'s namespace (None: the root namespace) with subprocess.Popen's `kwargs` (env,
        cwd, stdout... as given). It gets a session of its own unless `start_new_session=False`, so teardown
        stops it and its children (SIGTERM, SIGKILL after the deadline) unless it was reaped before."""
        if self._closed:
            raise NetnsError("these hosts are torn down")
        kwargs.setdefault("start_new_session", True)
        process = subprocess.Popen(self.command(name, argv), **kwargs)
        with self._lock:
            self._processes.append((process, bool(kwargs["start_new_session"])))
        return process

    def run(
        self, name: str | None, argv: Sequence[str], timeout: float, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        """Runs argv to its end in `name`'s namespace; output captured as text unless `kwargs` say otherwise;
        no check of the exit code; subprocess.TimeoutExpired (the command killed) after `timeout` seconds."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(self.command(name, argv), timeout=timeout, check=False, **kwargs)

    def probe(self, name: str | None, addresses: Sequence[Address], timeout: float = 2.0) -> list[str | None]:
        """A real TCP connect from `name`'s namespace to each address at once: None where it connected, else
        the error (e.g. 'ConnectionRefusedError: [Errno 111] Connection refused')."""
        if not addresses:
            return []
        argv = [sys.executable, "-I", "-c", _PROBE_SCRIPT, json.dumps([[h, int(p)] for h, p in addresses]),
                str(timeout)]  # fmt: skip
        done = self.run(name, argv, timeout=timeout + 20)
        if done.returncode != 0:
            raise NetnsError(f"probe from {name}: exit {done.returncode}: {done.stderr.strip()[-2000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def can_connect(self, name: str | None, host: str, port: int, timeout: float = 2.0) -> bool:
        """Whether a TCP connect from `name`'s namespace (None: the root's) to host:port succeeds."""
        return self.probe(name, [(host, port)], timeout)[0] is None


# --- reachability -------------------------------------------------------------------------------------------


# Accepts connections, says hello and closes them; prints its port once it listens.
SERVER = """
import socket, sys
server = socket.create_server((sys.argv[1], 0))
print(server.getsockname()[1], flush=True)
while True:
    connection, _ = server.accept()
    connection.sendall(b"hello")
    connection.close()
"""


def start_server(hosts: Hosts, name: str | None, bind: str, deadline_s: float = 10.0) -> int:
    """A SERVER in `name`'s namespace (None: the root's) bound to `bind`; its port, once it listens."""
    process = hosts.popen(name, [sys.executable, "-I", "-c", SERVER, bind], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], deadline_s)
    line = process.stdout.readline() if ready else ""
    assert line.strip().isdigit(), f"the server in {name or 'the root namespace'} did not start: {line!r}"
    return int(line)


def root_service(hosts: Hosts, port: int) -> Callable[[Host], list[Address]]:
    """A service of the root namespace on `port`, tried from a party at every address of the root it could
    know: its link's root end, 127.0.0.1 (in a namespace: its own loopback) and the root's other addresses."""

    def addresses(host: Host) -> list[Address]:
        candidates = [host.root_address, "127.0.0.1", *hosts.root_addresses]
        return [(a, port) for a in dict.fromkeys(candidates)]

    return addresses


def party_service(hosts: Hosts, name: str, port: int) -> Callable[[Host], list[Address]]:
    """A service in `name`'s namespace on `port` (bound to 0.0.0.0), tried from another party at every address
    `name` has: its root-link address and all its mesh addresses. Not tried from `name` itself."""

    def addresses(host: Host) -> list[Address]:
        if host.name == name:
            return []
        target = hosts[name]
        return [(a, port) for a in dict.fromkeys([target.address, *target.mesh.values()])]

    return addresses


@dataclass
class Reachability:
    """From each source (a party) to each target: the addresses tried, and which of them accepted."""

    sources: list[str]
    labels: list[str]
    tried: dict[str, dict[str, list[Address]]]
    errors: dict[str, dict[str, list[str | None]]]  # per address tried: None where it connected

    def reached(self, source: str, label: str) -> list[Address]:
        pairs = zip(self.tried[source][label], self.errors[source][label], strict=True)
        return [address for address, error in pairs if error is None]

    def ok(self, source: str, label: str) -> bool | None:
        """True if some address connected, False if none did, None if nothing was tried (the party itself)."""
        if not self.tried[source][label]:
            return None
        return bool(self.reached(source, label))

    def as_dict(self) -> dict[str, dict[str, bool | None]]:
        return {s: {label: self.ok(s, label) for label in self.labels} for s in self.sources}

    def table(self) -> str:
        marks = {True: "yes", False: "no", None: "-"}
        width = max(len(s) for s in [*self.sources, "from \\ to"])
        columns = [max(len(label), 3) for label in self.labels]
        header = [label.ljust(w) for label, w in zip(self.labels, columns, strict=True)]
        lines = ["  ".join(["from \\ to".ljust(width), *header])]
        for source in self.sources:
            cells = [marks[self.ok(source, lb)].ljust(w) for lb, w in zip(self.labels, columns, strict=True)]
            lines.append("  ".join([source.ljust(width), *cells]).rstrip())
        return "\n".join(lines)

    def __str__(self) -> str:
        return "reachability (yes: a TCP connect succeeded at one of the addresses tried)\n" + self.table()


def _addresses(target: Target, host: Host) -> list[Address]:
    if callable(target):
        return list(target(host))
    if len(target) == 2 and isinstance(target[0], str) and isinstance(target[1], int):
        return [target]  # type: ignore[list-item]
    return list(target)  # type: ignore[arg-type]


def reachability(
    hosts: Hosts,
    targets: Mapping[str, Target],
    sources: Sequence[str] | None = None,
    timeout: float = 1.0,
    show: bool = True,
) -> Reachability:
    """Tries every target from every source namespace (all hosts unless `sources`), all at once per source;
    prints the table when `show`."""
    sources = list(sources) if sources is not None else list(hosts.names)
    tried: dict[str, dict[str, list[Address]]] = {}
    errors: dict[str, dict[str, list[str | None]]] = {}
    results: dict[str, list[str | None]] = {}
    failures: list[BaseException] = []

    for source in sources:
        tried[source] = {label: _addresses(target, hosts[source]) for label, target in targets.items()}

    def probe(source: str) -> None:
        flat = [a for label in targets for a in tried[source][label]]
        try:
            results[source] = hosts.probe(source, flat, timeout)
        except BaseException as error:  # re-raised below, in the caller's thread
            failures.append(error)

    threads = [threading.Thread(target=probe, args=(s,), daemon=True) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 30)  # probe() has its own deadline (timeout + 20 s); this only bounds the wait
    if failures:
        raise failures[0]
    missing = [s for s in sources if s not in results]
    if missing:
        raise NetnsError(f"no probe result from {', '.join(missing)}")
    for source in sources:
        flat = iter(results[source])
        errors[source] = {label: [next(flat) for _ in tried[source][label]] for label in targets}
    report = Reachability(sources, list(targets), tried, errors)
    if show:
        print(report, flush=True)
    return report


# --- leftovers of a killed test -----------------------------------------------------------------------------


def remove_stale() -> list[str]:
    """Removes namespaces and root interfaces named by this module for a process that no longer runs (a test
    killed with SIGKILL); returns what it removed. Processes still in such a namespace are killed first."""
    removed = []
    for ns in _namespaces():
        match = PREFIX_PATTERN.match(ns)
        if match and "-" in ns and not Path(f"/proc/{int(match.group(1), 36)}").exists():
            for pid in _ip("netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("netns", "del", ns, check=False)
            removed.append(f"netns {ns}")
    for link in _root_links():
        match = PREFIX_PATTERN.match(link)
        if match and re.fullmatch(r"dhn[0-9a-z]{7}(r[0-9a-z]?|m[0-9a-z]{2})[ab]", link):
            if not Path(f"/proc/{int(match.group(1), 36)}").exists():
                _ip("link", "del", "dev", link, check=False)
                removed.append(f"link {link}")
    return removed


if __name__ == "__main__":
    if sys.argv[1:] == ["--clean"]:
        print("\n".join(remove_stale()) or "nothing to remove")
    else:
        print(namespaces_available() or "network namespaces are available")
