"""Personas and a small consortium for the portal's tests.

Personas: the coordinator, the admins of hospitals A and B (both invited to the round), an outsider (admin of
hospital C, not invited), anonymous, and hospital A's node.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.core.cache import cache
from django.utils import timezone
from eth_account import Account
from rest_framework.test import APIClient

from conftest import require, shared_file
from crypto import plain
from dhportal.celery import app as celery_app
from fl.local_data import save_npz
from hospitals import services as hospital_services
from hospitals.models import Hospital, User
from node import cli as node_cli
from node.service import NodeService
from protocol import signing
from registry import services as registry_services
from registry.models import GlobalModel
from rounds.models import DEFAULT_UPDATE_NORM_BOUND, Round
from rounds.services import collecting, planning

SAMPLES_PER_HOSPITAL = 48
TINY_CONFIG = {"local_epochs": 1, "batch_size": 8, "proof_steps": 1}


@pytest.fixture(autouse=True)
def isolated_portal(settings, tmp_path):
    """Each test: its own blob store; tasks eager unless a test starts a real worker."""
    settings.DATA_DIR = tmp_path / "portal"
    settings.DH_PROTECTION = "plaintext"
    settings.DH_CHAIN = "off"  # tests of the chain (tests/rounds/test_chain.py) turn it on
    settings.DH_PROOFS = "none"  # tests of proofs (tests/rounds/test_proofs.py) turn them on
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed, tests only
    celery_app.conf.task_always_eager = True
    cache.clear()  # the failed-login counts (hospitals/throttling.py) start from zero in every test
    yield
    celery_app.conf.task_always_eager = True


@dataclass
class Consortium:
    coordinator: User
    hospital_a: Hospital
    hospital_b: Hospital
    hospital_c: Hospital
    admin_a: User
    admin_b: User
    outsider: User
    node_tokens: dict[str, str]
    model: GlobalModel
    data_dir: Path
    node_homes: dict[str, Path] = field(default_factory=dict)  # filled by enroll_nodes

    def hospital(self, slug: str) -> Hospital:
        return next(h for h in (self.hospital_a, self.hospital_b, self.hospital_c) if h.slug == slug)

    def client(self, persona: str) -> APIClient:
        client = APIClient()
        if persona == "anonymous":
            return client
        if persona.startswith("node_"):
            client.credentials(HTTP_AUTHORIZATION=f"Token {self.node_tokens[persona[5:]]}")
            return client
        user = {
            "coordinator": self.coordinator,
            "admin_a": self.admin_a,
            "admin_b": self.admin_b,
            "outsider": self.outsider,
        }[persona]
        client.credentials(HTTP_AUTHORIZATION=f"Token {hospital_services.issue_api_token(user, 'test')}")
        return client

    def plan_round(
        self, hospitals: list[Hospital] | None = None, quorum: int | None = None, **extra
    ) -> Round:
        hospitals = hospitals or [self.hospital_a, self.hospital_b]
        return planning.create_round(
            self.coordinator,
            self.model,
            {**TINY_CONFIG, **extra.pop("config", {})},
            hospitals,
            quorum or len(hospitals),
            extra.pop("deadline", timezone.now() + timedelta(hours=1)),
            **extra,
        )

    def enroll_nodes(self, portal_url: str) -> dict[str, Path]:
        """Each hospital's node enrolled as its IT admin enrolls it: a one-time code from the coordinator, then
        `dh-node enroll` (its function, in this process) against the portal at portal_url; the node makes its
        own keys. Homes under data_dir/../nodes/<slug>; node_tokens hold the tokens enrollment issued."""
        self.node_homes = {}
        for slug in self.node_tokens:
            hospital = Hospital.objects.get(slug=slug)
            code, _ = hospital_services.issue_enrollment_code(self.coordinator, hospital)
            home = self.data_dir.parent / "nodes" / slug
            # The tests plan plaintext rounds (DH_PROTECTION above) unless they ask for ckks.
            data = self.data_dir / f"{slug}.npz"
            config = node_cli.enroll(home, portal_url, code, str(data), seed=1, allow_plaintext=True)
            self.node_tokens[slug] = config.token
            self.node_homes[slug] = home
        for hospital in (self.hospital_a, self.hospital_b, self.hospital_c):
            hospital.refresh_from_db()
        return self.node_homes

    def run_nodes(self, slugs: list[str] | None = None) -> None:
        """One pass of each enrolled node's loop (`dh-node run --once`) in this process: each polls its work
        and does what is listed."""
        for slug in slugs or list(self.node_homes):
            NodeService(self.node_homes[slug]).run(once=True)


def tiny_hospital_files(target: Path, slugs: list[str]) -> None:
    from fl.data import load_medmnist_npz

    dataset = load_medmnist_npz(shared_file("datasets/pneumoniamnist.npz"), "train")
    order = np.random.default_rng(0).permutation(len(dataset))
    for index, slug in enumerate(slugs):
        part = order[index * SAMPLES_PER_HOSPITAL : (index + 1) * SAMPLES_PER_HOSPITAL]
        save_npz(target / f"{slug}.npz", {"train": dataset.subset(part)})


def make_consortium(data_dir: Path) -> Consortium:
    coordinator = hospital_services.create_coordinator("coordinator", "coordinator-password")
    tokens, hospitals, admins = {}, [], []
    for letter in "abc":
        hospital, token = hospital_services.register_hospital(
            coordinator, f"Hospital {letter.upper()}", f"admin_{letter}", f"password-{letter}-123"
        )
        tokens[hospital.slug] = token
        hospitals.append(hospital)
        admins.append(User.objects.get(username=f"admin_{letter}"))
    model = registry_services.initialise_model(coordinator, "cnn28-d16", 2, seed=0)
    return Consortium(coordinator, *hospitals, *admins, tokens, model, data_dir)


@pytest.fixture
def consortium(db, tmp_path) -> Consortium:
    return make_consortium(tmp_path / "hospital-data")


@pytest.fixture
def hospital_data(consortium) -> Consortium:
    """The consortium with each hospital's own small slice of PneumoniaMNIST on disk."""
    tiny_hospital_files(consortium.data_dir, list(consortium.node_tokens))
    return consortium


def upload_signature(hospital: Hospital, round_id: int, blob: bytes, num_samples: int) -> str:
    """The signature an enrolled node puts on its upload, with the hospital's signing key (made here on first
    use from the slug and registered as its signing address)."""
    key = Account.from_key(hashlib.sha256(f"test signing key|{hospital.slug}".encode()).digest())
    if hospital.signing_address != key.address:
        hospital.signing_address = key.address
        hospital.save(update_fields=["signing_address"])
    bound = Round.objects.get(pk=round_id).update_norm_bound
    statement = signing.upload_statement(round_id, hashlib.sha256(blob).hexdigest(), num_samples, bound)
    return signing.sign_text(key, statement)


def submit_signed(hospital: Hospital, round_id: int, blob: bytes, num_samples: int) -> None:
    """An upload as an enrolled node makes it, signed, so that the key parties will open a sum holding it."""
    signature = upload_signature(hospital, round_id, blob, num_samples)
    collecting.submit_update(hospital, round_id, [blob], num_samples, {}, None, signature=signature)


def encrypt_for(committee, vector: np.ndarray, norm_bound: float = DEFAULT_UPDATE_NORM_BOUND) -> bytes:
    """An update as a node encrypts it under the committee's key for a round of the default norm bound (or
    `norm_bound`, as a node ignoring the plan would): the ciphertexts and the key parties' witness shares."""
    from committee import selectors as committee_selectors
    from crypto import wellformed

    keys = [bytes.fromhex(key) for key in committee_selectors.witness_keys(committee)]
    return wellformed.encrypt_vector(committee_selectors.public_context(committee), vector, keys, norm_bound)


def plain_update(model: GlobalModel, scale: float = 0.0) -> bytes:
    return plain.encode(np.full(model.architecture.parameter_count, scale))


def services_configured() -> tuple[str, str]:
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    require(
        database_url.startswith("postgres") and bool(redis_url),
        "set DATABASE_URL (PostgreSQL) and REDIS_URL to run the tests of the real services",
    )
    return database_url, redis_url


COMMITTEE_SEED = bytes(range(32))  # the test committee's public seed of the common polynomial


@pytest.fixture(scope="session")
def committee_shares(tmp_path_factory):
    """Three key parties' share folders and the joint public context, made once per test session."""
    from crypto import keygen

    return keygen.create_local_committee(tmp_path_factory.mktemp("committee"), parties=3, seed=COMMITTEE_SEED)


@pytest.fixture
def key_committee(db, committee_shares):
    """An active committee with the joint public key of committee_shares, its parties' contributions and no
    enrolled parties: for tests of what the portal checks and sums. Decryption needs key-party services:
    demo.committee starts real ones."""
    public_context, party_dirs = committee_shares
    return committee_record(public_context, party_dirs, COMMITTEE_SEED, "shares")


def committee_record(public_context: bytes, party_dirs, seed: bytes, name: str):
    """An active committee on the portal for shares made in this process (crypto.keygen.create_local_committee
    with `seed`): its joint key and each party's commitment and contribution, parties named `name`-i."""
    from committee.models import CommitteeMember, KeyCommittee, KeyParty
    from crypto import ckks, keygen
    from registry import blobstore

    committee = KeyCommittee.objects.create(
        state=KeyCommittee.State.ACTIVE,
        seed=seed.hex(),
        key_id=ckks.key_id(public_context),
        public_context_digest=blobstore.put_bytes(public_context),
    )
    for index, party_dir in enumerate(party_dirs):
        party, _ = KeyParty.objects.get_or_create(name=f"{name}-{index}")
        contribution = (party_dir / keygen.CONTRIBUTION_FILE).read_bytes()
        CommitteeMember.objects.create(
            committee=committee,
            party=party,
            index=index,
            commitment=keygen.commitment(contribution),
            contribution_digest=blobstore.put_bytes(contribution),
        )
    return committee
