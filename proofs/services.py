"""The trusted setup made by the hospitals themselves: the portal's writes (docs/PROOFS.md, "The trusted setup").

One Ceremony per (circuit, ptau file, ordered contributing hospitals): the round's participating hospitals in
order of registration. Rounds with the same circuit and hospitals reuse it.

1. A round with proofs opens (rounds.services.collecting, in its Celery task): round_proving_key finds or starts
   the ceremony. Starting it checks the ptau (at least DH_PTAU_MIN_CONTRIBUTIONS contributions in phase 1),
   makes the initial zkey from the circuit's r1cs and the ptau (`snarkjs groth16 setup`: no secret in it; cached
   per circuit and ptau) and stores it in the blob store. The portal never contributes.
2. While the ceremony is not ready the round stays OPEN: round_proving_key raises CeremonyWaiting and the task
   tries again later, until DH_CEREMONY_TIMEOUT after which the round fails naming the hospital whose
   contribution is missing.
3. The hospital whose turn it is (proofs.selectors.contributions_due) downloads the current zkey, contributes on
   its own machine (node.ceremony) and uploads the new zkey: accept_contribution checks the turn, that it was
   made on the current zkey, its size, that it extends the current zkey by exactly one contribution named after
   the hospital, and the whole chain (crypto.zk.phase2.verify_chain, a few seconds); anything wrong is refused
   with the reason and nothing stored changes.
4. After the last contribution the next run of the round's task finalizes (finalize): the beacon is the hash of
   the first block mined after the last contribution was accepted (proofs.beacon; fresh os.urandom with
   DH_CHAIN=off), `snarkjs zkey beacon`, the whole chain verified again, the verification key exported, the
   final zkey and the circuit's wasm stored: the ceremony is ready and the round opens.
Each contribution, the finalization and a failure are events of the rounds waiting for the ceremony.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from crypto.zk import CircuitArtifacts, CircuitShape, build_circuit, phase2
from crypto.zk.build import file_sha256, setup_zkey
from crypto.zk.node import SnarkjsError
from crypto.zk.ptau import FormatError, PtauInfo, ZkeyInfo, hermez_hint, read_ptau, read_zkey
from events import realtime
from events.services import record_event
from hospitals.models import Hospital
from proofs import beacon as beacons
from proofs.ceremony import CeremonyError, CeremonyWaiting
from proofs.models import Ceremony, Contribution
from protocol.plan import canonical_json
from registry import blobstore
from web.errors import Conflict, InvalidUpload, NotFound, PermissionDenied, UploadTooLarge

log = logging.getLogger(__name__)
State = Ceremony.State
# How often a round waiting for its ceremony looks again (its task retries after this many seconds).
RETRY_SECONDS = 5
# A contribution adds one entry (about 450 bytes with its name) to the zkey; a larger growth is refused.
ZKEY_GROWTH_LIMIT = 4096
ADVISORY_LOCK_KEY = 0x44480010  # with the ceremony's id: one finalization at a time (PostgreSQL)


# --- phase 1 ----------------------------------------------------------------------------------------------


def checked_ptau(path: Path) -> PtauInfo:
    """The ptau file's header and contributions; CeremonyError if it is absent, not a ptau, or made by fewer
    than DH_PTAU_MIN_CONTRIBUTIONS contributors (any one of whom could otherwise forge proofs)."""
    path = Path(path)
    if not path.is_file():
        raise CeremonyError(
            f"no powers-of-tau file at {path}: set DH_PTAU_PATH to a prepared ptau of at least 2^15 "
            f"(the public Hermez file {hermez_hint(15)})"
        )
    try:
        info = read_ptau(path)
    except (FormatError, OSError) as exc:
        raise CeremonyError(f"{path} is not a usable powers-of-tau file ({exc})") from None
    minimum = int(settings.DH_PTAU_MIN_CONTRIBUTIONS)
    if info.secret_contributions < minimum:
        raise CeremonyError(
            f"the powers-of-tau file {path} has {info.secret_contributions} contribution(s), fewer than "
            f"DH_PTAU_MIN_CONTRIBUTIONS={minimum}: whoever made it could forge proofs. Use a public multi-party "
            f"file of the same size instead, e.g. {hermez_hint(info.power)} (docs/PROOFS.md)"
        )
    return info


# --- starting and waiting ------------------------------------------------------------------------------------


def contributors_in_order(hospitals: Iterable[Hospital]) -> list[Hospital]:
    """The contributing hospitals in order of registration (oldest first)."""
    return sorted(set(hospitals), key=lambda h: (h.created_at, h.pk))


def contributors_key(hospitals: list[Hospital]) -> str:
    return hashlib.sha256(",".join(str(h.pk) for h in hospitals).encode()).hexdigest()


def round_proving_key(round_id: int, shape: CircuitShape, hospitals: Iterable[Hospital]) -> dict[str, Any]:
    """What the round records of its proving key (Round.proof_setup) once the ceremony of its circuit and
    hospitals is ready. Starts the ceremony (or reuses one) and finalizes it when its contributions are in.
    Raises CeremonyWaiting while a contribution or the beacon's block is due, CeremonyError when the key
    cannot be made (the ceremony failed, or the round waited DH_CEREMONY_TIMEOUT)."""
    contributors = contributors_in_order(hospitals)
    if not contributors:
        raise CeremonyError("the round has no participating hospital to contribute to its trusted setup")
    ptau = Path(settings.DH_PTAU_PATH)
    ptau_info = checked_ptau(ptau)
    try:
        artifacts = build_circuit(shape)
    except (RuntimeError, OSError) as exc:
        raise CeremonyError(f"the circuit could not be built: {exc}") from None
    if artifacts.constraints > 2**ptau_info.power:
        needed = (artifacts.constraints - 1).bit_length()
        raise CeremonyError(
            f"the proving circuit of {shape.features} features, {shape.classes} classes and batches of {shape.batch} has "
            f"{artifacts.constraints:,} constraints, more than the 2^{ptau_info.power} of the powers-of-tau file "
            f"{ptau.name}: set DH_PTAU_PATH to a file of 2^{needed} or more ({hermez_hint(needed)}), or plan a "
            "smaller batch"
        )
    ceremony = _live_ceremony(artifacts, ptau, ptau_info, contributors, round_id)
    if ceremony.state == State.FINALIZING:
        ceremony = finalize(ceremony.pk)
    if ceremony.state == State.READY:
        _stop_waiting(ceremony, round_id)
        return setup_record(ceremony)
    if ceremony.state == State.FAILED:
        _stop_waiting(ceremony, round_id)
        raise CeremonyError(f"the trusted setup (ceremony {ceremony.pk}) failed: {ceremony.reason}")
    waited = (timezone.now() - _waiting_since(ceremony, round_id)).total_seconds()
    missing = next_contribution(ceremony)
    what = (
        f"{missing.hospital.slug}'s contribution (turn {missing.position} of {ceremony.contributions.count()})"
        if missing is not None
        else "a block after the last contribution for its beacon"
    )
    if waited > settings.DH_CEREMONY_TIMEOUT:
        _stop_waiting(ceremony, round_id)
        raise CeremonyError(
            f"the trusted setup (ceremony {ceremony.pk}) waited {waited:.0f} s for {what}, longer than "
            f"DH_CEREMONY_TIMEOUT ({settings.DH_CEREMONY_TIMEOUT} s)"
        )
    raise CeremonyWaiting(f"the trusted setup (ceremony {ceremony.pk}) is waiting for {what}", RETRY_SECONDS)


def _live_ceremony(
    artifacts: CircuitArtifacts, ptau: Path, ptau_info: PtauInfo, contributors: list[Hospital], round_id: int
) -> Ceremony:
    ptau_sha256 = file_sha256(ptau)
    key = contributors_key(contributors)
    found = _find_live(artifacts.key, ptau_sha256, key)
    if found is not None:
        _start_waiting(found, round_id)
        return found
    started = time.perf_counter()
    try:
        init = setup_zkey(artifacts, ptau)
    except (SnarkjsError, OSError) as exc:
        raise CeremonyError(f"the initial zkey (snarkjs groth16 setup) could not be made: {exc}") from None
    with open(init, "rb") as handle:
        digest, size = blobstore.put_chunks(iter(lambda: handle.read(1 << 20), b""), init.stat().st_size)
    shape = artifacts.shape
    try:
        with transaction.atomic():
            ceremony = Ceremony.objects.create(
                circuit_key=artifacts.key,
                shape={
                    "features": shape.features,
                    "classes": shape.classes,
                    "batch": shape.batch,
                    "steps": shape.steps,
                },
                constraints=artifacts.constraints,
                ptau_name=ptau.name,
                ptau_sha256=ptau_sha256,
                ptau_contributions=ptau_info.secret_contributions,
                contributors_key=key,
                initial_zkey=digest,
                current_zkey=digest,
                current_zkey_size=size,
                waiting_rounds={str(round_id): timezone.now().isoformat()},
                seconds={"setup": round(time.perf_counter() - started, 3)},
            )
            Contribution.objects.bulk_create(
                Contribution(ceremony=ceremony, position=index, hospital=hospital)
                for index, hospital in enumerate(contributors, start=1)
            )
    except IntegrityError:  # another round started the same ceremony meanwhile
        found = _find_live(artifacts.key, ptau_sha256, key)
        if found is None:
            raise
        _start_waiting(found, round_id)
        return found
    _record(
        ceremony,
        "portal",
        "ceremony_started",
        {
            "ceremony": ceremony.pk,
            "contributors": [h.slug for h in contributors],
            "circuit_key": artifacts.key,
            "ptau": ptau.name,
            "ptau_contributions": ptau_info.secret_contributions,
            "initial_zkey": digest,
        },
    )
    return ceremony


def _find_live(circuit_key: str, ptau_sha256: str, key: str) -> Ceremony | None:
    return (
        Ceremony.objects.filter(circuit_key=circuit_key, ptau_sha256=ptau_sha256, contributors_key=key)
        .exclude(state=State.FAILED)
        .first()
    )


def _start_waiting(ceremony: Ceremony, round_id: int) -> None:
    if ceremony.state == State.READY or str(round_id) in ceremony.waiting_rounds:
        return
    with transaction.atomic():
        locked = Ceremony.objects.select_for_update().get(pk=ceremony.pk)
        locked.waiting_rounds.setdefault(str(round_id), timezone.now().isoformat())
        locked.save(update_fields=["waiting_rounds", "updated_at"])
    ceremony.waiting_rounds = locked.waiting_rounds


def _stop_waiting(ceremony: Ceremony, round_id: int) -> None:
    if str(round_id) not in ceremony.waiting_rounds:
        return
    with transaction.atomic():
        locked = Ceremony.objects.select_for_update().get(pk=ceremony.pk)
        locked.waiting_rounds.pop(str(round_id), None)
        locked.save(update_fields=["waiting_rounds", "updated_at"])
    ceremony.waiting_rounds = locked.waiting_rounds


def _waiting_since(ceremony: Ceremony, round_id: int) -> datetime:
    since = ceremony.waiting_rounds.get(str(round_id))
    return datetime.fromisoformat(since) if since else timezone.now()


def next_contribution(ceremony: Ceremony) -> Contribution | None:
    """The contributor whose turn it is (None once every contribution is in)."""
    return (
        ceremony.contributions.select_related("hospital").filter(zkey_after="").order_by("position").first()
    )


def setup_record(ceremony: Ceremony) -> dict[str, Any]:
    """What a round records of its ready proving key (Round.proof_setup): proofs.verification and the nodes
    read the shape, circuit key, constraints, the files' digests and the verification key from it."""
    contributions = list(ceremony.contributions.select_related("hospital").order_by("position"))
    return {
        "shape": ceremony.shape,
        "constraints": ceremony.constraints,
        "circuit_key": ceremony.circuit_key,
        "ptau": ceremony.ptau_name,
        "ptau_sha256": ceremony.ptau_sha256,
        "ptau_contributions": ceremony.ptau_contributions,
        "ceremony": ceremony.pk,
        "participants": [c.hospital.slug for c in contributions],
        "contributions": [
            {
                "hospital": c.hospital.slug,
                "contribution_hash": c.contribution_hash,
                "zkey_sha256": c.zkey_after,
            }
            for c in contributions
        ],
        "beacon": ceremony.beacon,
        "beacon_source": ceremony.beacon_source,
        "initial_zkey_sha256": ceremony.initial_zkey,
        "zkey_sha256": ceremony.final_zkey,
        "wasm_sha256": ceremony.wasm_sha256,
        "vkey_sha256": ceremony.vkey_sha256,
        "vkey": ceremony.verification_key,
        "seconds": round(sum(ceremony.seconds.values()), 3),
    }


# --- a hospital's contribution -------------------------------------------------------------------------------


def contribution_limit(ceremony: Ceremony) -> int:
    """The largest zkey a contribution to the ceremony may upload (the current one plus one contribution)."""
    return ceremony.current_zkey_size + ZKEY_GROWTH_LIMIT


def get_ceremony(ceremony_id: int) -> Ceremony:
    ceremony = Ceremony.objects.filter(pk=ceremony_id).first()
    if ceremony is None:
        raise NotFound(f"Ceremony {ceremony_id} does not exist")
    return ceremony


def contributor_slot(ceremony: Ceremony, hospital: Hospital) -> Contribution:
    slot = ceremony.contributions.filter(hospital=hospital).first()
    if slot is None:
        raise PermissionDenied(f"{hospital.name} is not a contributor of ceremony {ceremony.pk}")
    return slot


def accept_contribution(
    hospital: Hospital, ceremony_id: int, previous_sha256: str, chunks: Iterable[bytes]
) -> tuple[Contribution, bool]:
    """Checks and records the hospital's contribution (the zkey its node made from the current one); returns
    it and whether it is new (False: the same upload again, e.g. a retried request). Refuses with the reason,
    storing nothing, a hospital that is not a contributor (403), out of turn, on a stale zkey or after the
    ceremony closed (409), too large (413), and a zkey that is not exactly one valid contribution more than the
    current one (400: a replay, another ceremony's or circuit's zkey, a tampered one)."""
    ceremony = get_ceremony(ceremony_id)
    slot = contributor_slot(ceremony, hospital)
    if not slot.made:
        _check_turn(ceremony, slot, previous_sha256)
    with tempfile.TemporaryDirectory(dir=blobstore.root(), prefix=".ceremony-") as work:
        upload = Path(work) / "contribution.zkey"
        digest = _receive(chunks, upload, contribution_limit(ceremony))
        if slot.made:
            if digest == slot.zkey_after:
                return slot, False
            raise Conflict(
                f"{hospital.name} already contributed to ceremony {ceremony.pk} (turn {slot.position})"
            )
        started = time.perf_counter()
        contribution_hash = _check_zkey(ceremony, slot, upload, digest)
        verify_seconds = time.perf_counter() - started
        return _record_contribution(
            ceremony.pk, slot.pk, previous_sha256, upload, contribution_hash, verify_seconds
        )


def _check_turn(ceremony: Ceremony, slot: Contribution, previous_sha256: str) -> None:
    if ceremony.state != State.CONTRIBUTING:
        raise Conflict(f"Ceremony {ceremony.pk} is {ceremony.state}: it takes no more contributions")
    due = next_contribution(ceremony)
    if due is None or due.pk != slot.pk:
        whose = f"{due.hospital.slug}'s turn (turn {due.position})" if due is not None else "nobody's turn"
        raise Conflict(
            f"It is {whose} in ceremony {ceremony.pk}, not {slot.hospital.slug}'s (turn {slot.position})"
        )
    if previous_sha256 != ceremony.current_zkey:
        raise Conflict(
            f"The contribution was made on zkey {previous_sha256[:16] or '(none named)'}..., but the current zkey "
            f"of ceremony {ceremony.pk} is {ceremony.current_zkey[:16]}...: download it and contribute again"
        )


def _receive(chunks: Iterable[bytes], target: Path, limit: int) -> str:
    digest = hashlib.sha256()
    size = 0
    with open(target, "wb") as out:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise UploadTooLarge(
                    f"A contribution may be at most {limit} bytes (the current zkey and one contribution)"
                )
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _zkey_info(path: Path, what: str) -> ZkeyInfo:
    try:
        return read_zkey(path)
    except (FormatError, OSError) as exc:
        raise InvalidUpload(f"{what} is not a Groth16 zkey ({exc})") from None


def _check_zkey(ceremony: Ceremony, slot: Contribution, upload: Path, digest: str) -> str:
    """The upload's checks, cheapest first; returns its new contribution's hash."""
    known = set(ceremony.contributions.exclude(zkey_after="").values_list("zkey_after", flat=True))
    if digest in known | {ceremony.initial_zkey}:
        raise InvalidUpload(f"Replay refused: this zkey is already in ceremony {ceremony.pk}'s chain")
    if Contribution.objects.filter(zkey_after=digest).exists():
        raise InvalidUpload("Replay refused: this zkey was contributed to another ceremony")
    new = _zkey_info(upload, "The upload")
    current = _zkey_info(blobstore.path_of(ceremony.current_zkey), "The current zkey")
    if new.circuit_hash != current.circuit_hash:
        raise InvalidUpload(f"The zkey is for another circuit than ceremony {ceremony.pk}'s")
    before = len(current.contributions)
    if len(new.contributions) != before + 1:
        raise InvalidUpload(
            f"A contribution adds exactly one contribution to the current zkey, which has {before}; the upload "
            f"has {len(new.contributions)}"
        )
    for mine, theirs in zip(current.contributions, new.contributions, strict=False):
        if mine.raw != theirs.raw:
            raise InvalidUpload(
                f"The zkey does not extend ceremony {ceremony.pk}'s current zkey: its contribution {theirs.index} "
                "differs (a zkey of another ceremony, or altered)"
            )
    added = new.contributions[-1]
    if added.is_beacon:
        raise InvalidUpload("The new contribution is a beacon, not a contribution with secret randomness")
    if added.name != slot.hospital.slug:
        raise InvalidUpload(f"The contribution must be named {slot.hospital.slug!r}, not {added.name!r}")
    ptau = _ceremony_ptau(ceremony)
    try:
        check = phase2.verify_chain(blobstore.path_of(ceremony.initial_zkey), ptau, upload)
        hashes = phase2.contribution_hashes(upload) if check.valid else []
    except SnarkjsError as exc:
        raise InvalidUpload(f"The zkey does not verify (snarkjs zkey verify): {exc}") from None
    if not check.valid:
        raise InvalidUpload(f"The zkey does not verify (snarkjs zkey verify): {check.reason}")
    return hashes[-1]["hash"]


def _ceremony_ptau(ceremony: Ceremony) -> Path:
    ptau = Path(settings.DH_PTAU_PATH)
    if not ptau.is_file() or file_sha256(ptau) != ceremony.ptau_sha256:
        raise Conflict(
            f"The portal's powers-of-tau file (DH_PTAU_PATH) is not the one ceremony {ceremony.pk} started from "
            f"({ceremony.ptau_name}, sha256 {ceremony.ptau_sha256[:16]}...)"
        )
    return ptau


def _record_contribution(
    ceremony_id: int,
    slot_id: int,
    previous_sha256: str,
    upload: Path,
    contribution_hash: str,
    verify_seconds: float,
) -> tuple[Contribution, bool]:
    with transaction.atomic():
        ceremony = Ceremony.objects.select_for_update().get(pk=ceremony_id)
        slot = Contribution.objects.select_related("hospital").get(pk=slot_id)
        _check_turn(ceremony, slot, previous_sha256)  # again under the lock: nothing changed meanwhile
        with open(upload, "rb") as handle:
            digest, size = blobstore.put_chunks(
                iter(lambda: handle.read(1 << 20), b""), upload.stat().st_size
            )
        slot.zkey_before, slot.zkey_after = ceremony.current_zkey, digest
        slot.contribution_hash, slot.verify_seconds = contribution_hash, round(verify_seconds, 3)
        slot.contributed_at = timezone.now()
        slot.save()
        ceremony.current_zkey, ceremony.current_zkey_size = digest, size
        ceremony.seconds["verify"] = round(ceremony.seconds.get("verify", 0.0) + verify_seconds, 3)
        last = not ceremony.contributions.filter(zkey_after="").exists()
        if last:
            ceremony.state = State.FINALIZING
            ceremony.last_contribution_block = beacons.latest_block_or_none()
        ceremony.save()
        total = ceremony.contributions.count()
        _record(
            ceremony,
            slot.hospital.slug,
            "ceremony_contribution",
            {
                "ceremony": ceremony.pk,
                "hospital": slot.hospital.slug,
                "turn": slot.position,
                "of": total,
                "zkey_before": slot.zkey_before,
                "zkey_after": digest,
                "contribution_hash": contribution_hash,
                "verify_seconds": slot.verify_seconds,
                **({"block": ceremony.last_contribution_block} if last else {}),
            },
        )
    log.info(
        "ceremony %s: %s contributed (turn %s of %s)", ceremony.pk, slot.hospital.slug, slot.position, total
    )
    return slot, True


# --- finalization ------------------------------------------------------------------------------------------------


@contextmanager
def _finalizing(ceremony_id: int) -> Iterator[bool]:
    """One finalization of a ceremony at a time across processes (PostgreSQL advisory lock; SQLite: the
    demo's single worker)."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = [ADVISORY_LOCK_KEY, ceremony_id]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


def finalize(ceremony_id: int) -> Ceremony:
    """FINALIZING -> READY: the beacon, `snarkjs zkey beacon`, the whole chain verified, the verification key
    exported and the key's files stored; FAILED with the reason if the final key does not verify. Returns the
    ceremony as it is afterwards (still FINALIZING while the beacon's block is not mined, or while another
    process finalizes). Idempotent."""
    with _finalizing(ceremony_id) as held:
        ceremony = get_ceremony(ceremony_id)
        if not held or ceremony.state != State.FINALIZING:
            return ceremony
        started = time.perf_counter()
        beacon = _beacon(ceremony)
        if beacon is None:
            return ceremony
        try:
            final = _final_key(ceremony, beacon)
        except (SnarkjsError, OSError, CeremonyError) as exc:
            return _fail(ceremony, f"the final key could not be made or does not verify: {exc}")
        with transaction.atomic():
            locked = Ceremony.objects.select_for_update().get(pk=ceremony_id)
            if locked.state != State.FINALIZING:
                return locked
            for name, value in final.items():
                setattr(locked, name, value)
            locked.beacon, locked.beacon_source = beacon.hex, beacon.source
            locked.state, locked.ready_at = State.READY, timezone.now()
            locked.seconds["finalize"] = round(time.perf_counter() - started, 3)
            locked.save()
            _record(
                locked,
                "portal",
                "ceremony_ready",
                {
                    "ceremony": locked.pk,
                    "beacon": beacon.hex,
                    "beacon_source": beacon.source,
                    "zkey_sha256": locked.final_zkey,
                    "vkey_sha256": locked.vkey_sha256,
                    "seconds": locked.seconds,
                },
            )
        log.info("ceremony %s is ready (%s)", ceremony_id, beacon.source)
        return locked


def _beacon(ceremony: Ceremony) -> beacons.Beacon | None:
    if not beacons.chain_enabled():
        return beacons.fresh_random()
    try:
        if ceremony.last_contribution_block is None:  # the chain did not answer at acceptance: from now on
            ceremony.last_contribution_block = beacons.latest_block()
            ceremony.save(update_fields=["last_contribution_block", "updated_at"])
        return beacons.beacon_after(ceremony.last_contribution_block)
    except beacons.ChainNotAnswering as exc:
        log.warning("ceremony %s: no beacon yet: %s", ceremony.pk, exc)
        return None


def _final_key(ceremony: Ceremony, beacon: beacons.Beacon) -> dict[str, Any]:
    """Applies the beacon, verifies the whole chain and stores the final key's files; the fields to record."""
    ptau = _ceremony_ptau(ceremony)
    shape = CircuitShape(**ceremony.shape)
    artifacts = build_circuit(shape)
    if artifacts.key != ceremony.circuit_key:
        raise CeremonyError("the circuit's sources changed since the ceremony started")
    with tempfile.TemporaryDirectory(dir=blobstore.root(), prefix=".ceremony-") as work:
        final = Path(work) / "final.zkey"
        phase2.apply_beacon(blobstore.path_of(ceremony.current_zkey), final, beacon.hex)
        check = phase2.verify_chain(blobstore.path_of(ceremony.initial_zkey), ptau, final)
        if not check.valid:
            raise CeremonyError(check.reason)
        contributions = read_zkey(final).contributions
        expected = list(ceremony.contributions.order_by("position").values_list("hospital__slug", flat=True))
        if [c.name for c in contributions[:-1]] != expected or not contributions[-1].is_beacon:
            raise CeremonyError(
                "the final key's contributions are not the ceremony's hospitals and the beacon"
            )
        vkey = phase2.export_verification_key(final)
        with open(final, "rb") as handle:
            zkey_digest, _ = blobstore.put_chunks(
                iter(lambda: handle.read(1 << 20), b""), final.stat().st_size
            )
    with open(artifacts.wasm, "rb") as handle:
        wasm_digest, _ = blobstore.put_chunks(
            iter(lambda: handle.read(1 << 20), b""), artifacts.wasm.stat().st_size
        )
    return {
        "final_zkey": zkey_digest,
        "wasm_sha256": wasm_digest,
        "vkey_sha256": blobstore.put_bytes(canonical_json(vkey)),
        "verification_key": vkey,
    }


def _fail(ceremony: Ceremony, reason: str) -> Ceremony:
    with transaction.atomic():
        locked = Ceremony.objects.select_for_update().get(pk=ceremony.pk)
        if locked.state in (State.READY, State.FAILED):
            return locked
        locked.state, locked.reason = State.FAILED, reason
        locked.save(update_fields=["state", "reason", "updated_at"])
        _record(locked, "portal", "ceremony_failed", {"ceremony": locked.pk, "reason": reason})
    log.warning("ceremony %s failed: %s", ceremony.pk, reason)
    return locked


# --- the audit trail ---------------------------------------------------------------------------------------------


def _record(ceremony: Ceremony, actor: str, kind: str, detail: dict[str, Any]) -> None:
    """An event on each round waiting for the ceremony (pushed to its watchers), or the portal's trail when
    none waits."""
    round_ids = [int(r) for r in ceremony.waiting_rounds] or [None]
    for round_id in round_ids:
        record_event(round_id, actor, kind, detail)
        if round_id is not None:
            transaction.on_commit(
                lambda r=round_id: realtime.publish_round_event(r, kind, detail),
            )
