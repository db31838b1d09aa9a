"""A key party down during decryption: the round waits and says so through the API, completes when the party is
back, and fails with the party named once DH_DECRYPTION_TIMEOUT has passed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from committee import selectors as committee_selectors
from committee.models import KeyCommittee
from crypto import ckks
from events.models import AuditEvent
from registry.models import GlobalModel
from registry.weights import load_weights
from rounds import federated
from rounds.models import Round
from rounds.services import aggregating, collecting, lifecycle
from tests.reliability.processes import real_portal, wait_until

pytestmark = [pytest.mark.mpc]

S = Round.State
SAMPLES = 10


@contextmanager
def share_folder_unreadable(party_dir: Path) -> Iterator[None]:
    """The party cannot read its key share until the block ends. Moved aside rather than chmod 000, which does
    not stop a party running as root."""
    hidden = party_dir.with_name(party_dir.name + ".unreadable")
    party_dir.rename(hidden)
    try:
        yield
    finally:
        hidden.rename(party_dir)


def collecting_ckks_round(consortium, key_committee: KeyCommittee) -> Round:
    round_ = consortium.plan_round(protection_scheme="ckks")
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, target, "test")
    return round_


def submit_encrypted(consortium, key_committee: KeyCommittee, round_: Round, hospitals) -> None:
    length = consortium.model.architecture.parameter_count
    context = committee_selectors.public_context(key_committee)
    for hospital in hospitals:
        blob = ckks.encrypt_vector(context, np.full(length, 0.25))
        collecting.submit_update(hospital, round_.pk, [blob], SAMPLES, {}, None)


def last_party_dir(key_committee: KeyCommittee) -> Path:
    return Path(key_committee.parties[-1]["location"])


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_round_waits_for_a_key_party_says_so_and_completes_when_it_is_back(
    consortium, key_committee, settings, tmp_path
):
    round_ = collecting_ckks_round(consortium, key_committee)
    coordinator = consortium.client("coordinator")
    with real_portal(settings, tmp_path, DH_DECRYPTION_TIMEOUT="120") as portal:
        settings.DH_PROTECTION = "ckks"
        portal.start_worker("portal", ["portal"])
        with share_folder_unreadable(last_party_dir(key_committee)):
            # The last submission sends the aggregation task to the worker.
            submit_encrypted(
                consortium, key_committee, round_, [consortium.hospital_a, consortium.hospital_b]
            )
            shown = wait_until(
                lambda: (body := coordinator.get(f"/api/rounds/{round_.pk}/").json())["reason"] and body,
                60,
                "the API to show that the round waits",
            )
            assert shown["state"] == S.AGGREGATING
            assert shown["reason"].startswith("waiting for the key parties: attempt 1 failed (key party 2")
            events = coordinator.get(f"/api/rounds/{round_.pk}/events/").json()
            waiting = [event for event in events if event["kind"] == aggregating.KEY_PARTIES_WAITING]
            assert waiting and "key party 2" in waiting[0]["detail"]["error"]
        wait_until(lambda: Round.objects.get(pk=round_.pk).state != S.AGGREGATING, 120, "the round to end")
    round_.refresh_from_db()
    assert round_.state == S.COMPLETED and round_.reason == "", round_.reason
    architecture = consortium.model.architecture
    expected = federated.next_global_vector(
        architecture,
        load_weights(consortium.model),
        np.full(architecture.parameter_count, 0.5),
        2 * SAMPLES,
    )
    np.testing.assert_allclose(load_weights(GlobalModel.objects.get(produced_by=round_)), expected, atol=1e-4)


def test_a_key_party_that_stays_down_fails_the_round_naming_it_at_the_timeout(
    consortium, key_committee, settings
):
    settings.DH_DECRYPTION_TIMEOUT = 3
    round_ = collecting_ckks_round(consortium, key_committee)
    submit_encrypted(consortium, key_committee, round_, [consortium.hospital_a, consortium.hospital_b])
    started = time.monotonic()
    with share_folder_unreadable(last_party_dir(key_committee)):
        while True:  # what the aggregation task does: try, wait as told, try again
            try:
                aggregating.aggregate_round(round_.pk, wait_for_key_parties=True)
                break
            except aggregating.KeyPartiesWaiting as waiting:
                time.sleep(waiting.retry_in)
    round_.refresh_from_db()
    assert round_.state == S.FAILED
    assert round_.reason.startswith("aggregation failed: the key parties did not decrypt after 2 attempts")
    assert "key party 2 failed" in round_.reason and "no key share" in round_.reason
    assert time.monotonic() - started < 30
    assert AuditEvent.objects.filter(round=round_, kind=aggregating.KEY_PARTIES_WAITING).count() == 1
