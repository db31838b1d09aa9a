"""Planning a round: the coordinator's plan, checked against what the portal can run, stored as DRAFT."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from committee import protection
from committee.selectors import active_committee
from crypto.ckks import MAX_ABS_VALUE
from events import realtime
from events.services import record_event
from fl.strategy import ServerConfig
from fl.training import TrainConfig
from hospitals.models import Hospital, User
from hospitals.services import require_coordinator
from proofs import verification as proofs
from protocol.plan import config_hash
from registry.models import GlobalModel
from rounds.models import (
    DEFAULT_DP_DELTA,
    DEFAULT_MAX_SAMPLES,
    DEFAULT_QUORUM,
    DEFAULT_UPDATE_NORM_BOUND,
    MAX_DP_DELTA,
    MAX_SAMPLES_LIMIT,
    MIN_QUORUM,
    Participant,
    Round,
)
from rounds.state_machine import TERMINAL
from web.errors import Conflict, InvalidInput

S = Round.State
DEFAULT_LIMITS = {
    "max_samples": DEFAULT_MAX_SAMPLES,
    "update_norm_bound": DEFAULT_UPDATE_NORM_BOUND,
    "dp_noise_multiplier": 0.0,
    "dp_delta": DEFAULT_DP_DELTA,
}
MAX_NOISE_MULTIPLIER = 100.0
PROOF_OPTIONS = ("proof_steps", "prove_every_step")  # the plan's proof options, apart from local training


@transaction.atomic
def create_round(
    actor: User,
    base_model: GlobalModel,
    config: dict[str, Any],
    hospitals: list[Hospital],
    quorum: int | None,
    deadline: datetime,
    protection_scheme: str | None = None,
    proof_scheme: str | None = None,
    max_samples: int | None = None,
    update_norm_bound: float | None = None,
    server_strategy: dict[str, Any] | None = None,
    dp_noise_multiplier: float | None = None,
    dp_delta: float | None = None,
) -> Round:
    """A round in draft. quorum None: DEFAULT_QUORUM, or every participant when fewer. dp_noise_multiplier z > 0:
    differential privacy, noise of std z x update_norm_bound added to the opened sum by the key parties."""
    require_coordinator(actor)
    try:
        train_config = TrainConfig.from_dict({k: v for k, v in config.items() if k not in PROOF_OPTIONS})
    except ValueError as exc:
        raise InvalidInput(f"Invalid training configuration: {exc}") from None
    if len(hospitals) < MIN_QUORUM:
        raise InvalidInput(
            f"A round needs at least {MIN_QUORUM} participating hospitals: only sums of {MIN_QUORUM} or more "
            "hospitals' updates are ever opened (a sum of one is that hospital's update)"
        )
    quorum = min(DEFAULT_QUORUM, len(hospitals)) if quorum is None else quorum
    if not MIN_QUORUM <= quorum <= len(hospitals):
        raise InvalidInput(
            f"Quorum must be between {MIN_QUORUM} and the {len(hospitals)} participants: the key parties open "
            f"only sums of at least {MIN_QUORUM} hospitals (a sum of one is that hospital's update)"
        )
    if deadline <= timezone.now():
        raise InvalidInput("The deadline must be in the future")
    protection_scheme = protection_scheme or settings.DH_PROTECTION
    protection.get(protection_scheme)  # raises InvalidInput for an unknown scheme
    _refuse_oversize_updates(base_model, protection_scheme)
    proof_scheme = proof_scheme or settings.DH_PROOFS
    _refuse_downgrade(protection_scheme, proof_scheme)
    limits = _upload_limits(max_samples, update_norm_bound)
    privacy = _privacy(dp_noise_multiplier, dp_delta, protection_scheme)
    try:
        server = ServerConfig.from_dict(server_strategy)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"Invalid server strategy: {exc}") from None
    key_committee = active_committee() if protection_scheme == "ckks" else None
    if protection_scheme == "ckks" and key_committee is None:
        raise InvalidInput(
            "Encrypted aggregation needs an active key committee: enroll key parties (`dh-keyparty enroll`) and "
            "make one of them (POST /api/committees/ or `python manage.py keyparty committee`)"
        )
    full_config = {
        **train_config.as_dict(),
        "proof_steps": int(config.get("proof_steps", proofs.DEFAULT_STEPS)),
        # Only when asked, so that a spot-checked plan hashes as before.
        **({"prove_every_step": True} if config.get("prove_every_step") else {}),
    }
    proofs.check_round_plan(proof_scheme, full_config)  # InvalidInput for a plan the circuit cannot prove
    # The upload limits join the hashed plan only when not the defaults: a default plan hashes as before.
    hashed = {
        **full_config,
        **{k: v for k, v in {**limits, **privacy}.items() if v != DEFAULT_LIMITS[k]},
    }
    if server != ServerConfig():  # so does a server strategy other than FedAvg
        hashed["server_strategy"] = server.as_dict()
    plan_hash = config_hash(hashed, base_model.architecture.architecture_hash)
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
        server_strategy=server.as_dict(),
        **limits,
        **privacy,
    )
    Participant.objects.bulk_create([Participant(round=round_, hospital=h) for h in hospitals])
    record_event(
        round_.pk, actor.username, "created", {"participants": [h.slug for h in hospitals]}, to_state=S.DRAFT
    )
    realtime.publish_round_event(round_.pk, "state", {"state": S.DRAFT, "previous": "", "reason": ""})
    return round_


def _refuse_downgrade(protection_scheme: str, proof_scheme: str) -> None:
    """In production (settings.DH_REQUIRE_SECURE_ROUNDS) a round plan cannot ask for less than the defaults:
    updates in the clear or no proof of training are refused, however the request names them."""
    if not settings.DH_REQUIRE_SECURE_ROUNDS:
        return
    if protection_scheme != "ckks":
        raise InvalidInput(
            f"Protection {protection_scheme!r} is refused in production: updates must be encrypted (ckks); "
            "plaintext is a benchmark baseline"
        )
    if proof_scheme != "groth16":
        raise InvalidInput(
            f"Proof scheme {proof_scheme!r} is refused in production: updates must carry a proof of training "
            "(groth16)"
        )


def _refuse_oversize_updates(base_model: GlobalModel, protection_scheme: str) -> None:
    """A model whose updates the portal would refuse as too large cannot be planned (it would fail every upload)."""
    architecture = base_model.architecture
    needed = protection.get(protection_scheme).upload_bytes(architecture.parameter_count)
    if needed > settings.DH_MAX_UPLOAD_BYTES:
        raise InvalidInput(
            f"A {protection_scheme} update of {architecture.key} ({architecture.parameter_count} parameters) takes "
            f"{needed} bytes, over the portal's upload limit DH_MAX_UPLOAD_BYTES ({settings.DH_MAX_UPLOAD_BYTES}): "
            "raise the limit, or plan a smaller model"
        )


def _upload_limits(max_samples: int | None, update_norm_bound: float | None) -> dict[str, Any]:
    """The plan's limits on each upload: n_h <= max_samples, ||n_h * delta_h||_2 <= update_norm_bound."""
    limits = {
        "max_samples": DEFAULT_LIMITS["max_samples"] if max_samples is None else max_samples,
        "update_norm_bound": DEFAULT_LIMITS["update_norm_bound"]
        if update_norm_bound is None
        else float(update_norm_bound),
    }
    if isinstance(limits["max_samples"], bool) or not 1 <= limits["max_samples"] <= MAX_SAMPLES_LIMIT:
        raise InvalidInput(f"max_samples must be between 1 and {MAX_SAMPLES_LIMIT}")
    if not 0 < limits["update_norm_bound"] <= MAX_ABS_VALUE:
        # Every value of an update is within its L2 norm: a bound up to what CKKS encodes keeps every upload encodable.
        raise InvalidInput(f"update_norm_bound must be a positive number up to {MAX_ABS_VALUE:.0f}")
    return limits


def _privacy(noise_multiplier: float | None, delta: float | None, protection_scheme: str) -> dict[str, float]:
    """The plan's differential privacy: noise multiplier z (0: none) and delta. The noise is added inside the key
    parties' MPC, so it needs encrypted aggregation."""
    privacy = {
        "dp_noise_multiplier": 0.0 if noise_multiplier is None else float(noise_multiplier),
        "dp_delta": DEFAULT_DP_DELTA if delta is None else float(delta),
    }
    if not 0 <= privacy["dp_noise_multiplier"] <= MAX_NOISE_MULTIPLIER:
        raise InvalidInput(f"dp_noise_multiplier must be between 0 (no noise) and {MAX_NOISE_MULTIPLIER:g}")
    if not 0 < privacy["dp_delta"] <= MAX_DP_DELTA:
        raise InvalidInput(
            f"dp_delta must be above 0 and at most {MAX_DP_DELTA} (typically below 1 / the number of hospitals)"
        )
    if privacy["dp_noise_multiplier"] > 0 and protection_scheme != "ckks":
        raise InvalidInput(
            "Differential privacy needs encrypted aggregation (protection ckks): its noise is added by the key "
            "parties inside the MPC, before the sum is opened"
        )
    return privacy


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
