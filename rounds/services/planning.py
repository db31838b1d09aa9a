"""Planning a round: the coordinator's plan, checked against what the portal can run, stored as DRAFT."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from committee import protection
from committee.selectors import active_committee
from events import realtime
from events.services import record_event
from fl.training import TrainConfig
from hospitals.models import Hospital, User
from hospitals.services import require_coordinator
from proofs import verification as proofs
from protocol.plan import config_hash
from registry.models import GlobalModel
from rounds.models import Participant, Round
from rounds.state_machine import TERMINAL
from web.errors import Conflict, InvalidInput

S = Round.State


@transaction.atomic
def create_round(
    actor: User,
    base_model: GlobalModel,
    config: dict[str, Any],
    hospitals: list[Hospital],
    quorum: int,
    deadline: datetime,
    protection_scheme: str | None = None,
    proof_scheme: str | None = None,
) -> Round:
    require_coordinator(actor)
    try:
        train_config = TrainConfig.from_dict({k: v for k, v in config.items() if k != "proof_steps"})
    except ValueError as exc:
        raise InvalidInput(f"Invalid training configuration: {exc}") from None
    if not hospitals:
        raise InvalidInput("A round needs at least one participating hospital")
    if not 1 <= quorum <= len(hospitals):
        raise InvalidInput(f"Quorum must be between 1 and the {len(hospitals)} participants")
    if deadline <= timezone.now():
        raise InvalidInput("The deadline must be in the future")
    protection_scheme = protection_scheme or settings.DH_PROTECTION
    protection.get(protection_scheme)  # raises InvalidInput for an unknown scheme
    key_committee = active_committee() if protection_scheme == "ckks" else None
    if protection_scheme == "ckks" and key_committee is None:
        raise InvalidInput(
            "Encrypted aggregation needs a key committee: run `python manage.py keyparty setup-local` first"
        )
    full_config = {
        **train_config.as_dict(),
        "proof_steps": int(config.get("proof_steps", proofs.DEFAULT_STEPS)),
    }
    proof_scheme = proof_scheme or settings.DH_PROOFS
    proofs.check_round_plan(proof_scheme, full_config)  # InvalidInput for a plan the circuit cannot prove
    plan_hash = config_hash(full_config, base_model.architecture.architecture_hash)
    _refuse_replayed_plan(base_model, plan_hash, protection_scheme, proof_scheme, quorum, deadline, hospitals)
    round_ = Round.objects.create(
        base_model=base_model,
        config=full_config,
        config_hash=plan_hash,
        protection=protection_scheme,
        committee=key_committee,
        proof_scheme=proof_scheme,
        quorum=quorum,
        deadline=deadline,
        created_by=actor,
    )
    Participant.objects.bulk_create([Participant(round=round_, hospital=h) for h in hospitals])
    record_event(
        round_.pk, actor.username, "created", {"participants": [h.slug for h in hospitals]}, to_state=S.DRAFT
    )
    realtime.publish_round_event(round_.pk, "state", {"state": S.DRAFT, "previous": "", "reason": ""})
    return round_


def _refuse_replayed_plan(
    base_model: GlobalModel,
    plan_hash: str,
    protection_scheme: str,
    proof_scheme: str,
    quorum: int,
    deadline: datetime,
    hospitals: list[Hospital],
) -> None:
    """A plan identical to a round still under way (a resent request, a double click) is refused, not planned
    twice. The base model's row lock makes two identical requests at once wait for each other."""
    GlobalModel.objects.select_for_update().get(pk=base_model.pk)
    same = Round.objects.filter(
        base_model=base_model,
        config_hash=plan_hash,
        protection=protection_scheme,
        proof_scheme=proof_scheme,
        quorum=quorum,
        deadline=deadline,
    ).exclude(state__in=TERMINAL)
    participants = {h.pk for h in hospitals}
    for round_ in same:
        if set(round_.participants.values_list("hospital_id", flat=True)) == participants:
            raise Conflict(
                f"Round {round_.pk} ({round_.state}) already has this exact plan; it was not planned twice"
            )
