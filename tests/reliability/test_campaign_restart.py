"""A campaign survives its portal restarting in the middle: the Celery worker (a real process, real Redis) is
SIGKILLed while it plans the campaign's next round, inside the transaction that would record it, and the web
server goes down with it and comes back on its port (the nodes' connections drop meanwhile). A fresh worker gets
the unacknowledged step back (acks_late) and its beat sweeps running campaigns; the campaign goes on from the
database alone, plans that round exactly once, and completes, the hospitals' nodes (real processes) training
throughout."""

from __future__ import annotations

import pytest

from rounds.models import Campaign, Round
from rounds.services import campaigns
from tests.conftest import TINY_CONFIG
from tests.reliability.processes import reached, real_portal, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]

S, C = Round.State, Campaign.State
ROUND_SECONDS = 300


@pytest.mark.django_db(transaction=True)
def test_a_campaign_goes_on_after_its_portal_restarts_while_planning_the_next_round(
    hospital_data, settings, tmp_path
):
    with real_portal(settings, tmp_path, nodes=hospital_data, DH_CELERY_VISIBILITY_TIMEOUT="4") as portal:
        portal.start_worker("first", ["portal"], pause="advance")
        for slug in ("hospital-a", "hospital-b"):
            portal.start_node(slug)
        campaign = campaigns.create_campaign(
            hospital_data.coordinator,
            "restart",
            2,
            ROUND_SECONDS,
            None,
            hospital_data.model,
            dict(TINY_CONFIG),
            [hospital_data.hospital_a, hospital_data.hospital_b],
        )
        campaigns.approve_campaign(hospital_data.coordinator, campaign)
        wait_until(
            lambda: reached(tmp_path, "advance"), ROUND_SECONDS, "round 1 to end and round 2 to be planned"
        )
        portal.workers[-1].kill()  # mid-transaction: the planned round is never committed
        portal.web.restart()
        assert [r.state for r in campaign.rounds.order_by("id")] == [S.COMPLETED]
        assert Campaign.objects.get(pk=campaign.pk).state == C.RUNNING

        portal.start_worker("second", ["portal"], beat=True)
        wait_until(
            lambda: Campaign.objects.get(pk=campaign.pk).state != C.RUNNING,
            ROUND_SECONDS,
            "the campaign to end",
        )
        logs = "\n".join(f"--- {process.log()[-2000:]}" for process in (*portal.workers, *portal.nodes))

    campaign.refresh_from_db()
    assert campaign.state == C.COMPLETED, f"{campaign.reason}\n{logs}"
    assert campaign.reason == "all 2 rounds completed"
    done = list(campaign.rounds.order_by("id"))
    assert [r.state for r in done] == [S.COMPLETED, S.COMPLETED]  # round 2 planned once, after the restart
    assert done[1].base_model.produced_by_id == done[0].pk
    assert "planned and approved round" in portal.workers[-1].log()
