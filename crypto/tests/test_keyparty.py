"""Threshold decryption by three key parties as separate processes talking MPyC over TCP on localhost."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from crypto import ckks, keyparty, partytls
from crypto.tests.signed_jobs import LocalCommittee, write_signed_job

pytestmark = [pytest.mark.mpc]

LENGTH = 20_000  # three ciphertexts


@pytest.fixture(scope="module")
def committee(tmp_path_factory) -> LocalCommittee:
    return LocalCommittee.make(tmp_path_factory.mktemp("committee"), parties=3)


@pytest.fixture(scope="module")
def round_updates(committee):
    """Four hospitals: updates delta_h, sample counts n_h, and blobs of n_h * delta_h."""
    rng = np.random.default_rng(3)
    deltas = [rng.normal(size=LENGTH) * 0.05 for _ in range(4)]
    counts = [137, 512, 60, 1024]
    blobs = [committee.encrypt(n * delta) for n, delta in zip(counts, deltas, strict=True)]
    return deltas, counts, blobs


def test_three_parties_decrypt_the_weighted_sum(tmp_path, committee, round_updates) -> None:
    public_context, party_dirs = committee.public_context, committee.party_dirs
    deltas, counts, blobs = round_updates
    job = write_signed_job(tmp_path / "job", public_context, blobs, LENGTH)

    opened = keyparty.decrypt_sum(job, party_dirs, timeout=120)

    expected = sum(n * delta for n, delta in zip(counts, deltas, strict=True))
    assert opened.shape == (LENGTH,)
    assert np.abs(opened - expected).max() < 2.0**-13  # half the 2^-12 grid the updates are on
    for index in range(3):
        report = json.loads((job / f"report-party{index}.json").read_text())
        assert report["ciphertexts"] == 3 and report["mpc_bytes_sent"] > 0


def test_party_refuses_when_the_portal_sum_differs(tmp_path, committee, round_updates) -> None:
    public_context, party_dirs = committee.public_context, committee.party_dirs
    _, _, blobs = round_updates
    # The portal claims the digest of a sum that leaves one hospital out (or of anything else).
    claimed = ckks.blob_digest(ckks.sum_blobs(public_context, blobs[:3]))
    job = write_signed_job(tmp_path / "job", public_context, blobs, LENGTH, sum_digest=claimed)
    with pytest.raises(keyparty.ThresholdDecryptionError, match=r"key party \d failed \(exit 3\).*differs"):
        keyparty.decrypt_sum(job, party_dirs, timeout=60)
    assert not list(job.glob("result-party*.npy"))


def test_party_refuses_a_blob_under_another_key(tmp_path, committee, round_updates) -> None:
    public_context, party_dirs = committee.public_context, committee.party_dirs
    _, _, blobs = round_updates
    foreign = LocalCommittee.make(tmp_path / "other", parties=3).encrypt(np.ones(LENGTH))
    job = write_signed_job(
        tmp_path / "job", public_context, [*blobs[:2], foreign], LENGTH, sum_digest="0" * 64
    )
    with pytest.raises(
        keyparty.ThresholdDecryptionError, match="blob-0002.bin refused: encrypted under another key"
    ):
        keyparty.decrypt_sum(job, party_dirs, timeout=60)


def test_cli_generate_info_and_refusal(tmp_path) -> None:
    """The command line as an operator runs it (a real process), and refusal of a party without a share."""
    party_dir = tmp_path / "party"
    run = [sys.executable, "-m", "crypto.keyparty"]
    generated = subprocess.run(
        [*run, "generate", "--dir", str(party_dir), "--seed", "ab" * 32],
        capture_output=True,
        text=True,
        check=True,
        cwd=keyparty.REPO_ROOT,
    )
    commitment = json.loads(generated.stdout)["commitment"]
    info = subprocess.run(
        [*run, "info", "--dir", str(party_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=keyparty.REPO_ROOT,
    )
    assert json.loads(info.stdout) == {
        "has_share": True,
        "share_mode": "0o600",
        "seed": "ab" * 32,
        "commitment": commitment,
    }

    empty = tmp_path / "empty"
    empty.mkdir()
    small = LocalCommittee.make(tmp_path / "committee", parties=2)
    public_context = small.public_context
    blobs = [small.encrypt(np.ones(5)) for _ in range(2)]
    job = write_signed_job(tmp_path / "job", public_context, blobs, 5)
    assert (
        keyparty.main(
            [
                "decrypt",
                "--job",
                str(job),
                "--dir",
                str(empty),
                "--index",
                "0",
                "--peers",
                "127.0.0.1:1,127.0.0.1:2",
            ]
        )
        == keyparty.EXIT_REFUSED
    )


def test_timeout_names_the_parties_still_running(tmp_path, committee, round_updates) -> None:
    public_context, party_dirs = committee.public_context, committee.party_dirs
    _, _, blobs = round_updates
    job = write_signed_job(tmp_path / "job", public_context, blobs[:2], LENGTH)
    with pytest.raises(keyparty.ThresholdDecryptionError, match=r"key parties \[0, 1, 2\] still running"):
        keyparty.decrypt_sum(job, party_dirs, timeout=0.2)


def test_party_refuses_a_blob_listed_twice(tmp_path, committee, round_updates) -> None:
    public_context, party_dirs = committee.public_context, committee.party_dirs
    _, _, blobs = round_updates
    doubled = [blobs[0], blobs[0]]
    job = write_signed_job(tmp_path / "job", public_context, doubled, LENGTH)
    with pytest.raises(keyparty.ThresholdDecryptionError, match="same ciphertext blob twice"):
        keyparty.decrypt_sum(job, party_dirs, timeout=60)


def test_batched_share_randomness_is_uniform_below_the_prime() -> None:
    prime = int(ckks.data_primes()[0])
    values = keyparty.uniform_below(prime, 100_000)
    assert values.dtype == np.uint64 and values.size == 100_000
    assert int(values.max()) < prime
    assert abs(float(values.mean()) / prime - 0.5) < 0.01
    small = keyparty.uniform_below(5, 10_000)
    assert set(np.unique(small).tolist()) == {0, 1, 2, 3, 4}


def tls_runs(base, identities, indices_of_issuers=None):
    """MPyC's TLS files for each party (crypto.partytls); party i's run certificate is issued by identity
    indices_of_issuers[i] (default: its own)."""
    certificates = [cert.decode() for _key, cert in identities]
    runs = []
    for index in range(len(identities)):
        issuer = (indices_of_issuers or range(len(identities)))[index]
        run = base / f"tls{index}"
        partytls.write_mpyc_config(run, index, *identities[index], certificates)
        if issuer != index:  # a member issues itself a certificate for another member's index
            key_pem, chain = partytls.issue_run_certificate(*identities[issuer], index)
            (run / ".config" / f"party_{index}.key").write_bytes(key_pem)
            (run / ".config" / f"party_{index}.crt").write_bytes(chain)
        runs.append(run)
    return runs


def test_parties_talk_tls_with_the_committees_certificates_only(tmp_path, committee, round_updates) -> None:
    public_context, party_dirs = committee.public_context, committee.party_dirs
    _, _, blobs = round_updates
    identities = [partytls.make_identity(f"p{index}") for index in range(3)]
    job = write_signed_job(tmp_path / "job", public_context, blobs, LENGTH)
    opened = keyparty.decrypt_sum(
        job, party_dirs, timeout=120, tls_dirs=tls_runs(tmp_path / "ok", identities)
    )
    assert opened.shape == (LENGTH,)
    assert all(json.loads((job / f"report-party{i}.json").read_text())["tls"] for i in range(3))
    # Party 1 presents a certificate that party 2's identity issued for index 1: the bundle alone would accept
    # it (party 2 is a member), the pinning of each index to its identity does not.
    swapped = tls_runs(tmp_path / "swapped", identities, indices_of_issuers=[0, 2, 2])
    with pytest.raises(keyparty.ThresholdDecryptionError, match=r"exit 4\).*refused peer 1"):
        keyparty.decrypt_sum(job, party_dirs, timeout=60, tls_dirs=swapped)
    # A party whose identity is not the committee's: no TLS handshake succeeds, the MPC never starts.
    outsider = partytls.make_identity("outsider")
    runs = tls_runs(tmp_path / "outsider", identities)
    key_pem, chain = partytls.issue_run_certificate(*outsider, 2)
    (runs[2] / ".config" / "party_2.key").write_bytes(key_pem)
    (runs[2] / ".config" / "party_2.crt").write_bytes(chain)
    with pytest.raises(keyparty.ThresholdDecryptionError, match="still running after"):
        keyparty.decrypt_sum(job, party_dirs, timeout=8, tls_dirs=runs)


def test_batched_shamir_shares_recombine_to_the_secret() -> None:
    from mpyc import thresha
    from mpyc.finfields import GF

    keyparty._install_batched_share_randomness()
    prime = int(ckks.data_primes()[0])
    field = GF(prime)
    secrets = np.array([0, 1, prime - 1, 123_456_789], dtype=object)
    for degree, parties in ((1, 3), (2, 5), (4, 15)):
        shares = thresha.np_random_split(field, field.array(secrets), degree, parties)
        assert shares.shape == (parties, secrets.size)
        # Lagrange at 0 from the first degree + 1 parties' shares.
        points = range(1, degree + 2)
        recombined = [0] * secrets.size
        for a in points:
            weight = 1
            for b in points:
                if a != b:
                    weight = weight * b * pow(b - a, -1, prime) % prime
            recombined = [(r + weight * int(shares[a - 1][j])) % prime for j, r in enumerate(recombined)]
        assert recombined == secrets.tolist()
        assert len({int(v) for v in shares[:, 0]}) > 1  # random, not the secret repeated
