"""Decryption jobs: the committee opens the sum of a round's ciphertexts, and nothing else.

The portal never runs a key party and never waits on one. decrypt_sum (called by the aggregation, in a Celery
task) creates the job once and returns at once: the opened sum when the job is done, else an exception saying
the job is under way (DecryptionInProgress) or how it failed so far (CommitteeError), and the task asks again
later. Each key party's service pulls the job (`GET /api/keyparty/work/`), fetches its description and
ciphertexts, recomputes the sum and compares it with the portal's digest, runs its part of the MPC with the
other parties (TLS between them) and posts the opened vector. The job is done when every party has posted the
same vector for the same attempt. A party reporting failure, results that differ, or an attempt past its
deadline (DH_DECRYPTION_ATTEMPT_SECONDS) start the next attempt, a little later each time; the job fails once
DH_DECRYPTION_TIMEOUT + DH_DECRYPTION_ATTEMPT_SECONDS have passed since it was made. Deadlines are checked
whenever the job is looked at (refresh_job): no timer runs for them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from committee.errors import (
    CommitteeError,
    DecryptionInProgress,
    DecryptionJobConflict,
    UploadRefusedByKeyParties,
)
from committee.models import CommitteeMember, DecryptionJob, KeyCommittee, KeyParty
from committee.selectors import public_context
from crypto import ckks, decryption_job
from registry import blobstore
from web.errors import Conflict, InvalidInput, InvalidUpload, NotFound

MAX_FAILURES_KEPT = 50
MAX_REASON_CHARS = 500
MAX_NEXT_ATTEMPT_DELAY_SECONDS = 30
S = DecryptionJob.State


def _stored_digest(blob: bytes) -> str:
    """The blob's digest in the blob store (where the round's submissions already are)."""
    digest = hashlib.sha256(blob).hexdigest()
    if not blobstore.path_of(digest).exists():
        blobstore.put_bytes(blob)
    return digest


def _create_job(
    committee: KeyCommittee,
    job_name: str,
    blobs: list[bytes],
    digests: list[str],
    length: int,
    terms: decryption_job.JobTerms,
):
    # What every key party will check: refused here first, with the same reason, rather than by each of them.
    try:
        decryption_job.check_signatures(terms, digests)
    except decryption_job.KeyPartyRefusal as exc:
        raise DecryptionJobConflict(f"the key parties would refuse this job: {exc}") from None
    summed = ckks.sum_blobs(public_context(committee), blobs, expected_length=length)
    now = timezone.now()
    try:
        with transaction.atomic():
            return DecryptionJob.objects.create(
                committee=committee,
                name=job_name,
                blob_digests=digests,
                terms=terms.as_json(),
                vector_length=length,
                sum_digest=ckks.blob_digest(summed),
                attempt_started_at=now,
                attempt_deadline=now + timedelta(seconds=settings.DH_DECRYPTION_ATTEMPT_SECONDS),
                expires_at=now
                + timedelta(seconds=settings.DH_DECRYPTION_TIMEOUT + settings.DH_DECRYPTION_ATTEMPT_SECONDS),
            )
    except IntegrityError:  # made meanwhile by another run of the aggregation
        return DecryptionJob.objects.get(name=job_name)


def opened_vector(job: DecryptionJob) -> np.ndarray:
    return np.frombuffer(blobstore.read_bytes(job.opened_digest), dtype="<f8").astype(np.float64)


def decrypt_sum(
    committee: KeyCommittee,
    job_name: str,
    blobs: list[bytes],
    vector_length: int,
    terms: decryption_job.JobTerms,
) -> np.ndarray:
    """The opened sum of `blobs` once the committee's parties have decrypted it. The first call creates the job
    (the portal's sum digest, which every party recomputes and compares, and `terms`: the round and each blob's
    signed upload, which every party checks); a later call with the same name and ciphertexts returns the opened sum when the job is done, and otherwise raises DecryptionInProgress (nothing
    has failed yet) or CommitteeError (the latest failure, the job being tried again or given up).

    Raises DecryptionJobConflict for a job of that name with other ciphertexts, committee, length or terms, or
    one the key parties would refuse, and ckks.CiphertextError for ciphertexts that do not add up."""
    if committee is None or committee.state != KeyCommittee.State.ACTIVE:
        raise DecryptionJobConflict("the round's key committee is not active: it holds no joint key")
    digests = [_stored_digest(blob) for blob in blobs]
    job = DecryptionJob.objects.filter(name=job_name).first()
    if job is None:
        job = _create_job(committee, job_name, blobs, digests, vector_length, terms)
    if (job.committee_id, job.blob_digests, job.vector_length, job.terms) != (
        committee.pk,
        digests,
        vector_length,
        terms.as_json(),
    ):
        raise DecryptionJobConflict(
            f"decryption job {job_name} exists for other ciphertexts, another committee, length or terms"
        )
    job = refresh_job(job.pk)
    if job.state == S.DONE:
        return opened_vector(job)
    if job.state == S.FAILED:
        latest = job.failures[-1]
        if latest.get("refused_upload") is not None:
            raise UploadRefusedByKeyParties(latest["reason"], int(latest["refused_upload"]))
        raise CommitteeError(f"decryption job {job_name} failed: {latest['reason']}")
    if job.failures:
        latest = job.failures[-1]
        raise CommitteeError(
            f"decryption job {job_name}, attempt {latest['attempt']} failed: {latest['reason']}; "
            f"attempt {job.attempt} under way"
        )
    waited = (timezone.now() - job.created_at).total_seconds()
    raise DecryptionInProgress(
        f"decryption job {job_name}: attempt {job.attempt} with the key parties, waiting for "
        + _names(job, _missing(job)),
        retry_in=min(5.0, 1.0 + waited / 10),
    )


# --- the job's clock: attempts and expiry -------------------------------------------------------------------


def _members(job: DecryptionJob) -> list[CommitteeMember]:
    return list(CommitteeMember.objects.filter(committee_id=job.committee_id).select_related("party"))


def _missing(job: DecryptionJob) -> list[CommitteeMember]:
    """The members without a result for the current attempt."""
    return [m for m in _members(job) if job.results.get(str(m.index), {}).get("attempt") != job.attempt]


def _names(job: DecryptionJob, members: list[CommitteeMember]) -> str:
    return ", ".join(f"key party {m.index} ({m.party.name})" for m in members) or "nobody"


def _silent(job: DecryptionJob, reporter: int | None = None) -> str:
    """What the portal saw of the members that have not finished the current attempt."""
    notes = []
    for member in _missing(job):
        if member.index == reporter:
            continue
        started = job.fetched.get(str(member.index)) == job.attempt
        state = "fetched it but posted no result" if started else "never fetched it (down or unreachable?)"
        notes.append(f"key party {member.index} ({member.party.name}) {state}")
    return "; ".join(notes)


def _next_attempt(job: DecryptionJob, now: datetime, reason: str, party: int | None = None) -> None:
    job.failures = [
        *job.failures,
        {"attempt": job.attempt, "party": party, "reason": reason[:MAX_REASON_CHARS], "at": now.isoformat()},
    ][-MAX_FAILURES_KEPT:]
    job.attempt += 1
    job.attempt_started_at = now + timedelta(
        seconds=min(MAX_NEXT_ATTEMPT_DELAY_SECONDS, 2 ** (job.attempt - 1))
    )
    job.attempt_deadline = job.attempt_started_at + timedelta(seconds=settings.DH_DECRYPTION_ATTEMPT_SECONDS)


def _refresh_locked(job: DecryptionJob, now: datetime) -> bool:
    """Applies the deadlines to a locked pending job; True if it changed."""
    if job.state != S.PENDING:
        return False
    if now >= job.expires_at:
        last = job.failures[-1]["reason"] if job.failures else _silent(job)
        job.failures = [
            *job.failures,
            {
                "attempt": job.attempt,
                "party": None,
                "reason": f"no opened sum after {job.attempt} attempts, given up; last: {last}"[
                    :MAX_REASON_CHARS
                ],
                "at": now.isoformat(),
            },
        ][-MAX_FAILURES_KEPT:]
        job.state, job.finished_at = S.FAILED, now
        return True
    if now >= job.attempt_deadline:
        seconds = settings.DH_DECRYPTION_ATTEMPT_SECONDS
        _next_attempt(job, now, f"no result within {seconds} s: {_silent(job)}")
        return True
    return False


def refresh_job(job_id: int) -> DecryptionJob:
    with transaction.atomic():
        job = DecryptionJob.objects.select_for_update().get(pk=job_id)
        if _refresh_locked(job, timezone.now()):
            job.save()
    return job


# --- what the key parties do --------------------------------------------------------------------------------


def _party_job(party: KeyParty, job_id: int) -> tuple[DecryptionJob, CommitteeMember]:
    """The job, locked, and the party's seat in its committee; 404 for a job of a committee it is not in."""
    job = DecryptionJob.objects.select_for_update().filter(pk=job_id).first()
    member = job and CommitteeMember.objects.filter(committee_id=job.committee_id, party=party).first()
    if job is None or member is None:
        raise NotFound(f"No decryption job {job_id} for this key party")
    return job, member


def describe_job(party: KeyParty, job_id: int) -> dict[str, Any]:
    """What the party needs for the job's current attempt (and the record that it fetched it)."""
    now = timezone.now()
    with transaction.atomic():
        job, member = _party_job(party, job_id)
        changed = _refresh_locked(job, now)
        started = now >= job.attempt_started_at
        if job.state == S.PENDING and started and job.fetched.get(str(member.index)) != job.attempt:
            job.fetched = {**job.fetched, str(member.index): job.attempt}
            changed = True
        if changed:
            job.save()
    committee = job.committee
    members = _members(job)
    return {
        "id": job.pk,
        "name": job.name,
        "state": job.state,
        "committee": committee.pk,
        "key_id": committee.key_id,
        "index": member.index,
        "parties": len(members),
        "attempt": job.attempt,
        "starts_in": max(0.0, (job.attempt_started_at - now).total_seconds()),
        "seconds_left": max(0.0, (job.attempt_deadline - now).total_seconds()),
        "vector_length": job.vector_length,
        "sum_digest": job.sum_digest,
        **job.terms,
        "blobs": list(job.blob_digests),
        "peers": [
            {
                "index": m.index,
                "name": m.party.name,
                "address": m.party.address,
                "certificate": m.party.certificate,
            }
            for m in sorted(members, key=lambda m: m.index)
        ],
    }


def job_blob_digest(party: KeyParty, job_id: int, number: int) -> str:
    with transaction.atomic():
        job, _member = _party_job(party, job_id)
    if not 0 <= number < len(job.blob_digests):
        raise NotFound(
            f"Decryption job {job_id} has {len(job.blob_digests)} blobs (0 to {len(job.blob_digests) - 1})"
        )
    return job.blob_digests[number]


def job_vector_length(party: KeyParty, job_id: int) -> int:
    with transaction.atomic():
        job, _member = _party_job(party, job_id)
    return job.vector_length


def job_context(party: KeyParty, job_id: int) -> bytes:
    with transaction.atomic():
        job, _member = _party_job(party, job_id)
    return public_context(job.committee)


def _check_attempt(job: DecryptionJob, attempt: int) -> None:
    if job.state != S.PENDING:
        raise Conflict(f"Decryption job {job.pk} is {job.state}: nothing more to post")
    if attempt != job.attempt:
        raise Conflict(
            f"Attempt {attempt} of decryption job {job.pk} is over: the job is at attempt {job.attempt}"
        )


def canonical_bytes(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f8").tobytes()


def check_result(job: DecryptionJob, vector: Any) -> np.ndarray:
    """An opened vector as the job expects it: one dimension of finite float64 values, the sum's vector_length
    then the proven heads' weighted sum (decryption_job.result_length)."""
    if not isinstance(vector, np.ndarray) or vector.dtype != np.float64:
        raise InvalidUpload("the result must be a float64 array (.npy)")
    length = decryption_job.result_length(job.vector_length, decryption_job.JobTerms.from_json(job.terms))
    if vector.shape != (length,):
        raise InvalidUpload(f"the result has shape {vector.shape}, not ({length},)")
    if not np.all(np.isfinite(vector)):
        raise InvalidUpload("the result has values that are not finite")
    return vector


def post_result(
    party: KeyParty, job_id: int, attempt: int, vector: np.ndarray, report: dict
) -> DecryptionJob:
    """A party's opened vector for an attempt. The job is done when every party has posted the same one;
    a vector that differs from another party's fails the attempt (409 with the reason)."""
    now = timezone.now()
    refused = ""
    with transaction.atomic():
        job, member = _party_job(party, job_id)
        if _refresh_locked(job, now):
            job.save()
        vector = check_result(job, vector)
        data = canonical_bytes(vector)
        digest = hashlib.sha256(data).hexdigest()
        if job.state == S.DONE and job.opened_digest == digest:
            return job  # sent again (a retry): already counted
        _check_attempt(job, attempt)
        others = {
            int(index): result
            for index, result in job.results.items()
            if result.get("attempt") == attempt and int(index) != member.index
        }
        differing = sorted(index for index, result in others.items() if result["digest"] != digest)
        if differing:
            refused = (
                f"key parties opened different results in attempt {attempt}: key party {member.index} "
                f"({party.name}) differs from key party {differing[0]}"
            )
            _next_attempt(job, now, refused, member.index)
        else:
            job.results = {
                **job.results,
                str(member.index): {
                    "attempt": attempt,
                    "digest": digest,
                    "report": report,
                    "at": now.isoformat(),
                },
            }
            if not _missing(job):
                job.opened_digest = blobstore.put_bytes(data)
                job.state, job.finished_at = S.DONE, now
                job.seconds = (now - job.created_at).total_seconds()
        job.save()
    if refused:
        raise Conflict(refused)
    return job


def post_failure(
    party: KeyParty, job_id: int, attempt: int, reason: str, refused_upload: int | None = None
) -> DecryptionJob:
    """A party could not finish the attempt (the reason says why): the next attempt starts shortly. With
    `refused_upload`, the party found that upload not a well-formed encryption: every attempt would refuse it
    again, so the job fails now, naming it (the aggregation leaves it out of a new job)."""
    now = timezone.now()
    with transaction.atomic():
        job, member = _party_job(party, job_id)
        if _refresh_locked(job, now):
            job.save()
        _check_attempt(job, attempt)
        reason = " ".join(str(reason).split())[:MAX_REASON_CHARS] or "no reason given"
        if refused_upload is not None:
            if refused_upload >= len(job.blob_digests):
                raise InvalidInput(
                    f"refused_upload {refused_upload}: the job has {len(job.blob_digests)} uploads"
                )
            job.failures = [
                *job.failures,
                {
                    "attempt": job.attempt,
                    "party": member.index,
                    "reason": f"key party {member.index} ({party.name}) refused: {reason}"[:MAX_REASON_CHARS],
                    "refused_upload": refused_upload,
                    "at": now.isoformat(),
                },
            ][-MAX_FAILURES_KEPT:]
            job.state, job.finished_at = S.FAILED, now
            job.save()
            return job
        silent = _silent(job, reporter=member.index)
        _next_attempt(
            job,
            now,
            f"key party {member.index} ({party.name}) reported: {reason}" + (f"; {silent}" if silent else ""),
            member.index,
        )
        job.save()
    return job


def pending_jobs_for(party: KeyParty) -> list[dict[str, Any]]:
    """The jobs whose current attempt has started and still needs this party's result."""
    memberships = {
        m.committee_id: m.index
        for m in CommitteeMember.objects.filter(party=party, committee__state=KeyCommittee.State.ACTIVE)
    }
    due = []
    now = timezone.now()
    for job_id in DecryptionJob.objects.filter(committee_id__in=memberships, state=S.PENDING).values_list(
        "pk", flat=True
    ):
        job = refresh_job(job_id)
        index = str(memberships[job.committee_id])
        if (
            job.state == S.PENDING
            and now >= job.attempt_started_at
            and job.results.get(index, {}).get("attempt") != job.attempt
        ):
            due.append(
                {"job": job.pk, "name": job.name, "committee": job.committee_id, "attempt": job.attempt}
            )
    return due
