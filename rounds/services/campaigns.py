"""Campaigns: many rounds from one approval.

The coordinator plans a campaign as a round plan (its first round, planned as any round) with how many rounds to
run, how long each may collect and a stopping rule (a target validation AUC). Approving the campaign approves its
first round; each time a round of it ends, advance_campaign plans the next one exactly like the previous (same
participants, configuration, protection, proofs, limits and server strategy) from the model it produced, and
approves it, until the rounds are done or the rule holds. A failed or cancelled round ends the campaign with its
reason. Everything lives in the database: the trigger is sent when a round ends (rounds.services.lifecycle) and
again by the periodic sweep, so a campaign goes on after a portal restart that lost it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from fl import privacy
from hospitals.models import Hospital, User
from hospitals.services import require_coordinator
from registry.models import GlobalModel
from rounds.models import Campaign, Round
from rounds.services import lifecycle, planning
from rounds.state_machine import TERMINAL
from web.errors import Conflict, InvalidInput

S = Round.State
C = Campaign.State
MAX_ROUNDS = 1000
MIN_ROUND_SECONDS = 60


def create_campaign(
    actor: User,
    name: str,
    rounds_planned: int,
    round_seconds: int,
    target_auc: float | None,
    base_model: GlobalModel,
    config: dict[str, Any],
    hospitals: list[Hospital],
    epsilon_budget: float | None = None,
    **plan: Any,
) -> Campaign:
    """A campaign in draft with its first round planned (a draft round: planning.create_round checks the plan;
    `plan` takes its other arguments: quorum, protection_scheme, proof_scheme, limits, server_strategy,
    differential privacy). With `epsilon_budget`, a plan whose rounds would spend more epsilon is refused."""
    require_coordinator(actor)
    if not 1 <= rounds_planned <= MAX_ROUNDS:
        raise InvalidInput(f"A campaign runs 1 to {MAX_ROUNDS} rounds, not {rounds_planned}")
    if round_seconds < MIN_ROUND_SECONDS:
        raise InvalidInput(f"Each round needs at least {MIN_ROUND_SECONDS} s to collect, not {round_seconds}")
    if target_auc is not None and not 0 < target_auc <= 1:
        raise InvalidInput(f"The target validation AUC must be in (0, 1], not {target_auc}")
    with transaction.atomic():
        # A resent request (a retry, a double click) plans nothing twice; the base model's row lock makes two
        # identical requests at once wait for each other.
        GlobalModel.objects.select_for_update().get(pk=base_model.pk)
        same = Campaign.objects.filter(name=name, state__in=(C.DRAFT, C.RUNNING)).first()
        if same is not None:
            raise Conflict(
                f"Campaign {same.pk} named {name!r} is already {same.state}: it was not planned twice (choose "
                "another name for another campaign)"
            )
        campaign = Campaign.objects.create(
            name=name,
            rounds_planned=rounds_planned,
            round_seconds=round_seconds,
            target_auc=target_auc,
            epsilon_budget=epsilon_budget,
            created_by=actor,
        )
        first = planning.create_round(
            actor,
            base_model,
            config,
            hospitals,
            deadline=timezone.now() + timedelta(seconds=round_seconds),
            **{"quorum": None, **plan},
        )
        first.campaign = campaign
        first.save(update_fields=["campaign"])
        _check_budget(campaign, first)
    return campaign


def _check_budget(campaign: Campaign, plan: Round) -> None:
    """Refuses (400, with the figures) a budget the campaign's rounds of `plan` would exceed."""
    if campaign.epsilon_budget is None:
        return
    if plan.dp_noise_multiplier <= 0:
        raise InvalidInput(
            "A privacy budget needs differential privacy: set dp_noise_multiplier (the noise the key parties add)"
        )
    spent = privacy.epsilon(plan.dp_noise_multiplier, campaign.rounds_planned, plan.dp_delta)
    if spent > campaign.epsilon_budget:
        fitting = [
            n
            for n in range(1, campaign.rounds_planned)
            if privacy.epsilon(plan.dp_noise_multiplier, n, plan.dp_delta) <= campaign.epsilon_budget
        ]
        raise InvalidInput(
            f"{campaign.rounds_planned} rounds at noise multiplier {plan.dp_noise_multiplier:g} would spend epsilon "
            f"{spent:.3g} (delta {plan.dp_delta:g}), above the budget {campaign.epsilon_budget:g}: plan "
            + (f"at most {fitting[-1]} rounds, " if fitting else "")
            + "more noise or a larger budget"
        )


def approve_campaign(actor: User, campaign: Campaign) -> Campaign:
    """The one approval: the campaign runs, starting with its first round."""
    require_coordinator(actor)
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.state != C.DRAFT:
            raise Conflict(f"Campaign {campaign.pk} is {locked.state}, not DRAFT: it was approved already")
        _set_state(locked, C.RUNNING, "")
        lifecycle.approve_round(actor, locked.rounds.order_by("id").first())
    return locked


def stop_campaign(actor: User, campaign: Campaign, reason: str) -> Campaign:
    """No further rounds; the round under way finishes (or is cancelled by the coordinator as any round)."""
    require_coordinator(actor)
    if not reason:
        raise InvalidInput("A reason is required to stop a campaign")
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.state not in (C.DRAFT, C.RUNNING):
            raise Conflict(f"Campaign {campaign.pk} is {locked.state} already")
        _set_state(locked, C.STOPPED, reason)
    return locked


def advance_campaign(campaign_id: int) -> str:
    """Once the campaign's latest round has ended: end the campaign (done, rule met, round failed) or plan and
    approve its next round. Idempotent (the campaign's row is locked; a round under way means nothing to do).
    Returns what it did, for the log."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        latest = campaign.rounds.order_by("-id").first()
        if campaign.state != C.RUNNING or latest is None or latest.state not in TERMINAL:
            return "nothing to do"
        if latest.state != S.COMPLETED:
            return _set_state(campaign, C.FAILED, f"round {latest.pk} ended {latest.state}: {latest.reason}")
        done = campaign.rounds.filter(state=S.COMPLETED).count()
        model = GlobalModel.objects.get(produced_by=latest)
        auc = model.metrics.get("val_auc")
        if campaign.target_auc is not None and auc is not None and auc >= campaign.target_auc:
            return _set_state(
                campaign,
                C.COMPLETED,
                f"validation AUC {auc:.4f} reached the target {campaign.target_auc:g} after {done} round(s)",
            )
        if done >= campaign.rounds_planned:
            return _set_state(campaign, C.COMPLETED, f"all {campaign.rounds_planned} rounds completed")
        try:
            following = _plan_after(campaign, latest, model)
        except (InvalidInput, Conflict) as exc:
            return _set_state(campaign, C.FAILED, f"round {done + 1} could not be planned: {exc}")
        lifecycle.approve_round(campaign.created_by, following)
        return f"planned and approved round {following.pk} ({done + 1} of {campaign.rounds_planned})"


def _plan_after(campaign: Campaign, previous: Round, model: GlobalModel) -> Round:
    """The next round: the previous one's plan, from the model it produced."""
    following = planning.create_round(
        campaign.created_by,
        model,
        dict(previous.config),
        [participant.hospital for participant in previous.participants.select_related("hospital")],
        previous.quorum,
        timezone.now() + timedelta(seconds=campaign.round_seconds),
        protection_scheme=previous.protection,
        proof_scheme=previous.proof_scheme,
        max_samples=previous.max_samples,
        update_norm_bound=previous.update_norm_bound,
        server_strategy=previous.server_strategy or None,
        dp_noise_multiplier=previous.dp_noise_multiplier,
        dp_delta=previous.dp_delta,
    )
    following.campaign = campaign
    following.save(update_fields=["campaign"])
    return following


def _set_state(campaign: Campaign, state: str, reason: str) -> str:
    campaign.state, campaign.reason = state, reason
    campaign.save(update_fields=["state", "reason", "updated_at"])
    return f"campaign {campaign.pk} {state}" + (f": {reason}" if reason else "")
