"""A round aggregates: the opened sum of its updates becomes the next global model; the deadline sweep."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from committee import protection
from committee.selectors import decryption_seconds
from crypto.decryption_job import JobTerms, SignedUpload, split_result
from events import realtime
from events.selectors import events_of_kind
from events.services import record_event
from fl.serialization import weights_to_bytes
from fl.strategy import ServerConfig
from ledger import services as ledger
from ledger.connection import ChainRefused
from ledger.selectors import registry_address
from proofs import verification as proofs
from registry import blobstore
from registry.models import GlobalModel
from registry.selectors import next_version
from registry.services import store_model
from registry.weights import load_server_state, load_weights, server_state_bytes
from rounds import dispatch, evaluation, federated, locks, selectors
from rounds.models import Campaign, Round, Submission
from rounds.services.lifecycle import (
    add_stage_seconds,
    exclude_submission,
    fail_round,
    locked_state,
    transition,
)
from web.errors import Conflict

log = logging.getLogger(__name__)
S = Round.State
KEY_PARTIES_WAITING = "key_parties_waiting"
KEY_PARTY_RETRY_MAX_SECONDS = 30


class KeyPartiesWaiting(Exception):
    """The key parties did not decrypt; the round waits (reason and event say so): try again in retry_in s."""

    def __init__(self, retry_in: float):
        super().__init__(f"key parties unavailable, retry in {retry_in:.0f} s")
        self.retry_in = retry_in


def aggregate_round(round_id: int, wait_for_key_parties: bool = False) -> None:
    """COLLECTING -> AGGREGATING -> COMPLETED with the new global model. Idempotent: a rerun after a crash
    in AGGREGATING repeats the deterministic computation; a completed round is left alone; a run while another
    holds the round leaves. Key parties that fail fail the round, or with wait_for_key_parties (the task, which
    can wait) raise KeyPartiesWaiting until DH_DECRYPTION_TIMEOUT has passed since their first failure."""
    with locks.round_step("aggregate", round_id) as held:
        if held:
            _aggregate_round(round_id, wait_for_key_parties)


def _job_terms(round_: Round, submissions: list[Submission]) -> JobTerms:
    """What the key parties check before opening the sum: each upload signed for this round by its hospital,
    recorded in the round's registry, within the plan's norm bound and, with proofs under ckks, sharing the head
    its proof ends at."""
    return JobTerms(
        round_id=round_.pk,
        registry=registry_address(round_),
        min_hospitals=round_.quorum,
        norm_bound=round_.update_norm_bound,
        head_size=proofs.head_size(round_) if proofs.head_is_shared(round_) else 0,
        dp_noise_std=round_.dp_noise_std,
        submissions=tuple(
            SignedUpload(
                hospital=s.hospital.slug,
                signer=s.hospital.signing_address,
                num_samples=s.num_samples,
                signature=s.signature,
                head_commitment=s.head_commitment if proofs.head_is_shared(round_) else "",
            )
            for s in submissions
        ),
    )


def _aggregate_round(round_id: int, wait_for_key_parties: bool) -> None:
    round_ = Round.objects.select_related("base_model__architecture").get(pk=round_id)
    if round_.state == S.COLLECTING:
        transition(round_, S.AGGREGATING, "portal")
        missing = selectors.active_participants(round_).exclude(hospital__submissions__round=round_)
        if missing.exists():  # the deadline passed: the audit trail says who is not in the sum
            record_event(round_.pk, "portal", "partial", {"missing": [p.hospital.slug for p in missing]})
    elif round_.state != S.AGGREGATING:
        return
    submissions = list(round_.submissions.select_related("hospital").order_by("hospital__slug"))
    for submission in submissions:  # any the submission tasks have not recorded yet
        if not submission.excluded_reason:
            try:
                ledger.record_submission(submission)
            except ChainRefused as exc:
                exclude_submission(submission, f"chain: {exc}")
    architecture = round_.base_model.architecture
    started = time.perf_counter()
    opened = _open_sum(round_, submissions, wait_for_key_parties)
    if opened is None:
        return
    weighted_sum, weighted_heads, submissions = opened
    add_stage_seconds(round_, "aggregation", time.perf_counter() - started)
    total_samples = sum(s.num_samples for s in submissions)
    base_vector = load_weights(round_.base_model)
    proven_head = proofs.proven_global_head(round_, submissions, weighted_heads)
    server = ServerConfig.from_dict(round_.server_strategy)
    step = federated.next_global_vector(
        architecture,
        base_vector,
        weighted_sum,
        total_samples,
        proven_head,
        server,
        load_server_state(round_.base_model, server),
    )
    new_vector = step.vector
    if not np.all(np.isfinite(new_vector)):
        fail_round(round_, "aggregation failed: the new model has non-finite values (an update out of range)")
        return
    started = time.perf_counter()
    metrics = evaluation.evaluate_vector(architecture, new_vector)
    add_stage_seconds(round_, "evaluation", time.perf_counter() - started)
    try:
        # The digest store_model stores the weights under (content-addressed: storing them twice is a no-op).
        ledger.record_close(round_, blobstore.put_bytes(weights_to_bytes(new_vector)), submissions)
    except ChainRefused as exc:
        fail_round(round_, f"chain: closing the round was refused: {exc}")
        return
    with transaction.atomic():
        if locked_state(round_.pk) != S.AGGREGATING:
            return  # finished meanwhile by an earlier run of this task
        model = GlobalModel.objects.filter(produced_by=round_).first() or store_model(
            architecture,
            next_version(architecture),
            new_vector,
            produced_by=round_,
            metrics={
                **metrics,
                "participants": [s.hospital.slug for s in submissions],
                "samples": total_samples,
            },
            server_strategy=server.as_dict(),
            server_state_digest=blobstore.put_bytes(server_state_bytes(step.state)) if step.state else "",
        )
        record_event(round_.pk, "portal", "model", {"version": model.version, "digest": model.weights_digest})
        transition(round_, S.COMPLETED, "portal")


def _job_name(round_: Round, excluded: list[Submission]) -> str:
    """The decryption job of the round's sum; one without uploads that were left out has its own name (a job's
    name is bound to its ciphertexts)."""
    if not excluded:
        return f"round-{round_.pk}"
    left_out = hashlib.sha256(",".join(sorted(s.hospital.slug for s in excluded)).encode()).hexdigest()
    return f"round-{round_.pk}-without-{left_out[:16]}"


def _open_sum(
    round_: Round, submissions: list[Submission], wait_for_key_parties: bool
) -> tuple[np.ndarray, np.ndarray | None, list[Submission]] | None:
    """The opened sum of the uploads not excluded, the proven heads' weighted sum where the key parties opened it
    (proofs.head_is_shared), and those uploads; an upload the key parties refuse (not a well-formed encryption,
    above the norm bound, not sharing its proven head) is excluded (named in the audit trail) and the sum opened
    without it. None when the round failed (quorum, aggregation); raises KeyPartiesWaiting to be asked again
    later."""
    while True:
        excluded = [s for s in submissions if s.excluded_reason]
        included = [s for s in submissions if not s.excluded_reason]
        if len(included) < round_.quorum:
            left_out = "".join(f"; {s.hospital.slug} excluded ({s.excluded_reason})" for s in excluded)
            fail_round(
                round_, f"quorum not met: {len(included)} of {round_.quorum} required submissions{left_out}"
            )
            return None
        length = round_.base_model.architecture.parameter_count
        terms = _job_terms(round_, included)
        job_name = _job_name(round_, excluded)
        try:
            opened = protection.get(round_.protection).sum_and_open(
                round_.committee,
                job_name,
                [blobstore.read_bytes(s.blob_digest) for s in included],
                length,
                terms,
            )
            seconds = decryption_seconds(job_name)  # None in plaintext: nothing was decrypted
            if seconds is not None:
                add_stage_seconds(round_, "decryption", seconds)
            weighted_sum, weighted_heads = split_result(opened, length)
            return weighted_sum, weighted_heads if terms.head_size else None, included
        except protection.UploadRefused as exc:
            exclude_submission(included[exc.upload], f"key parties: {exc}")
        except protection.KeyPartiesUnavailable as exc:
            if wait_for_key_parties and isinstance(exc, protection.DecryptionInProgress):
                # The key parties are decrypting and none has failed: look again soon. Not a wait for a party
                # that is down, so it does not count against DH_DECRYPTION_TIMEOUT (the job bounds its attempts).
                raise KeyPartiesWaiting(exc.retry_in) from None
            retry_in = _key_parties_down(round_, str(exc), wait_for_key_parties)
            if retry_in is None:
                return None
            raise KeyPartiesWaiting(retry_in) from None
        except protection.AggregationError as exc:
            fail_round(round_, f"aggregation failed: {exc}")
            return None


def _key_parties_down(round_: Round, error: str, wait: bool) -> float | None:
    """Reports that the key parties did not decrypt: the round fails (not waiting, or waited long enough), or
    says in its reason and the audit trail that it waits; returns the seconds until the next try, or None."""
    waits = events_of_kind(round_.pk, KEY_PARTIES_WAITING)
    first = waits.first()
    waited = (timezone.now() - first.created_at).total_seconds() if first else 0.0
    attempt = waits.count() + 1
    retry_in = float(min(KEY_PARTY_RETRY_MAX_SECONDS, 2**attempt))
    if not wait or waited + retry_in > settings.DH_DECRYPTION_TIMEOUT:
        after = f" after {attempt} attempts over {waited:.0f} s" if first else ""
        fail_round(round_, f"aggregation failed: the key parties did not decrypt{after}: {error}")
        return None
    reason = (
        f"waiting for the key parties: attempt {attempt} failed ({error}); next attempt in {retry_in:.0f} s, "
        f"the round fails if they have not decrypted {settings.DH_DECRYPTION_TIMEOUT} s after the first failure"
    )
    log.warning("round %s: %s", round_.pk, reason, extra={"round": round_.pk})
    with transaction.atomic():
        Round.objects.filter(pk=round_.pk).update(reason=reason, updated_at=timezone.now())
        record_event(
            round_.pk,
            "portal",
            KEY_PARTIES_WAITING,
            {"attempt": attempt, "error": error, "retry_in": retry_in},
        )
        realtime.publish_round_event(round_.pk, "waiting", {"state": round_.state, "reason": reason})
    return retry_in


def sweep_deadlines(now: datetime | None = None) -> list[int]:
    """The periodic sweep (celery beat, every DH_DEADLINE_SWEEP_SECONDS). A collecting round past its deadline
    is aggregated if its quorum is met, else fails with the reason. Triggers lost while the broker was down are
    sent again: an approved round that was never opened, a round with every submission in that is not
    aggregating, a running campaign's next step. Returns the ids of the rounds acted on."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=max(60, 2 * settings.DH_DEADLINE_SWEEP_SECONDS))
    acted = []
    for round_ in Round.objects.filter(state=S.COLLECTING).order_by("id"):
        if round_.deadline <= now:
            count = round_.submissions.filter(excluded_reason="").count()
            if count < round_.quorum:
                try:
                    fail_round(
                        round_, f"deadline passed with {count} of {round_.quorum} required submissions"
                    )
                except Conflict:  # it moved on meanwhile (the last submission came in)
                    continue
                acted.append(round_.pk)
                continue
        elif not (round_.updated_at <= stale and selectors.all_active_submitted(round_)):
            continue
        dispatch.after_commit(dispatch.AGGREGATE_ROUND, round_.pk)
        acted.append(round_.pk)
    for round_ in Round.objects.filter(state=S.APPROVED, updated_at__lte=stale):
        dispatch.after_commit(dispatch.OPEN_ROUND, round_.pk)
        acted.append(round_.pk)
    # A running campaign whose latest round ended while its trigger was lost (a restart) goes on from here.
    for campaign_id in Campaign.objects.filter(state=Campaign.State.RUNNING).values_list("pk", flat=True):
        dispatch.after_commit(dispatch.ADVANCE_CAMPAIGN, campaign_id)
    return acted
