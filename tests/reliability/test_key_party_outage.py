"""A key party down during decryption: the job waits and says which party it waits for, the round waits and says
so through the API, and both complete when the party is back. The key parties are real `python -m keyparty
serve` processes (demo.committee), each with its own home and port, MPyC over TLS between them.

(A party that stays down fails the round naming it once DH_DECRYPTION_TIMEOUT has passed: tests/committee/
test_jobs.py, without processes.)"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from committee import decryption
from committee.errors import CommitteeError, DecryptionInProgress
from committee.models import DecryptionJob, KeyCommittee
from crypto.tests.signed_jobs import fresh_round_id, signed_terms
from demo.committee import local_committee_parties
from demo.embedded import free_port, portal_server
from hospitals.services import issue_api_token
from registry.models import GlobalModel
from registry.weights import load_weights
from rounds import federated
from rounds.models import Round
from rounds.services import aggregating, lifecycle
from tests.committee.live import require_postgres
from tests.conftest import encrypt_for, submit_signed
from tests.reliability.processes import real_portal, wait_until

S = Round.State
SAMPLES = 10
ATTEMPT_SECONDS = 10  # each attempt of a decryption job: short, so that a missing party shows soon


def opened_or_none(
    committee: KeyCommittee, blobs: list[bytes], length: int, terms
) -> tuple[np.ndarray] | None:
    try:
        return (decryption.decrypt_sum(committee, "outage", blobs, length, terms),)
    except CommitteeError:
        return None


def latest_failure() -> str:
    job = DecryptionJob.objects.filter(name="outage").first()
    return job.failures[-1]["reason"] if job and job.failures else ""


@pytest.mark.mpc
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_key_party_killed_before_a_job_makes_it_wait_and_its_restart_completes_it(
    consortium, settings, tmp_path
):
    require_postgres()
    settings.DH_DECRYPTION_ATTEMPT_SECONDS = ATTEMPT_SECONDS
    length = 5000
    with portal_server(free_port()) as url:
        token = issue_api_token(consortium.coordinator, "committee")
        with local_committee_parties(url, token, tmp_path / "keyparties") as local:
            committee = KeyCommittee.objects.get(pk=local.id)
            blobs = [encrypt_for(committee, np.full(length, value)) for value in (0.25, 0.5)]
            terms = signed_terms(fresh_round_id(), blobs)
            down = local.parties[2]
            down.process.process.kill()  # SIGKILL, as a crash: nothing reported
            down.process.process.wait(timeout=30)
            with pytest.raises(DecryptionInProgress):
                decryption.decrypt_sum(committee, "outage", blobs, length, terms)
            # The other two start the attempt; their MPC waits for party 2 until the attempt's deadline.
            reason = wait_until(latest_failure, 3 * ATTEMPT_SECONDS, "the first attempt to fail")
            assert f"key party 2 ({down.name}) never fetched it" in reason, reason
            with pytest.raises(CommitteeError, match=f"key party 2 \\({down.name}\\) never fetched it"):
                decryption.decrypt_sum(committee, "outage", blobs, length, terms)
            down.start()  # the operator restarts it: same home, same share
            (opened,) = wait_until(
                lambda: opened_or_none(committee, blobs, length, terms),
                6 * ATTEMPT_SECONDS,
                "the job to complete",
            )
    np.testing.assert_allclose(opened, np.full(length, 0.75), atol=1e-4)
    job = DecryptionJob.objects.get(name="outage")
    assert job.state == "done" and job.attempt >= 2 and len(job.results) == 3


def collecting_ckks_round(consortium) -> Round:
    round_ = consortium.plan_round(protection_scheme="ckks")
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, target, "test")
    return round_


@pytest.mark.mpc
@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_round_waits_for_a_stopped_key_party_says_so_and_completes_when_it_is_back(
    consortium, settings, tmp_path
):
    coordinator = consortium.client("coordinator")
    settings.DH_DECRYPTION_ATTEMPT_SECONDS = ATTEMPT_SECONDS
    with real_portal(
        settings,
        tmp_path,
        DH_DECRYPTION_TIMEOUT="120",
        DH_DECRYPTION_ATTEMPT_SECONDS=str(ATTEMPT_SECONDS),
    ) as portal:
        token = issue_api_token(consortium.coordinator, "committee")
        with local_committee_parties(portal.url, token, tmp_path / "keyparties") as local:
            settings.DH_PROTECTION = "ckks"
            portal.start_worker("portal", ["portal"])
            round_ = collecting_ckks_round(consortium)
            stopped = local.parties[2]
            os.kill(stopped.process.process.pid, signal.SIGSTOP)
            try:
                committee = KeyCommittee.objects.get(pk=local.id)
                length = consortium.model.architecture.parameter_count
                for hospital in (consortium.hospital_a, consortium.hospital_b):
                    blob = encrypt_for(committee, np.full(length, 0.25))
                    submit_signed(hospital, round_.pk, blob, SAMPLES)  # the last: to the worker
                shown = wait_until(
                    lambda: (body := coordinator.get(f"/api/rounds/{round_.pk}/").json())["reason"] and body,
                    6 * ATTEMPT_SECONDS,
                    "the API to show that the round waits",
                )
                assert shown["state"] == S.AGGREGATING
                assert shown["reason"].startswith(
                    "waiting for the key parties: attempt 1 failed (decryption job"
                )
                assert f"key party 2 ({stopped.name}) never fetched it" in shown["reason"]
                events = coordinator.get(f"/api/rounds/{round_.pk}/events/").json()
                waiting = [event for event in events if event["kind"] == aggregating.KEY_PARTIES_WAITING]
                assert waiting and f"key party 2 ({stopped.name})" in waiting[0]["detail"]["error"]
            finally:
                os.kill(stopped.process.process.pid, signal.SIGCONT)
            wait_until(
                lambda: Round.objects.get(pk=round_.pk).state != S.AGGREGATING, 120, "the round to end"
            )
    round_.refresh_from_db()
    assert round_.state == S.COMPLETED and round_.reason == "", round_.reason
    architecture = consortium.model.architecture
    expected = federated.next_global_vector(
        architecture,
        load_weights(consortium.model),
        np.full(architecture.parameter_count, 0.5),
        2 * SAMPLES,
    ).vector
    np.testing.assert_allclose(load_weights(GlobalModel.objects.get(produced_by=round_)), expected, atol=1e-4)
