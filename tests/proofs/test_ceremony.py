"""The trusted setup made by the hospitals themselves (proofs.services, node.ceremony), with real snarkjs against
a live portal: each hospital's contribution is made by node.ceremony.contribute (what `dh-node run` calls for
each item of its work's "contributions"), in this process, over HTTP.

The initial zkey (`groth16 setup`, about 2 minutes cold) is cached per circuit and ptau; each contribution takes
about 10 s here, its verification by the portal about 2 s, the beacon about 10 s.
"""

from __future__ import annotations

import time

import pytest
import requests

from contracts.localchain import LocalChain
from crypto.zk import phase2
from crypto.zk.build import CircuitShape
from crypto.zk.ptau import read_zkey
from demo.embedded import free_port, portal_server
from events.models import AuditEvent
from node import ceremony as node_ceremony
from node.client import PortalClient
from proofs import selectors
from proofs import services as ceremonies
from proofs.ceremony import CeremonyWaiting, circuit_shape
from proofs.models import Ceremony, Contribution
from registry import blobstore
from registry import services as registry_services
from rounds.models import Round
from rounds.services import collecting, lifecycle
from tests.rounds.test_proofs import final_head, honest_run, own_contributions, prove, upload

pytestmark = [pytest.mark.zk]

S = Round.State


@pytest.fixture(autouse=True)
def proofs_on(settings, dev_ptau):
    settings.DH_PROOFS = "groth16"
    settings.DH_PTAU_PATH = dev_ptau


def waiting_round(consortium, hospitals) -> Round:
    """A round approved and opening: OPEN, waiting for its hospitals' trusted setup."""
    round_ = consortium.plan_round(hospitals=hospitals)
    lifecycle.transition(round_, S.APPROVED, "test")
    with pytest.raises(CeremonyWaiting):
        collecting.open_round(round_.pk)
    round_.refresh_from_db()
    assert round_.state == S.OPEN and not round_.proof_setup
    return round_


def ceremony_of(hospitals) -> Ceremony:
    key = ceremonies.contributors_key(ceremonies.contributors_in_order(hospitals))
    return Ceremony.objects.exclude(state="failed").get(contributors_key=key)


def open_again(round_: Round) -> str:
    """What the round's task does on its next try; returns the round's state afterwards."""
    try:
        collecting.open_round(round_.pk)
    except CeremonyWaiting:
        pass
    round_.refresh_from_db()
    return round_.state


def blob_files() -> set[str]:
    return {str(p) for p in blobstore.root().rglob("*")}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_hospitals_make_the_trusted_setup_and_the_round_opens_with_its_key(consortium):
    hospitals = [consortium.hospital_a, consortium.hospital_b, consortium.hospital_c]
    round_ = waiting_round(consortium, hospitals)
    ceremony = ceremony_of(hospitals)
    assert ceremony.state == "contributing" and ceremony.current_zkey == ceremony.initial_zkey
    assert list(ceremony.contributions.values_list("hospital__slug", flat=True)) == [
        "hospital-a",
        "hospital-b",
        "hospital-c",
    ]
    assert (
        read_zkey(blobstore.path_of(ceremony.initial_zkey)).contributions == ()
    )  # the portal never contributes
    item = {"ceremony": ceremony.pk, "url": f"/api/node/ceremonies/{ceremony.pk}/"}
    assert selectors.contributions_due(consortium.hospital_a) == [item]
    assert selectors.contributions_due(consortium.hospital_b) == []
    timings = {}
    with portal_server(free_port()) as url:
        for hospital in hospitals:
            [due] = selectors.contributions_due(hospital)
            client = PortalClient(url, consortium.node_tokens[hospital.slug])
            started = time.perf_counter()
            digest = node_ceremony.contribute(client, due, own_contributions(round_))
            timings[hospital.slug] = time.perf_counter() - started
            ceremony.refresh_from_db()
            assert ceremony.current_zkey == digest
            assert node_ceremony.contribute(client, due) == digest  # a stale work item: nothing done twice
            assert selectors.contributions_due(hospital) == []
            if hospital != hospitals[-1]:
                assert open_again(round_) == S.OPEN  # the round waits for the next hospital
        assert ceremony.state == "finalizing"
        started = time.perf_counter()
        assert open_again(round_) == S.COLLECTING  # beacon, the whole chain verified, then the round opens
        timings["finalize"] = time.perf_counter() - started
        print(f"ceremony of 3 hospitals, seconds: {timings}")

        ceremony.refresh_from_db()
        setup = round_.proof_setup
        assert ceremony.state == "ready" and setup["ceremony"] == ceremony.pk
        assert setup["participants"] == ["hospital-a", "hospital-b", "hospital-c"]
        made = list(ceremony.contributions.order_by("position"))
        assert [c["contribution_hash"] for c in setup["contributions"]] == [c.contribution_hash for c in made]
        assert all(len(c.contribution_hash) == 128 for c in made)
        assert [c.zkey_before for c in made] == [
            ceremony.initial_zkey,
            made[0].zkey_after,
            made[1].zkey_after,
        ]
        assert len(setup["beacon"]) == 64 and "os.urandom" in setup["beacon_source"]  # DH_CHAIN=off here
        final = read_zkey(blobstore.path_of(setup["zkey_sha256"])).contributions
        assert [c.name for c in final] == ["hospital-a", "hospital-b", "hospital-c", "final beacon"]
        assert final[-1].is_beacon and final[-1].beacon_hash == setup["beacon"]
        kinds = list(AuditEvent.objects.filter(round=round_).values_list("kind", flat=True))
        assert kinds.count("ceremony_contribution") == 3
        assert {"ceremony_started", "ceremony_ready"} <= set(kinds)

        # The key proves and verifies a step of training: a node's commitment, proof and upload.
        trace = honest_run(round_, seed=11)
        bundle = prove(consortium, round_, "hospital-a", trace)
        response = upload(consortium, round_, "hospital-a", bundle, final_head(trace))
        assert response.status_code == 201, response.content
        assert response.json()["proof_status"] == "verified"

    # A later round of the same circuit and hospitals reuses the ready key at once.
    again = consortium.plan_round(hospitals=hospitals)
    lifecycle.transition(again, S.APPROVED, "test")
    collecting.open_round(again.pk)
    again.refresh_from_db()
    assert again.state == S.COLLECTING and again.proof_setup["zkey_sha256"] == setup["zkey_sha256"]


def post_zkey(client: PortalClient, ceremony: Ceremony, data: bytes, previous: str) -> requests.Response:
    """A contribution upload as a node sends it; the answer whatever its status."""
    return client.session.post(
        f"{client.base_url}/api/node/ceremonies/{ceremony.pk}/contribution/",
        data={"previous_zkey_sha256": previous},
        files={"zkey": ("contribution.zkey", data, "application/octet-stream")},
        timeout=120,
    )


def snapshot(ceremony: Ceremony) -> tuple:
    ceremony.refresh_from_db()
    return (
        ceremony.state,
        ceremony.current_zkey,
        list(Contribution.objects.filter(ceremony=ceremony).values_list("zkey_after", "contribution_hash")),
        AuditEvent.objects.filter(kind="ceremony_contribution").count(),
        blob_files(),
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_contributions_out_of_turn_from_outsiders_replayed_foreign_or_tampered_are_refused(
    consortium, tmp_path
):
    a, b, c = consortium.hospital_a, consortium.hospital_b, consortium.hospital_c
    waiting_round(consortium, [a, b])
    ceremony = ceremony_of([a, b])
    waiting_round(consortium, [a, c])  # another ceremony, same circuit and ptau
    other = ceremony_of([a, c])
    init = blobstore.path_of(ceremony.initial_zkey)
    made = {}
    for name, source, label in (
        ("good", init, "hospital-a"),
        ("named_b", init, "hospital-b"),
        ("twice", "good", "hospital-a"),
    ):
        made[name] = tmp_path / f"{name}.zkey"
        phase2.contribute(made.get(source, source), made[name], label)
    tampered = bytearray(made["good"].read_bytes())
    tampered[-5000] ^= 0xFF  # a point of the H section
    with portal_server(free_port()) as url:
        node = {h.slug: PortalClient(url, consortium.node_tokens[h.slug]) for h in (a, b, c)}
        node_ceremony.contribute(
            node["hospital-a"], {"ceremony": other.pk, "url": f"/api/node/ceremonies/{other.pk}/"}
        )
        other.refresh_from_db()
        foreign = blobstore.path_of(
            other.current_zkey
        ).read_bytes()  # hospital-a's, made for the other ceremony
        before = snapshot(ceremony)
        good, initial = made["good"].read_bytes(), ceremony.initial_zkey
        attempts = [
            ("hospital-c", good, initial, 403, "Hospital C is not a contributor of ceremony"),
            ("hospital-b", good, initial, 409, "It is hospital-a's turn (turn 1) in ceremony"),
            ("hospital-a", good, "0" * 64, 409, "download it and contribute again"),
            (
                "hospital-a",
                init.read_bytes(),
                initial,
                400,
                "Replay refused: this zkey is already in ceremony",
            ),
            (
                "hospital-a",
                foreign,
                initial,
                400,
                "Replay refused: this zkey was contributed to another ceremony",
            ),
            ("hospital-a", made["twice"].read_bytes(), initial, 400, "exactly one contribution"),
            ("hospital-a", made["named_b"].read_bytes(), initial, 400, "must be named 'hospital-a'"),
            ("hospital-a", bytes(tampered), initial, 400, "does not verify (snarkjs zkey verify): H section"),
            ("hospital-a", b"ptau" + bytes(64), initial, 400, "is not a Groth16 zkey"),
            ("hospital-a", good + bytes(5000), initial, 413, "at most"),
        ]
        for slug, data, previous, status, reason in attempts:
            response = post_zkey(node[slug], ceremony, data, previous)
            assert response.status_code == status, (slug, reason, response.content)
            assert reason in response.json()["detail"], response.json()["detail"]
            assert snapshot(ceremony) == before, reason
        assert post_zkey(node["hospital-c"], ceremony, good, initial).json()["error"] == "forbidden"

        accepted = post_zkey(node["hospital-a"], ceremony, good, initial)
        assert accepted.status_code == 201, accepted.content
        again = post_zkey(node["hospital-a"], ceremony, good, initial)  # a retried request
        assert again.status_code == 200 and again.json() == accepted.json()
        after_a = snapshot(ceremony)
        current = accepted.json()["zkey_sha256"]
        # Hospital B sends A's zkey as its own, or a contribution made on the superseded initial zkey.
        replay = post_zkey(node["hospital-b"], ceremony, good, current)
        assert replay.status_code == 400 and "Replay refused" in replay.json()["detail"]
        stale = post_zkey(node["hospital-b"], ceremony, good, initial)
        assert stale.status_code == 409 and "download it and contribute again" in stale.json()["detail"]
        assert snapshot(ceremony) == after_a
        detail = node["hospital-c"].session.get(f"{url}/api/node/ceremonies/{ceremony.pk}/")
        assert detail.status_code == 403
        assert (
            node["hospital-c"].session.get(f"{url}/api/node/ceremonies/{ceremony.pk}/zkey/").status_code
            == 403
        )


@pytest.mark.django_db
def test_a_round_waits_in_open_then_fails_naming_the_missing_contribution(consortium, settings):
    a, b = consortium.hospital_a, consortium.hospital_b
    round_ = waiting_round(consortium, [b, a])  # turns follow registration, not the plan's order
    assert open_again(round_) == S.OPEN
    settings.DH_CEREMONY_TIMEOUT = 0
    assert open_again(round_) == S.FAILED
    assert "waited" in round_.reason and "hospital-a's contribution (turn 1 of 2)" in round_.reason
    assert "DH_CEREMONY_TIMEOUT" in round_.reason
    assert str(round_.pk) not in ceremony_of([a, b]).waiting_rounds


@pytest.mark.django_db
def test_a_round_with_a_ptau_below_the_minimum_fails_with_the_reason(consortium, settings):
    settings.DH_PTAU_MIN_CONTRIBUTIONS = 2
    round_ = consortium.plan_round()
    lifecycle.transition(round_, S.APPROVED, "test")
    collecting.open_round(round_.pk)
    round_.refresh_from_db()
    assert round_.state == S.FAILED
    assert "has 1 contribution(s), fewer than DH_PTAU_MIN_CONTRIBUTIONS=2" in round_.reason
    assert not Ceremony.objects.exists()


@pytest.mark.django_db
def test_a_circuit_too_large_for_the_ptau_fails_the_round_naming_the_file_it_needs(consortium):
    """Eleven classes with batches of 8: 42,453 constraints, more than the 2^15 dev file holds."""
    consortium.model = registry_services.initialise_model(consortium.coordinator, "cnn28c3-d16", 11)
    round_ = consortium.plan_round()
    lifecycle.transition(round_, S.APPROVED, "test")
    collecting.open_round(round_.pk)
    round_.refresh_from_db()
    assert round_.state == S.FAILED
    assert (
        "16 features, 11 classes and batches of 8 has 42,453 constraints, more than the 2^15" in round_.reason
    )
    assert "set DH_PTAU_PATH to a file of 2^16 or more" in round_.reason
    assert not Ceremony.objects.exists()


@pytest.mark.django_db
def test_the_circuit_takes_the_head_width_of_the_rounds_architecture(consortium):
    """A body with 32 features: the round's circuit proves a 32-input head (32 x 2 weights: one step a proof)."""
    consortium.model = registry_services.initialise_model(consortium.coordinator, "resnet18w16-28-d32", 2)
    round_ = consortium.plan_round()
    assert circuit_shape(round_) == CircuitShape(features=32, classes=2, batch=8, steps=1)
    consortium.model = registry_services.initialise_model(consortium.coordinator, "cnn28-d16", 2)
    assert circuit_shape(consortium.plan_round()) == CircuitShape(features=16, classes=2, batch=8, steps=4)


@pytest.fixture
def local_chain(settings):
    with LocalChain() as chain:
        settings.DH_CHAIN = "local"
        settings.DH_CHAIN_RPC_URL = chain.url
        settings.DH_CHAIN_ID = 31337
        yield chain


def rpc(url: str, method: str, params: list):
    return requests.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=10
    ).json()["result"]


@pytest.mark.chain
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_beacon_is_the_hash_of_a_block_mined_after_the_last_contribution(consortium, local_chain):
    hospital = consortium.hospital_a
    round_ = consortium.plan_round(hospitals=[hospital, consortium.hospital_b])
    shape = circuit_shape(round_)
    with pytest.raises(CeremonyWaiting, match="hospital-a's contribution"):
        ceremonies.round_proving_key(round_.pk, shape, [hospital])
    ceremony = ceremony_of([hospital])
    with portal_server(free_port()) as url:
        [item] = selectors.contributions_due(hospital)
        node_ceremony.contribute(PortalClient(url, consortium.node_tokens[hospital.slug]), item)
    ceremony.refresh_from_db()
    accepted_at = ceremony.last_contribution_block
    assert ceremony.state == "finalizing" and accepted_at == int(
        rpc(local_chain.url, "eth_blockNumber", []), 16
    )
    setup = ceremonies.round_proving_key(round_.pk, shape, [hospital])  # the local chain mines the next block
    block = rpc(local_chain.url, "eth_getBlockByNumber", [hex(accepted_at + 1), False])
    assert setup["beacon"] == block["hash"][2:]
    assert f"block {accepted_at + 1} of chain 31337" in setup["beacon_source"]
    assert f"accepted at block {accepted_at}" in setup["beacon_source"]
    events = AuditEvent.objects.filter(round=round_, kind="ceremony_contribution")
    assert events.get().detail["block"] == accepted_at
