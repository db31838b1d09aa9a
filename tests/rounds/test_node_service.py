"""The hospital's node as its IT admin runs it: enrolled with a code, its keys kept at home, a process of its own
that pulls its work over REST, says what it does, and stops cleanly on SIGTERM; and what one hospital's node
holds lets it do nothing in another hospital's name."""

from __future__ import annotations

import hashlib
import io
import signal
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from demo.embedded import free_port, portal_server
from demo.processes import party_processes, start_party
from hospitals.models import Hospital
from node import keys
from protocol import signing
from rounds.models import Round, Submission
from rounds.services import lifecycle
from tests.conftest import plain_update
from tests.reliability.processes import wait_until

S = Round.State


def status_of(home) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "node", "--home", str(home), "status"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.unit
@pytest.mark.django_db(transaction=True)
def test_enrollment_keeps_the_nodes_keys_private_and_at_home(hospital_data, settings):
    with portal_server(free_port()) as url:
        homes = hospital_data.enroll_nodes(url)
    home = homes["hospital-a"]
    assert home.stat().st_mode & 0o777 == 0o700
    for name in ("config.json", "chain.key", "signing.key"):
        assert (home / name).stat().st_mode & 0o777 == 0o600, name
    chain_key = (home / "chain.key").read_text().strip()
    hospital = Hospital.objects.get(slug="hospital-a")
    # The portal knows the key's address, never the key: not in its database row, nor in its data folder.
    assert hospital.chain_address and chain_key not in str(
        Hospital.objects.filter(pk=hospital.pk).values()[0]
    )
    for path in settings.DATA_DIR.rglob("*"):
        if path.is_file():
            assert chain_key.encode() not in path.read_bytes(), path


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_node_process_pulls_its_round_says_what_it_does_and_stops_on_sigterm(hospital_data, tmp_path):
    with portal_server(free_port()) as url, party_processes() as started:
        homes = hospital_data.enroll_nodes(url)
        assert "not run yet" in status_of(homes["hospital-a"])
        for slug in ("hospital-a", "hospital-b"):
            started.append(
                start_party(slug, "node", ["--home", str(homes[slug]), "run"], tmp_path / f"{slug}.log")
            )
        round_ = hospital_data.plan_round()
        lifecycle.approve_round(hospital_data.coordinator, round_)
        wait_until(
            lambda: Round.objects.get(pk=round_.pk).state in (S.COMPLETED, S.FAILED), 180, "the round to end"
        )
        status = status_of(homes["hospital-a"])
        assert "running" in status and f"rounds uploaded by the last run: {round_.pk}" in status, status
        node_a = started[0]
        node_a.process.send_signal(signal.SIGTERM)
        assert node_a.process.wait(timeout=60) == 0, node_a.log()[-2000:]
    round_.refresh_from_db()
    assert round_.state == S.COMPLETED, round_.reason
    log = node_a.log()
    assert f"round {round_.pk}: update uploaded" in log and "stopping after the current step" in log
    assert "Traceback" not in log
    assert "not running" in status_of(homes["hospital-a"])


@pytest.mark.unit
@pytest.mark.django_db(transaction=True)
def test_a_nodes_token_reads_no_other_hospitals_task_and_uploads_in_no_other_name(hospital_data):
    """Hospital C is not in the round: its node's token gets nothing of it, and A's token writes only as A."""
    round_ = hospital_data.plan_round()  # A and B
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, target, "test")
    outsider = hospital_data.client("node_hospital-c")
    assert outsider.get("/api/node/work/").json()["rounds"] == []
    for path in (f"/api/node/rounds/{round_.pk}/", f"/api/node/rounds/{round_.pk}/proof/zkey/"):
        assert outsider.get(path).status_code == 403, path
    commitment = {"merkle_root": "1", "num_steps": 1, "num_samples": 10}
    assert (
        outsider.post(
            f"/api/node/rounds/{round_.pk}/proof/commitment/", commitment, format="json"
        ).status_code
        == 403
    )
    upload = {"update": io.BytesIO(plain_update(hospital_data.model)), "num_samples": 10, "metrics": "{}"}
    assert (
        outsider.post(f"/api/node/rounds/{round_.pk}/submission/", upload, format="multipart").status_code
        == 403
    )
    # A's token: the upload is A's whatever the form says; a field naming another hospital is not read.
    node_a = hospital_data.client("node_hospital-a")
    upload = {
        "update": io.BytesIO(plain_update(hospital_data.model)),
        "num_samples": 10,
        "metrics": "{}",
        "hospital": "hospital-b",
    }
    assert (
        node_a.post(f"/api/node/rounds/{round_.pk}/submission/", upload, format="multipart").status_code
        == 201
    )
    assert list(Submission.objects.filter(round=round_).values_list("hospital__slug", flat=True)) == [
        "hospital-a"
    ]
    assert [
        entry["id"]
        for entry in hospital_data.client("node_hospital-b").get("/api/node/work/").json()["rounds"]
    ] == [round_.pk]
    assert hospital_data.client("node_hospital-a").get("/api/node/work/").json()["rounds"] == []


@pytest.mark.unit
@pytest.mark.django_db(transaction=True)
def test_an_enrolled_hospitals_upload_must_carry_its_nodes_signature(hospital_data, settings):
    with portal_server(free_port()) as url:
        homes = hospital_data.enroll_nodes(url)
    round_ = hospital_data.plan_round()
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, target, "test")
    blob = plain_update(hospital_data.model)
    statement = signing.upload_statement(
        round_.pk, hashlib.sha256(blob).hexdigest(), 10, round_.update_norm_bound
    )
    node_a = hospital_data.client("node_hospital-a")

    def upload(signature: str | None):
        form = {"update": io.BytesIO(blob), "num_samples": 10, "metrics": "{}"}
        if signature is not None:
            form["signature"] = signature
        return node_a.post(f"/api/node/rounds/{round_.pk}/submission/", form, format="multipart")

    unsigned = upload(None)
    assert unsigned.status_code == 400 and "must carry its signature" in unsigned.json()["detail"]
    # Signed by another key (hospital B's own signing key), or over another sample count: refused.
    other = signing.sign_text(keys.load_key(homes["hospital-b"] / "signing.key"), statement)
    assert upload(other).status_code == 400
    own_key = keys.load_key(homes["hospital-a"] / "signing.key")
    wrong_count = signing.sign_text(
        own_key,
        signing.upload_statement(round_.pk, hashlib.sha256(blob).hexdigest(), 11, round_.update_norm_bound),
    )
    refused = upload(wrong_count)
    assert refused.status_code == 400 and "signature is not Hospital A's" in refused.json()["detail"]
    assert not Submission.objects.filter(round=round_).exists()
    # The node's own signature: stored with the submission, checkable by anyone against the enrolled address.
    assert upload(signing.sign_text(own_key, statement)).status_code == 201
    stored = Submission.objects.get(round=round_)
    assert (
        signing.signer_of(statement, stored.signature)
        == Hospital.objects.get(slug="hospital-a").signing_address
    )
