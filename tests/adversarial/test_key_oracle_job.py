"""Attacks 1 and 2 of the security review, performed by a portal that writes its own decryption job.

The key oracle: a ciphertext (c0, c1) = (0, Delta) decrypts to Delta * s, so whoever has it opened learns the
joint secret key s (smudging noise of 2^67 against Delta = 2^90 does not hide it) and then decrypts any
hospital's upload. The first test shows the attack works on the real threshold arithmetic when nothing checks
the job; the others give the same job to three real key-party processes (crypto.keyparty, MPyC), which refuse
it before their shares enter the MPC: nothing is opened and no key's ledger is charged. The last ones are the
same attack by a hospital, under its own signature and with a witness of its choosing (crypto.wellformed):
refused because the ciphertext is not a well-formed encryption, naming the hospital.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tenseal.sealapi as sealapi

from crypto import ckks, keygen, keyparty, seal_io, threshold
from crypto.decryption_job import JobTerms, KeyLedger, SignedUpload
from crypto.tests.signed_jobs import (
    NORM_BOUND,
    LocalCommittee,
    fresh_round_id,
    hospital_keys,
    key_oracle_upload,
    signed_terms,
    write_signed_job,
)

pytestmark = [pytest.mark.mpc]

LENGTH = 100


@pytest.fixture(scope="module")
def committee(tmp_path_factory) -> LocalCommittee:
    return LocalCommittee.make(tmp_path_factory.mktemp("committee"), parties=3)


@pytest.fixture(scope="module")
def uploads(committee):
    rng = np.random.default_rng(11)
    updates = [np.round(rng.normal(size=LENGTH) * 4096) / 4096 for _ in range(2)]
    return updates, [committee.encrypt(update) for update in updates]


def key_oracle_blob(committee: LocalCommittee, u: np.ndarray | None = None) -> bytes:
    return key_oracle_upload(committee.public_context, committee.witness_keys, LENGTH, u)


def recovered_key(opened: np.ndarray) -> np.ndarray:
    """s from an opened Delta * s + noise (NTT form): back to coefficients, centred, divided by Delta, rounded;
    returned in NTT form mod each prime, as SEAL holds secret keys."""
    primes = ckks.data_primes()
    evaluator = sealapi.Evaluator(ckks.seal_context())
    padded = np.stack([opened[0], opened[0]])  # a ciphertext needs two polynomials
    ciphertext = ckks.as_ciphertext(padded)
    evaluator.transform_from_ntt_inplace(ciphertext)
    coefficients = seal_io.parse_ciphertext(seal_io.save_bytes(ciphertext)).data[0]
    modulus = int(primes[0]) * int(primes[1])
    secret = []
    for low, high in zip(coefficients[0].tolist(), coefficients[1].tolist(), strict=True):
        # CRT of the two residues, centred, then divided by Delta.
        value = low + int(primes[0]) * (
            (high - low) * pow(int(primes[0]), -1, int(primes[1])) % int(primes[1])
        )
        value = value - modulus if value > modulus // 2 else value
        secret.append(round(value / ckks.SCALE))
    secret = np.array(secret, dtype=np.int64)
    residues = np.stack([np.where(secret < 0, secret + int(q), secret) for q in primes.tolist()]).astype(
        np.uint64
    )
    key = ckks.as_ciphertext(np.stack([residues, residues]), is_ntt_form=False)
    evaluator.transform_to_ntt_inplace(key)
    return seal_io.parse_ciphertext(seal_io.save_bytes(key)).data[0]


def test_without_the_checks_the_crafted_ciphertext_gives_away_the_key(committee, uploads) -> None:
    """The attack itself, on the real shares and smudging, with the job's checks left out."""
    public_context, party_dirs = committee.public_context, committee.party_dirs
    updates, blobs = uploads
    crafted = ckks.parse_blob(public_context, key_oracle_blob(committee))
    opened = None
    for index, party_dir in enumerate(party_dirs):
        share = threshold.decryption_share(keygen.load_secret_share(party_dir), crafted.ciphertexts, index, 3)
        if opened is None:
            opened = share
        else:
            ckks.add_mod(opened, share)
    key = recovered_key(opened)
    primes = ckks.data_primes()
    victim = ckks.parse_blob(public_context, blobs[0])
    c0, c1 = victim.ciphertexts[0]
    stolen = threshold.decode(((c0 + ckks.mulmod(c1, key, primes)) % primes[:, None])[None], LENGTH)
    assert np.abs(stolen - updates[0]).max() < 2.0**-13  # one hospital's update, in the clear


def test_key_parties_refuse_the_crafted_ciphertext_alone(tmp_path, committee) -> None:
    public_context, party_dirs = committee.public_context, committee.party_dirs
    crafted = key_oracle_blob(committee)
    # The portal signs it with a key of its own and says the round needs one hospital.
    terms = signed_terms(fresh_round_id(), [crafted], min_hospitals=1)
    job = write_signed_job(tmp_path / "job", public_context, [crafted], LENGTH, terms=terms)
    with pytest.raises(keyparty.ThresholdDecryptionError, match=r"exit 3\).*at least 2 hospitals"):
        keyparty.decrypt_sum(job, party_dirs, timeout=60)
    assert not list(job.glob("result-party*.npy"))


def test_key_parties_refuse_it_among_real_uploads(tmp_path, committee, uploads) -> None:
    """Beside two hospitals' signed uploads, the crafted ciphertext under a third hospital's name: the portal
    cannot sign for that hospital, so every party refuses, and no key's ledger is charged."""
    public_context, party_dirs = committee.public_context, committee.party_dirs
    _, blobs = uploads
    crafted = key_oracle_blob(committee)
    round_id = fresh_round_id()
    hospital_a, hospital_b, hospital_c, portal = hospital_keys(4)
    honest = signed_terms(round_id, blobs, keys=[hospital_a, hospital_b]).submissions
    portal_signed = signed_terms(round_id, [crafted], keys=[portal]).submissions[0]
    in_cs_name = SignedUpload(
        "hospital-c", hospital_c.address, portal_signed.num_samples, portal_signed.signature
    )
    terms = JobTerms(round_id, 3, (*honest, in_cs_name), NORM_BOUND)
    before = [KeyLedger(party_dir).entries() for party_dir in party_dirs]
    job = write_signed_job(tmp_path / "job", public_context, [*blobs, crafted], LENGTH, terms=terms)
    with pytest.raises(
        keyparty.ThresholdDecryptionError, match=r"exit 3\).*ciphertext 2 is not signed by hospital-c"
    ):
        keyparty.decrypt_sum(job, party_dirs, timeout=60)
    assert not list(job.glob("result-party*.npy"))
    assert [KeyLedger(party_dir).entries() for party_dir in party_dirs] == before


def test_key_parties_that_pin_their_hospitals_refuse_a_hospital_the_portal_made_up(
    tmp_path, committee, uploads
):
    """The portal enrolls a hospital of its own (the Sybil of docs/THREAT_MODEL.md) and signs the key oracle as
    its upload, beside two real ones: the signature is good, but parties that keep their own list of the
    hospitals' keys (dh-keyparty trust) refuse it."""
    public_context, party_dirs = committee.public_context, committee.party_dirs
    _, blobs = uploads
    crafted = key_oracle_blob(committee)
    hospital_a, hospital_b, made_up = hospital_keys(3)
    terms = signed_terms(fresh_round_id(), [*blobs, crafted], keys=[hospital_a, hospital_b, made_up])
    trusted = tmp_path / "trusted_hospitals.json"
    trusted.write_text(
        json.dumps({"hospitals": {hospital_a.address: "hospital-0", hospital_b.address: "hospital-1"}})
    )
    job = write_signed_job(tmp_path / "job", public_context, [*blobs, crafted], LENGTH, terms=terms)
    with pytest.raises(keyparty.ThresholdDecryptionError, match=r"exit 3\).*is not among the hospitals"):
        keyparty.decrypt_sum(job, party_dirs, timeout=60, trusted_hospitals=trusted)
    assert not list(job.glob("result-party*.npy"))


@pytest.mark.parametrize(
    "witness",
    ["zero", "ternary"],
    ids=["witness-of-u-zero", "witness-of-a-random-ternary-u"],
)
def test_key_parties_refuse_the_key_oracle_a_hospital_signs_and_name_it(
    tmp_path, committee, uploads, witness
) -> None:
    """A malicious hospital uploads the key oracle under its own signature, with shares of a u of its choosing
    as the witness, beside two honest uploads: the parties open the projections, find ||R (c1 - pk1 u)|| far
    above any encryption's and refuse, naming that hospital, before their key shares enter the MPC."""
    public_context, party_dirs = committee.public_context, committee.party_dirs
    _, blobs = uploads
    u = np.zeros(ckks.POLY_MODULUS_DEGREE, dtype=np.int8)
    if witness == "ternary":
        u = np.random.default_rng(5).integers(-1, 2, size=u.shape).astype(np.int8)
    crafted = key_oracle_blob(committee, u)
    terms = signed_terms(fresh_round_id(), [*blobs, crafted])  # each hospital signs its own upload
    before = [KeyLedger(party_dir).entries() for party_dir in party_dirs]
    job = write_signed_job(tmp_path / "job", public_context, [*blobs, crafted], LENGTH, terms=terms)
    with pytest.raises(
        keyparty.ThresholdDecryptionError,
        match=r"exit 3\).*hospital-2's upload .* refused: ciphertext 1 is not a well-formed encryption",
    ):
        keyparty.decrypt_sum(job, party_dirs, timeout=120)
    assert not list(job.glob("result-party*.npy"))
    assert [KeyLedger(party_dir).entries() for party_dir in party_dirs] == before


def test_key_parties_refuse_an_upload_without_a_witness(tmp_path, committee, uploads) -> None:
    """The same ciphertext with no witness at all (an upload of the former format) is refused outright."""
    public_context, party_dirs = committee.public_context, committee.party_dirs
    _, blobs = uploads
    crafted = key_oracle_blob(committee)
    terms = signed_terms(fresh_round_id(), [*blobs, crafted])
    job = write_signed_job(tmp_path / "job", public_context, [*blobs, crafted], LENGTH, terms=terms)
    with pytest.raises(keyparty.ThresholdDecryptionError, match=r"exit 3\).*carries no witness"):
        keyparty.decrypt_sum(job, party_dirs, timeout=60)


def test_the_honest_uploads_alone_open(tmp_path, committee, uploads) -> None:
    """The control: the same parties open the two honest uploads' sum, to the sum of the updates."""
    updates, blobs = uploads
    job = write_signed_job(tmp_path / "job", committee.public_context, blobs, LENGTH)
    opened = keyparty.decrypt_sum(job, committee.party_dirs, timeout=120)
    assert np.abs(opened - (updates[0] + updates[1])).max() < 2.0**-13
