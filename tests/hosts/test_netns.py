"""The namespace harness itself (tests/hosts/netns.py), against real namespaces, veths and sockets.

Small TCP servers stand in for the real ones: in the root namespace one bound to 127.0.0.1 (as PostgreSQL,
Redis and the chain's RPC are) and one bound to 0.0.0.0 (as the portal's HTTP is); one in hospital h1's
namespace; one in each of key parties k1 and k2. `pytest -s` shows the reachability table.
"""

from __future__ import annotations

import ipaddress
import select
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO_ROOT
from tests.hosts import netns
from tests.hosts.netns import Hosts, leftovers, party_service, reachability, root_service, start_server

HOSPITALS = ["h1", "h2", "h3"]
KEY_PARTIES = ["k1", "k2", "k3"]


def namespace_routes(hosts: Hosts, name: str) -> list[str]:
    done = hosts.run(None, [netns.ip_binary() or "ip", "-n", hosts[name].netns, "-4", "route", "show"], 10)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.hosts
@pytest.mark.usefixtures("needs_netns")
@pytest.mark.timeout(120)
def test_who_reaches_whom(tmp_path) -> None:
    started = time.monotonic()
    forwarding = open("/proc/sys/net/ipv4/ip_forward").read().strip()
    with Hosts(HOSPITALS + KEY_PARTIES, mesh=KEY_PARTIES, base_dir=tmp_path) as hosts:
        prefix = hosts.prefix
        created_s = time.monotonic() - started
        assert leftovers(prefix), "the namespaces and links are there while the hosts are"
        for host in hosts:
            assert host.data_dir.is_dir() and host.share_dir.is_dir() and host.key_dir.is_dir()
            assert len(host.link) <= 15 and len(host.root_link) <= 15
            assert ipaddress.ip_address(host.address) in netns.POOL
            # Only the connected /30s: no default route, nothing through the root namespace.
            routes = namespace_routes(hosts, host.name)
            assert len(routes) == 1 + len(host.mesh), routes
            assert all("/30 " in r and "proto kernel scope link" in r and "via" not in r for r in routes)
        assert set(hosts["k1"].mesh) == {"k2", "k3"} and not hosts["h1"].mesh
        assert hosts.address_of("k2", "k1") == hosts["k2"].mesh["k1"]
        assert hosts.address_of("h1") == hosts["h1"].address

        loopback_port = start_server(hosts, None, "127.0.0.1")  # PostgreSQL, Redis, the chain's RPC
        portal_port = start_server(hosts, None, "0.0.0.0")  # the portal's HTTP
        h1_port = start_server(hosts, "h1", "0.0.0.0")
        k1_port = start_server(hosts, "k1", "0.0.0.0")
        k2_port = start_server(hosts, "k2", "0.0.0.0")

        # The servers answer where they should, so an unreachable one below is the network's doing.
        assert hosts.can_connect(None, "127.0.0.1", loopback_port)
        assert hosts.can_connect(None, hosts["h1"].address, h1_port)
        assert hosts.can_connect("h1", "127.0.0.1", h1_port)
        assert hosts.can_connect("k1", hosts["k1"].mesh["k2"], k1_port)

        table = reachability(
            hosts,
            {
                "portal (0.0.0.0)": root_service(hosts, portal_port),
                "db (127.0.0.1)": root_service(hosts, loopback_port),
                "h1 server": party_service(hosts, "h1", h1_port),
                "k1 server": party_service(hosts, "k1", k1_port),
                "k2 server": party_service(hosts, "k2", k2_port),
            },
        )
        print(f"(net.ipv4.ip_forward = {forwarding} in the root namespace; set-up {created_s:.2f} s)")

        for host in hosts:
            # Every party reaches the portal at the root end of its own link, and nowhere else.
            assert table.reached(host.name, "portal (0.0.0.0)") == [(host.root_address, portal_port)]
            # Nobody reaches what listens on the root's 127.0.0.1, at any root address it knows.
            assert table.ok(host.name, "db (127.0.0.1)") is False
            assert len(table.tried[host.name]["db (127.0.0.1)"]) >= 3
        for source in HOSPITALS[1:] + KEY_PARTIES:
            assert table.ok(source, "h1 server") is False, f"{source} reached hospital h1"
        for source in HOSPITALS:
            assert table.ok(source, "k1 server") is False and table.ok(source, "k2 server") is False
        # No route at all, not a refused connection: the design, not a firewall, keeps hospitals apart.
        assert all("Network is unreachable" in str(e) for e in table.errors["h2"]["h1 server"])
        assert all("Network is unreachable" in str(e) for e in table.errors["h1"]["k1 server"])
        # Key parties reach one another over the mesh, at the address of the link between the two only.
        for source, target, port in [("k2", "k1", k1_port), ("k3", "k1", k1_port), ("k1", "k2", k2_port),
                                     ("k3", "k2", k2_port)]:  # fmt: skip
            assert table.reached(source, f"{target} server") == [(hosts.address_of(target, source), port)]
        assert table.ok("k1", "k1 server") is None
        assert not hosts.can_connect("h2", hosts["h1"].address, h1_port, timeout=1.0)
        assert not hosts.can_connect("h1", hosts["k1"].mesh["k2"], k1_port, timeout=1.0)
        processes = [p for p, _ in hosts._processes]

    assert leftovers(prefix) == [], "the namespaces and veths are gone"
    assert all(p.returncode is not None for p in processes), "the servers are stopped"
    elapsed = time.monotonic() - started
    print(f"(hosts up, probed and torn down in {elapsed:.2f} s)")
    assert elapsed < 30


@pytest.mark.hosts
@pytest.mark.usefixtures("needs_netns")
@pytest.mark.timeout(60)
def test_teardown_after_an_exception_stops_every_process() -> None:
    ignores_term = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready')"
    with pytest.raises(RuntimeError, match="inside the block"):
        with Hosts(["a", "b"], mesh=["a", "b"], term_timeout=1.0) as hosts:
            prefix = hosts.prefix
            stubborn = hosts.popen("a", [sys.executable, "-u", "-c", ignores_term + "; time.sleep(60)"],
                                   stdout=subprocess.PIPE, text=True)  # fmt: skip
            assert stubborn.stdout is not None and stubborn.stdout.readline() == "ready\n"
            sleeper = hosts.popen("b", ["sleep", "60"])
            # Not started by popen: a process left in the namespace is found there and stopped too.
            hosts.run("b", ["sh", "-c", "sleep 60 >/dev/null 2>&1 &"], timeout=10)
            assert len(hosts._namespace_pids()) == 3
            raise RuntimeError("inside the block")
    assert leftovers(prefix) == []
    assert stubborn.returncode == -9 and sleeper.returncode is not None
    hosts.close()  # again: nothing to do, no error


# Ctrl-C, twice: the first leaves the block, the second lands in teardown's wait for a process that ignores
# SIGTERM. Teardown ends all the same, then the KeyboardInterrupt goes on.
CTRL_C_CHILD = """
import signal, sys, time
from tests.hosts.netns import Hosts
signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored (`cmd &`)
with Hosts(["a", "b"], term_timeout=2.0) as hosts:
    ignores_term = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready')"
    stubborn = hosts.popen("a", [sys.executable, "-u", "-c", ignores_term + "; time.sleep(60)"],
                           stdout=subprocess.PIPE, text=True)
    stubborn.stdout.readline()
    try:
        print(hosts.prefix, flush=True)
        time.sleep(60)
    finally:
        print("tearing down", flush=True)
"""


@pytest.mark.hosts
@pytest.mark.usefixtures("needs_netns")
@pytest.mark.timeout(60)
def test_ctrl_c_during_teardown_still_tears_down() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import subprocess\n" + CTRL_C_CHILD], cwd=REPO_ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    prefix = ""
    try:
        assert child.stdout is not None and child.stderr is not None
        ready, _, _ = select.select([child.stdout], [], [], 20)
        prefix = child.stdout.readline().strip() if ready else ""
        assert prefix.startswith("dhn"), child.stderr.read() if child.poll() is not None else "no prefix"
        assert leftovers(prefix)
        child.send_signal(signal.SIGINT)
        ready, _, _ = select.select([child.stdout], [], [], 10)
        assert ready and child.stdout.readline() == "tearing down\n"
        time.sleep(0.5)  # inside teardown's 2 s wait for the process that ignores SIGTERM
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=20)
        assert child.returncode != 0 and "KeyboardInterrupt" in stderr, stderr
        assert leftovers(prefix) == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        if prefix and leftovers(prefix):
            netns.remove_stale()  # the child is gone: what it left has a dead pid in its name


@pytest.mark.hosts
@pytest.mark.usefixtures("needs_netns")
@pytest.mark.timeout(60)
def test_a_creation_interrupted_half_way_leaves_nothing(monkeypatch) -> None:
    configure = Hosts._configure
    calls = []

    def interrupted(ns, interface, cidr):
        calls.append(interface)
        if len(calls) == 5:  # the third host's root end: two namespaces and a half
            raise KeyboardInterrupt
        configure(ns, interface, cidr)

    monkeypatch.setattr(Hosts, "_configure", staticmethod(interrupted))
    hosts = Hosts(["x", "y", "z"], mesh=["x", "y", "z"])
    with pytest.raises(KeyboardInterrupt):
        with hosts:
            pytest.fail("not reached")
    assert len(calls) == 5
    assert leftovers(hosts.prefix) == []


@pytest.mark.unit
def test_subnets_avoid_every_network_taken() -> None:
    taken = [ipaddress.ip_network("10.213.0.0/24"), ipaddress.ip_network("10.213.1.4/30")]
    chosen = netns._pick_subnets(3, taken, start=0)
    assert [str(s) for s in chosen] == ["10.213.1.0/30", "10.213.1.8/30", "10.213.1.12/30"]
    wrapped = netns._pick_subnets(2, [], start=16383)
    assert [str(s) for s in wrapped] == ["10.213.255.252/30", "10.213.0.0/30"]
    with pytest.raises(netns.NetnsError):
        netns._pick_subnets(1, [ipaddress.ip_network("10.0.0.0/8")], start=0)


@pytest.mark.unit
def test_names_fit_an_interface() -> None:
    hosts = Hosts([f"p{i}" for i in range(netns.MAX_HOSTS)], mesh=["p0", "p35"])
    assert len(hosts.prefix) == 10 and len(hosts.prefix + "m0za") <= 15
    with pytest.raises(ValueError):
        Hosts(["h1", "h1"])
    with pytest.raises(ValueError):
        Hosts(["h1"], mesh=["k1"])
    with pytest.raises(ValueError):
        Hosts(["H 1"])
