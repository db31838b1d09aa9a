"""One key party's part of the committee's work: key generation and threshold decryption over MPyC.

    python -m crypto.keyparty generate --dir DIR --seed HEX
    python -m crypto.keyparty decrypt --job JOB_DIR --dir DIR --index I --peers HOST:PORT,HOST:PORT,...
                                      [--tls RUN_DIR] [--listen HOST:PORT]
    python -m crypto.keyparty info --dir DIR

The key-party service (`dh-keyparty serve`, keyparty/service.py) runs `decrypt` as a fresh process for every
attempt of a decryption job (MPyC parses sys.argv when it is imported and runs its own event loop), on the
party's own host, with the job's files it fetched from the portal in JOB_DIR and its key share in DIR; the
portal never runs this module and never holds a share. m such processes, one per party, talk MPyC over TCP.
Each party checks the job's blobs and their hospitals' signatures (crypto.decryption_job), recomputes their
homomorphic sum and refuses (exit 3) if its digest is not the portal's, or if its key already opened another
sum of that round or spent its smudging budget. In the MPC the parties first check every upload (well formed,
within the norm bound, sharing the head its proof ends at: crypto.wellformed); then each inputs its decryption
share (partial decryption plus smudging noise), only the sum of the shares is opened, then the exact weighted sum
of the proven heads; it writes both to the job directory (result-party{i}.npy: the sum's values, then the heads'
sum, crypto.decryption_job.result_length; report-party{i}.json with timings and bytes sent).

With --tls RUN_DIR the links between parties are TLS (MPyC's --ssl): MPyC reads RUN_DIR/.config/party_{i}.crt,
party_{i}.key and mpyc_ca.crt (laid out by crypto.partytls.write_mpyc_config: a certificate for this run issued
by the party's own identity, and a CA bundle of the committee's identities only), and every peer's certificate
must also have been issued by the identity registered for that peer's index (exit 4 otherwise).
--listen is the address this party listens on (its own entry of --peers is what the others connect to).

`decrypt_sum` below runs all m parties of a job as processes on localhost: a driver for the library's tests
and benchmarks, not the portal's way (the portal posts jobs; each party's service pulls them).

MPyC reads its options from sys.argv when mpyc.runtime is first imported and accepts prefixes of its long
options (an option named --H would read as --HELP), so this module parses its own options first, then
imports MPyC with an argument list made only of MPyC options.

Threat model: semi-honest key parties with an honest majority (MPyC's Shamir sharing, threshold
(m-1)//2); a single party, or the portal, learns nothing about an individual hospital's update. Not covered:
malicious key parties (a party can input a wrong share and spoil the result, and MPyC unpickles peers'
messages) and a colluding majority. The committee's certificates reach each party through the portal, so a
portal that swapped them could sit between the parties: operators compare fingerprints out of band
(`dh-keyparty status`). The hospitals' signing addresses also come through the portal (docs/THREAT_MODEL.md:
a portal that enrolled hospitals of its own could sign for them).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crypto import ckks, keygen, partytls, threshold, wellformed
from crypto.decryption_job import (
    KeyLedger,
    KeyPartyRefusal,
    PartyWitness,
    UploadRefused,
    check_heads,
    check_norms,
    check_projections,
    load_job,
    read_trusted_chain,
    read_trusted_hospitals,
)
from crypto.zk.poseidon import FIELD_PRIME, hash_chain, permute_columns

EXIT_REFUSED = 3
EXIT_PEER_REFUSED = 4  # a peer's TLS certificate was not issued by the identity registered for its index
# Ciphertexts per MPC round: bounds memory (MPyC arrays of Python integers) for large models.
CIPHERTEXTS_PER_ROUND = 32
EXACT_FLOAT = 1 << 53  # the result file is float64: the heads' weighted sum travels in it exactly below this
REPO_ROOT = Path(__file__).resolve().parent.parent


class ThresholdDecryptionError(RuntimeError):
    """The committee's decryption did not complete; the message says which party failed and how."""


def _mpc_runtime(mpyc_argv: list[str]):
    """MPyC's runtime, set up from `mpyc_argv` only (MPyC parses sys.argv on import)."""
    saved = sys.argv
    sys.argv = [saved[0] if saved else "keyparty", *mpyc_argv]
    try:
        if "mpyc.runtime" in sys.modules:
            import mpyc.runtime

            return mpyc.runtime.setup()
        from mpyc.runtime import mpc

        return mpc
    finally:
        sys.argv = saved


def uniform_below(bound: int, count: int) -> np.ndarray:
    """`count` uniform integers in [0, bound), bound < 2^64, from os.urandom (rejection sampling), uint64."""
    mask = np.uint64((1 << bound.bit_length()) - 1)
    kept = np.empty(0, dtype=np.uint64)
    while kept.size < count:
        draws = max(count - kept.size, 16) * 2
        words = np.frombuffer(os.urandom(8 * draws), dtype="<u8") & mask
        kept = np.concatenate([kept, words[words < np.uint64(bound)]])
    return kept[:count]


def _install_batched_share_randomness() -> None:
    """Make MPyC draw the random coefficients of Shamir input sharings in one batch.

    MPyC's thresha.np_random_split calls secrets.randbelow once per coefficient, about half of the
    decryption's MPC time; this draws the same distribution (uniform mod p, from the OS's CSPRNG) for a
    whole array at once and evaluates the polynomials in uint64 (Horner: a value below p < 2^60 times a party
    number up to 15, plus one more, stays below 2^64), for prime fields below 2^60, and leaves the rest of the
    computation to MPyC.
    """
    from mpyc import thresha

    original = getattr(thresha.np_random_split, "original", thresha.np_random_split)

    def np_random_split(field, s, t, m):
        order = field.order
        if field.ext_deg != 1 or order >= 1 << 60 or m > 15:
            return original(field, s, t, m)
        values = (s.value if isinstance(s, field.array) else s).reshape(-1).astype(np.uint64)
        coefficients = uniform_below(order, t * values.size).reshape(t, values.size)
        modulus = np.uint64(order)
        shares = np.empty((m, values.size), dtype=np.uint64)
        for party in range(1, m + 1):
            point = np.uint64(party)
            evaluated = np.zeros(values.size, dtype=np.uint64)
            for coefficient in coefficients[::-1]:
                evaluated = (evaluated + coefficient) % modulus * point % modulus
            shares[party - 1] = (evaluated + values) % modulus
        return shares.astype(object)

    np_random_split.original = original
    thresha.np_random_split = np_random_split


def _pin_peer_certificates(issuers: Sequence[str]) -> None:
    """Refuse a TLS peer whose certificate is not "MPyC party {j}" issued by the identity registered for j.

    MPyC's --ssl accepts any certificate issued by a CA of the bundle and takes a connecting peer's index from
    its first message, so one member could speak for another. The check runs once the peer's index is known:
    for a server, the connecting client's first bytes; for a client, the index it connected to. A mismatch
    ends this party's attempt at once (exit EXIT_PEER_REFUSED) with the reason on stderr.
    """
    from mpyc import asyncoro

    exchanger = asyncoro.MessageExchanger
    if getattr(exchanger, "_dh_pinned", False):
        return
    original_made, original_received = exchanger.connection_made, exchanger.data_received

    def field(name, key: str) -> str:
        for rdn in name or ():
            for attribute, value in rdn:
                if attribute == key:
                    return value
        return ""

    def check(transport, peer: int) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        certificate = ssl_object.getpeercert() if ssl_object is not None else None
        subject = field(certificate.get("subject"), "commonName") if certificate else ""
        issuer = field(certificate.get("issuer"), "commonName") if certificate else ""
        if 0 <= peer < len(issuers) and subject == partytls.mpyc_name(peer) and issuer == issuers[peer]:
            return
        expected = issuers[peer] if 0 <= peer < len(issuers) else "(no such party)"
        print(
            f"keyparty: refused peer {peer}: its certificate is {subject!r} issued by {issuer!r}, "
            f"not {partytls.mpyc_name(peer)!r} issued by {expected!r}",
            file=sys.stderr,
            flush=True,
        )
        os._exit(EXIT_PEER_REFUSED)

    def connection_made(self, transport):
        if self.peer_pid is not None:  # this party connected to peer_pid
            check(transport, self.peer_pid)
        original_made(self, transport)

    def data_received(self, data):
        if self.peer_pid is None and len(self.bytes) + len(data) >= 2:  # the client's index, first 2 bytes
            check(self.transport, int.from_bytes((bytes(self.bytes) + bytes(data))[:2], "little"))
        original_received(self, data)

    exchanger.connection_made = connection_made
    exchanger.data_received = data_received
    exchanger._dh_pinned = True


def _listen_on(mpc, host: str) -> None:
    """MPyC listens on every interface at its own port; bind only `host` instead (empty: every interface)."""
    if not host or host in ("0.0.0.0", "*"):
        return
    loop = mpc._loop
    create_server = loop.create_server

    async def create_server_on_host(*args, **kwargs):
        kwargs.setdefault("host", host)
        return await create_server(*args, **kwargs)

    loop.create_server = create_server_on_host


@dataclass(frozen=True)
class SquaredNorms:
    """Per upload, this party's integer shares of a vector (rows, columns) whose squared L2 norm the parties
    compare with `threshold` over secure integers of `bits` bits, opening only whether it is within."""

    shares: np.ndarray
    threshold: int
    bits: int


@dataclass(frozen=True)
class SharedHeads:
    """Per upload, this party's share of a proven head, (uploads, size) integers mod FIELD_PRIME (size 0
    without proofs), and the uploads' sample counts n_h, which weight the heads' opened sum."""

    shares: np.ndarray
    weights: tuple[int, ...]


@dataclass(frozen=True)
class OpenedSums:
    first: np.ndarray
    second: np.ndarray
    weighted_heads: list[int]  # sum_h n_h W_h, signed
    bytes_sent: int


def _secure_power5(a):
    square = a * a
    return square * square * a


def open_sums(
    first: np.ndarray,
    norms: SquaredNorms,
    heads: SharedHeads,
    then: Callable[[np.ndarray, list[bool], list[int]], np.ndarray],
    index: int,
    peers: Sequence[str],
    tls_dir: Path | None = None,
    listen: str = "",
) -> OpenedSums:
    """One MPC session: the sum over the parties of `first` (projections: each party sends its own, as they show
    nothing beyond the sum) is opened, then, per upload of `norms`, whether the
    squared norm of the sum of the parties' shares is within its threshold, and, per upload of `heads`, Poseidon
    of the sum of the parties' shares (the head's digest: the head itself stays shared); then the sum of
    `then(opened first, within, head digests)`, and last the heads' weighted sum. `first` and `then`'s result
    are arrays of residues of shape (rows, primes, columns). `then` may raise KeyPartyRefusal (every party
    computes the same from the same opened values, so all stop there together).

    peers: every party's host:port in index order (the others connect to peers[index]). tls_dir: MPyC's TLS
    files in tls_dir/.config (crypto.partytls); this process then works in tls_dir. listen: host:port this
    party listens on instead of peers[index] (same port, or the one a port mapping forwards to it)."""
    addresses = list(peers)
    listen_host = ""
    if listen:
        listen_host, _, listen_port = listen.rpartition(":")
        addresses[index] = f"{listen_host or 'localhost'}:{listen_port}"
    mpyc_argv = ["-I", str(index), "--no-log"]
    for address in addresses:
        mpyc_argv += ["-P", address]
    if tls_dir is not None:
        issuers = partytls.peer_issuers(tls_dir)
        if len(issuers) != len(peers):
            raise KeyPartyRefusal(f"the TLS set-up names {len(issuers)} parties, the job {len(peers)}")
        os.chdir(tls_dir)  # MPyC reads .config/party_{i}.crt, .key and mpyc_ca.crt from here
        mpyc_argv.append("--ssl")
        _pin_peer_certificates(issuers)
    mpc = _mpc_runtime(mpyc_argv)
    _listen_on(mpc, listen_host)
    _install_batched_share_randomness()
    primes = ckks.data_primes()

    async def open_sum(shares: np.ndarray) -> np.ndarray:
        opened = np.empty_like(shares)
        for j, prime in enumerate(primes.tolist()):
            field = mpc.SecFld(prime)
            for start in range(0, shares.shape[0], CIPHERTEXTS_PER_ROUND):
                block = shares[start : start + CIPHERTEXTS_PER_ROUND, j]
                # MPyC arrays of a 60-bit field hold Python integers and must be writable.
                inputs = mpc.input(field.array(block.reshape(-1).astype(object)))
                total = inputs[0]
                for other in inputs[1:]:
                    total = total + other
                result = await mpc.output(total)
                opened[start : start + block.shape[0], j] = np.asarray(
                    result.value.astype(np.uint64)
                ).reshape(block.shape)
        return opened

    async def add_projections(shares: np.ndarray) -> np.ndarray:
        # Every party sends its projections as they are: each share of u but the last is uniform mod Q (from
        # its seed), and so are its projections, so the parts show nothing beyond their sum, which is opened
        # anyway (docs/THREAT_MODEL.md, "Well-formed ciphertexts", step 3).
        moduli = primes[None, :, None]
        total = np.zeros_like(shares)
        for peer, part in enumerate(await mpc.transfer(shares)):
            if not isinstance(part, np.ndarray) or part.shape != shares.shape or part.dtype != shares.dtype:
                raise KeyPartyRefusal(f"key party {peer} sent projections of another shape")
            total = (total + part % moduli) % moduli
        return total

    async def within_threshold() -> list[bool]:
        # Only the comparisons are opened: an honest hospital's squared norm never leaves the MPC.
        secint = mpc.SecInt(norms.bits)
        squares = []
        for share in norms.shares:
            inputs = mpc.input(secint.array(share.reshape(-1).astype(object)))
            total = inputs[0]
            for other in inputs[1:]:
                total = total + other
            squares.append(total @ total)
        within = mpc.np_fromlist(squares) <= np.full(len(squares), norms.threshold, dtype=object)
        return [bool(value) for value in await mpc.output(within)]

    size = heads.shares.shape[1]
    head_field = mpc.SecFld(FIELD_PRIME)

    def shared_heads():
        # (size, uploads): row i holds the i-th value of every upload's head, so one Poseidon hashes them all.
        inputs = mpc.input(head_field.array(np.ascontiguousarray(heads.shares.T)))
        total = inputs[0]
        for other in inputs[1:]:
            total = total + other
        return total

    def head_digests(total):
        # Every upload's head is a column of `total`: one pass of Poseidon's rounds hashes them all.
        return mpc.output(
            hash_chain(
                total,
                lambda rows: permute_columns(rows, _secure_power5, mpc.np_vstack),
                lambda digest, rows: mpc.np_vstack([digest[None, :], rows]),
            )
        )

    async def weighted_heads(total) -> list[int]:
        weighted = await mpc.output(total @ np.array(heads.weights, dtype=object))
        half = FIELD_PRIME // 2
        return [v if v <= half else v - FIELD_PRIME for v in (int(x) for x in weighted.value)]

    async def protocol() -> OpenedSums:
        await mpc.start()
        heads_total = shared_heads() if size else None
        pending_digests = head_digests(heads_total) if size else None
        opened_first = await add_projections(first)
        within = await within_threshold()
        digests = [int(value) for value in (await pending_digests).value] if size else []
        try:
            second = then(opened_first, within, digests)
        except KeyPartyRefusal:
            await mpc.shutdown()
            raise
        opened_second = await open_sum(second)
        opened_heads = await weighted_heads(heads_total) if size else []
        sent = sum(peer.protocol.nbytes_sent for peer in mpc.parties if peer.pid != mpc.pid)
        await mpc.shutdown()
        return OpenedSums(opened_first, opened_second, opened_heads, sent)

    return mpc.run(protocol())


def run_decryption(
    job_dir: Path,
    party_dir: Path,
    index: int,
    peers: Sequence[str],
    tls_dir: Path | None = None,
    listen: str = "",
    trusted_hospitals: Path | None = None,
    trusted_chain: Path | None = None,
) -> dict:
    """One party's whole part of a job; writes result-party{index}.npy and report-party{index}.json. With
    `trusted_hospitals` (crypto.decryption_job.read_trusted_hospitals), only those hospitals' uploads open;
    with `trusted_chain` too (read_trusted_chain), only uploads their hospitals recorded on that chain."""
    job_dir, party_dir = Path(job_dir).resolve(), Path(party_dir).resolve()  # open_sums may change directory
    started = time.perf_counter()
    trusted = read_trusted_hospitals(trusted_hospitals) if trusted_hospitals is not None else None
    chain = None
    if trusted_chain is not None:
        if trusted_hospitals is None:
            raise KeyPartyRefusal("a trusted chain needs the trusted hospitals too: their chain addresses")
        chain = read_trusted_chain(trusted_chain, trusted_hospitals)
    try:
        secret_share = keygen.load_secret_share(party_dir)
        public_key = ckks.load_public_context((job_dir / "public_context.bin").read_bytes()).public_key
        witness = PartyWitness(
            index,
            len(peers),
            wellformed.load_witness_key(party_dir),
            public_key[:, : len(ckks.data_primes())],
        )
    except (keygen.KeyGenError, wellformed.WitnessError, OSError, ValueError) as exc:
        raise KeyPartyRefusal(str(exc)) from exc
    job = load_job(job_dir, witness, trusted, chain)
    summed = job.total
    ledger = KeyLedger(party_dir)
    ledger.check_round(job)
    checked = time.perf_counter()
    spent: list[float] = []
    moments: list[float] = []

    def decryption_share(
        opened_projections: np.ndarray, within: list[bool], digests: list[int]
    ) -> np.ndarray:
        # Only once every upload is shown well formed, within the norm bound and sharing the head it proved
        # does this party's share of the key enter the MPC.
        moments.append(time.perf_counter())
        proven = check_projections(job, opened_projections.reshape(job.projection_shares.shape))
        check_norms(job, within)
        if job.head_commitments:
            check_heads(job, digests)
        spent.append(ledger.charge(job, threshold.decryption_leakage(proven, len(peers))))
        share = threshold.decryption_share(
            secret_share, summed.ciphertexts, index, len(peers), summed.length, job.dp_noise_std
        )
        moments.append(time.perf_counter())
        return share

    projections = job.projection_shares.reshape(-1, *job.projection_shares.shape[-2:])
    norms = SquaredNorms(job.norm_shares, job.norm_threshold, wellformed.norm_check_bits(summed.count))
    heads = SharedHeads(job.head_shares, tuple(s.num_samples for s in job.submissions))
    opened = open_sums(
        projections, norms, heads, decryption_share, index, peers, tls_dir=tls_dir, listen=listen
    )
    mpc_done = time.perf_counter()
    leakage = spent[0]
    # The job's result (crypto.decryption_job.result_length): the opened sum, then the heads' weighted sum.
    if any(abs(value) >= EXACT_FLOAT for value in opened.weighted_heads):
        raise KeyPartyRefusal("the proven heads' weighted sum is beyond float64's exact integers (2^53)")
    values = np.concatenate(
        [threshold.decode(opened.second, summed.length), np.array(opened.weighted_heads, dtype=np.float64)]
    )
    result_path = job_dir / f"result-party{index}.npy"
    partial_path = result_path.with_suffix(".partial.npy")
    np.save(partial_path, values)
    os.replace(partial_path, result_path)
    report = {
        "party": index,
        "parties": len(peers),
        "ciphertexts": summed.count,
        "hospitals": job.hospitals,
        "leakage": leakage,
        "check_and_sum_s": checked - started,  # signatures, the sum and the projection shares
        "projection_s": job.projection_seconds,
        "projection_mpc_s": moments[0]
        - checked,  # opening the projections, comparing the norms, hashing heads
        "share_s": moments[1] - moments[0],
        "mpc_s": mpc_done - moments[1],
        "total_s": time.perf_counter() - started,
        "mpc_bytes_sent": opened.bytes_sent,
        "tls": tls_dir is not None,
        "chain_checked": job.chain_checked,
        "peak_rss_bytes": peak_rss_bytes(),
    }
    (job_dir / f"report-party{index}.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def refused_upload_file(index: int) -> str:
    """Where party `index` notes, in the job folder, the upload it refused as not well formed."""
    return f"refused-upload-party{index}.json"


def peak_rss_bytes() -> int:
    """This process's peak resident memory. On Linux from VmHWM: ru_maxrss would count the RSS of the
    parent at fork time (it survives exec), which is the portal's, not this party's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def free_ports(count: int) -> list[int]:
    """Ports free on localhost now (held open together so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def decrypt_sum(
    job_dir: Path | str,
    party_dirs: Sequence[Path | str],
    ports: Sequence[int] | None = None,
    timeout: float = 600.0,
    tls_dirs: Sequence[Path | str] | None = None,
    trusted_hospitals: Path | None = None,
    trusted_chain: Path | None = None,
) -> np.ndarray:
    """Run the m key parties of a job as separate processes on localhost; returns the opened sum. With
    `tls_dirs`, party i runs over TLS with its files in tls_dirs[i] (crypto.partytls.write_mpyc_config).

    `trusted_hospitals` and `trusted_chain` go to every party (run_decryption).

    Raises ThresholdDecryptionError naming the party that failed (with the end of its log) or the parties
    still running at the timeout; the other parties are then stopped.
    """
    job_dir = Path(job_dir)
    ports = list(ports) if ports is not None else free_ports(len(party_dirs))
    if len(ports) != len(party_dirs) or len(party_dirs) < 2:
        raise ValueError("need at least 2 key parties and one port per party")
    peers = ",".join(f"127.0.0.1:{port}" for port in ports)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        # The parties share this machine: one BLAS thread each, not one per core each.
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
    )
    for stale in job_dir.glob("result-party*.npy"):
        stale.unlink()
    processes, logs = [], []
    try:
        for index, party_dir in enumerate(party_dirs):
            log_path = job_dir / f"party{index}.log"
            logs.append(log_path)
            command = [
                sys.executable,
                "-m",
                "crypto.keyparty",
                "decrypt",
                "--job",
                str(job_dir),
                "--dir",
                str(party_dir),
                "--index",
                str(index),
                "--peers",
                peers,
            ]
            if tls_dirs is not None:
                command += ["--tls", str(Path(tls_dirs[index]).resolve())]
            if trusted_hospitals is not None:
                command += ["--trusted-hospitals", str(Path(trusted_hospitals).resolve())]
            if trusted_chain is not None:
                command += ["--trusted-chain", str(Path(trusted_chain).resolve())]
            with open(log_path, "wb") as log:
                processes.append(
                    subprocess.Popen(
                        command, stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL
                    )
                )
        deadline = time.monotonic() + timeout
        while True:
            codes = [process.poll() for process in processes]
            failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                first = failed[0]
                raise ThresholdDecryptionError(
                    f"key party {first} failed (exit {codes[first]}): {_log_tail(logs[first])}"
                )
            if all(code == 0 for code in codes):
                break
            if time.monotonic() > deadline:
                running = [i for i, code in enumerate(codes) if code is None]
                raise ThresholdDecryptionError(
                    f"key parties {running} still running after {timeout:.0f} s; stopped"
                )
            time.sleep(0.05)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    results = [np.load(job_dir / f"result-party{i}.npy") for i in range(len(party_dirs))]
    if any(not np.array_equal(results[0], other) for other in results[1:]):
        raise ThresholdDecryptionError("key parties opened different results")
    return results[0]


def _log_tail(path: Path, lines: int = 5) -> str:
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return " | ".join(text[-lines:]) or "(no output)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keyparty", description="A key party of the DecentraHealth committee."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser(
        "generate", help="make this party's key share, contribution and commitment"
    )
    generate.add_argument("--dir", required=True, type=Path, help="this party's private directory")
    generate.add_argument("--seed", required=True, help="the public seed of the common polynomial, hex")
    decrypt = commands.add_parser("decrypt", help="run this party's part of a threshold decryption job")
    decrypt.add_argument("--job", required=True, type=Path, help="the job directory the portal wrote")
    decrypt.add_argument("--dir", required=True, type=Path, help="this party's private directory")
    decrypt.add_argument("--index", required=True, type=int, help="this party's index, 0..m-1")
    decrypt.add_argument(
        "--peers", required=True, help="comma-separated host:port of all m parties, in order"
    )
    decrypt.add_argument(
        "--tls",
        type=Path,
        default=None,
        help="folder holding MPyC's TLS files in .config/ (crypto.partytls): TLS between the parties",
    )
    decrypt.add_argument(
        "--listen", default="", help="host:port to listen on (default: this party's entry of --peers)"
    )
    decrypt.add_argument(
        "--trusted-hospitals",
        type=Path,
        default=None,
        help='JSON {"hospitals": {address: name}}: open only uploads signed by these hospitals\' keys',
    )
    decrypt.add_argument(
        "--trusted-chain",
        type=Path,
        default=None,
        help='JSON {"rpc_url", "chain_id", "registries": {address: code hash}}: open only uploads recorded in '
        "these registries by the trusted hospitals' chain addresses (--trusted-hospitals' chain_addresses)",
    )
    info = commands.add_parser("info", help="show this party's public files (never the share)")
    info.add_argument("--dir", required=True, type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (the key-party service runs `decrypt` as its own process per attempt)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "generate":
            try:
                seed = bytes.fromhex(args.seed)
            except ValueError:
                print("keyparty: --seed must be hex", file=sys.stderr)
                return 2
            digest = keygen.generate_share(args.dir, seed)
            print(
                json.dumps({"commitment": digest, "contribution": str(args.dir / keygen.CONTRIBUTION_FILE)})
            )
            return 0
        if args.command == "info":
            share = args.dir / keygen.SECRET_SHARE_FILE
            commitment_file = args.dir / keygen.COMMITMENT_FILE
            info = {
                "has_share": share.exists(),
                "share_mode": oct(share.stat().st_mode & 0o777) if share.exists() else None,
                **(json.loads(commitment_file.read_text()) if commitment_file.exists() else {}),
            }
            print(json.dumps(info))
            return 0
        peers = [peer.strip() for peer in args.peers.split(",") if peer.strip()]
        if not 0 <= args.index < len(peers) or len(peers) < 2:
            print(f"keyparty: --index {args.index} must name one of at least 2 --peers", file=sys.stderr)
            return 2
        if args.listen and not args.listen.rpartition(":")[2].isdigit():
            print(f"keyparty: --listen {args.listen!r} must be host:port", file=sys.stderr)
            return 2
        report = run_decryption(
            args.job,
            args.dir,
            args.index,
            peers,
            tls_dir=args.tls.resolve() if args.tls else None,
            listen=args.listen,
            trusted_hospitals=args.trusted_hospitals.resolve() if args.trusted_hospitals else None,
            trusted_chain=args.trusted_chain.resolve() if args.trusted_chain else None,
        )
        print(json.dumps(report))
        return 0
    except (KeyPartyRefusal, keygen.KeyGenError, partytls.CertificateError) as exc:
        print(f"keyparty: refused: {exc}", file=sys.stderr)
        if isinstance(exc, UploadRefused):  # which upload, for the service to tell the portal
            (args.job / refused_upload_file(args.index)).write_text(json.dumps({"upload": exc.upload}) + "\n")
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
