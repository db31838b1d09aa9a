"""Campaigns: rounds run one after another from one approval (rounds.services.campaigns), with the hospitals'
nodes training and uploading over real HTTP (eager tasks, as the demo's bare-machine path)."""

from __future__ import annotations

import pytest

from demo.embedded import free_port, portal_server
from fl.local_data import load_local_dataset, save_npz
from registry.models import GlobalModel
from rounds import tasks
from rounds.models import Campaign, Round
from rounds.services import aggregating, campaigns
from tests.conftest import TINY_CONFIG

S, C = Round.State, Campaign.State
pytestmark = [pytest.mark.unit, pytest.mark.django_db(transaction=True)]


def plan(consortium, rounds: int, target_auc: float | None = None) -> Campaign:
    return campaigns.create_campaign(
        consortium.coordinator,
        "pneumonia",
        rounds,
        600,
        target_auc,
        consortium.model,
        dict(TINY_CONFIG),
        [consortium.hospital_a, consortium.hospital_b],
    )


def rounds_of(campaign: Campaign) -> list[Round]:
    return list(campaign.rounds.order_by("id"))


def test_a_campaign_runs_its_rounds_from_one_approval_and_goes_on_after_a_lost_trigger(
    hospital_data, monkeypatch
):
    """Three rounds, one approval. Round 2 ends while the worker that would plan round 3 is down (its trigger
    is lost, as in a portal restart between the two); the first sweep after the restart goes on from the
    database alone, and the campaign completes with each round started from the model of the one before."""
    with portal_server(free_port()) as url:
        hospital_data.enroll_nodes(url)
        campaign = plan(hospital_data, rounds=3)
        [first] = rounds_of(campaign)
        assert first.state == S.DRAFT and campaign.state == C.DRAFT
        campaigns.approve_campaign(hospital_data.coordinator, campaign)
        hospital_data.run_nodes()
        first, second = rounds_of(campaign)
        assert first.state == S.COMPLETED and second.state == S.COLLECTING  # planned and opened by itself

        lost = []
        monkeypatch.setattr(tasks.advance_campaign, "delay", lambda *args: lost.append(args))
        hospital_data.run_nodes()
        assert [r.state for r in rounds_of(campaign)] == [S.COMPLETED, S.COMPLETED]
        assert lost == [(campaign.pk,)]  # the trigger the dead worker never ran
        monkeypatch.undo()  # the portal restarts; beat's first sweep:
        aggregating.sweep_deadlines()
        assert [r.state for r in rounds_of(campaign)] == [S.COMPLETED, S.COMPLETED, S.COLLECTING]

        hospital_data.run_nodes()
    campaign.refresh_from_db()
    assert campaign.state == C.COMPLETED and campaign.reason == "all 3 rounds completed"
    done = rounds_of(campaign)
    assert [r.state for r in done] == [S.COMPLETED] * 3
    for previous, following in zip(done, done[1:], strict=False):
        assert following.base_model == GlobalModel.objects.get(produced_by=previous)
        assert following.config == previous.config and following.quorum == previous.quorum
    aggregating.sweep_deadlines()  # a finished campaign plans nothing more
    assert campaign.rounds.count() == 3


def test_a_campaign_stops_at_its_target_auc(hospital_data, settings):
    validation = hospital_data.data_dir / "validation.npz"
    save_npz(
        validation, {"val": load_local_dataset(hospital_data.data_dir / "hospital-c.npz", 2, (1, 28, 28))}
    )
    settings.DH_VALIDATION_DATA = str(validation)
    with portal_server(free_port()) as url:
        hospital_data.enroll_nodes(url)
        campaign = plan(hospital_data, rounds=10, target_auc=0.01)  # any trained model's AUC is above it
        campaigns.approve_campaign(hospital_data.coordinator, campaign)
        hospital_data.run_nodes()
    campaign.refresh_from_db()
    [only] = rounds_of(campaign)
    auc = GlobalModel.objects.get(produced_by=only).metrics["val_auc"]
    assert campaign.state == C.COMPLETED
    assert campaign.reason == f"validation AUC {auc:.4f} reached the target 0.01 after 1 round(s)"


def test_a_cancelled_round_ends_its_campaign_with_the_reason(consortium):
    campaign = plan(consortium, rounds=5)
    campaigns.approve_campaign(consortium.coordinator, campaign)
    [first] = rounds_of(campaign)
    client = consortium.client("coordinator")
    assert (
        client.post(
            f"/api/rounds/{first.pk}/cancel/", {"reason": "scanner recall"}, format="json"
        ).status_code
        == 200
    )
    shown = client.get(f"/api/campaigns/{campaign.pk}/").json()
    assert shown["state"] == C.FAILED
    assert shown["reason"] == f"round {first.pk} ended CANCELLED: scanner recall"
    assert [row["state"] for row in shown["rounds"]] == [S.CANCELLED]


def test_campaigns_through_the_api_with_clear_refusals(consortium):
    client = consortium.client("coordinator")
    body = {
        "name": "pneumonia",
        "rounds": 3,
        "round_seconds": 600,
        "base_model": consortium.model.pk,
        "config": TINY_CONFIG,
        "participants": ["hospital-a", "hospital-b"],
    }
    created = client.post("/api/campaigns/", body, format="json")
    assert created.status_code == 201, created.content
    campaign = created.json()
    assert campaign["state"] == C.DRAFT and [row["state"] for row in campaign["rounds"]] == [S.DRAFT]
    for change, reason in (
        ({"rounds": 0}, "rounds"),
        ({"round_seconds": 5}, "round_seconds"),
        ({"participants": ["hospital-a"]}, "at least 2 participating hospitals"),
    ):
        refused = client.post("/api/campaigns/", {**body, "name": "another", **change}, format="json")
        assert refused.status_code == 400 and reason in refused.content.decode(), refused.content
    again = client.post("/api/campaigns/", body, format="json")  # a resent request
    assert again.status_code == 409 and "it was not planned twice" in again.json()["detail"]
    hospital_admin = consortium.client("admin_a")
    assert hospital_admin.post("/api/campaigns/", body, format="json").status_code == 403
    assert hospital_admin.post(f"/api/campaigns/{campaign['id']}/approve/").status_code == 403
    assert [c["id"] for c in hospital_admin.get("/api/campaigns/").json()] == [campaign["id"]]
    assert consortium.client("outsider").get(f"/api/campaigns/{campaign['id']}/").status_code == 404
    assert client.post(f"/api/campaigns/{campaign['id']}/approve/").json()["state"] == C.RUNNING
    again = client.post(f"/api/campaigns/{campaign['id']}/approve/")
    assert again.status_code == 409 and "approved already" in again.json()["detail"]
    stopped = client.post(f"/api/campaigns/{campaign['id']}/stop/", {"reason": "enough"}, format="json")
    assert stopped.json()["state"] == C.STOPPED and stopped.json()["reason"] == "enough"
    assert client.get("/api/campaigns/999999/").status_code == 404
