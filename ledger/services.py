"""Every round recorded on an Ethereum chain, in the RoundRegistry of contracts/: the portal's chain writes.

Per round (hashes are the portal's SHA-256 digests, as bytes32):
    open     openRound(round id, base model's weights digest, config hash)      coordinator, when the round opens
    submit   submit(round id, update blob digest, the submission's Groth16 proofs, verified on chain), or with every
             step proven, commit(round id, digest, hash of all its proofs) then proveSample(the sample the chain
             drew from the commitment's block hash)                              the hospital's node, its own key
    close    closeRound(round id, new model's weights digest, participants' addresses)   before COMPLETED
    cancel   cancelRound(round id)                                 coordinator, when an opened round fails or is cancelled
Hospitals are registered on a registry by the coordinator's account before they submit. One registry is deployed
per Groth16 verification key (the round's proving key, `proofs.ceremony`), with the verifier exported from it;
rounds without proofs use a registry without a verifier, whose submissions carry none.

Modes (settings.DH_CHAIN):
- local: a hardhat node (the demo and tests start their own). The coordinator is dev account 0; it funds each
  hospital's own account (made by its node at enrollment) when it registers it.
- sepolia: the portal holds the coordinator's key only (DH_CHAIN_PRIVATE_KEY, read from the environment when
  connecting, never stored or logged); each hospital funds its own account.
In both, each hospital submits from its own key, whose address its node registered at enrollment: the portal
registers that address on the registry, and the node sends submit(round id, 0x<its update's SHA-256>, its
proofs) to the registry named in its round task itself; the portal then finds that submission on chain, checks
it records the upload, and stores it (docs: contracts/README.md). The portal signs only its own transactions.
- off: nothing is recorded (tests of unrelated things).

Idempotent: each transaction is looked up in ChainTransaction, then on chain (a crash after sending and before
storing, or another worker, may have sent it), and only then sent. A refusal raises ChainRefused with the
contract's revert reason (the round fails with it); an endpoint that does not answer raises ChainUnavailable,
which the tasks retry.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from eth_utils import to_checksum_address

from contracts.client import (
    ChainError,
    SnarkjsProof,
    TxResult,
    all_proofs_hash,
    bundle_proofs,
    deploy,
    submission_proof_hash,
)
from contracts.registry import RoundRegistry
from crypto.paths import cache_dir
from crypto.zk import ProvingKey, build_circuit, export_solidity_verifier
from crypto.zk.node import SnarkjsError
from events import realtime
from events.services import record_event
from hospitals.models import Hospital
from ledger.connection import ChainRefused, ChainUnavailable, chain_errors, connection, enabled, registry_of
from ledger.models import ChainDeployment, ChainTransaction
from proofs import ceremony
from registry import blobstore
from web.errors import NotFound

if TYPE_CHECKING:
    from rounds.models import Round, Submission

log = logging.getLogger(__name__)
Kind = ChainTransaction.Kind


# --- deployments and hospitals --------------------------------------------------------------------------------


def verifier_source(round_: Round) -> tuple[str, Path | None]:
    """(verification key digest, Solidity verifier) of the round's proving key; ("", None) without proofs."""
    setup = round_.proof_setup
    if round_.proof_scheme == "none":
        return "", None
    if not setup:
        raise ChainRefused("the round's proving key is not prepared, so its verifier cannot be deployed")
    out = cache_dir() / "verifiers" / f"{setup['vkey_sha256']}.sol"
    if not out.exists():
        # export_solidity_verifier writes beside the zkey: work on a copy of the round's zkey from the blob store.
        with tempfile.TemporaryDirectory() as work:
            zkey = Path(work) / "round.zkey"
            shutil.copyfile(blobstore.path_of(setup["zkey_sha256"]), zkey)
            artifacts = build_circuit(ceremony.circuit_shape(round_))
            export_solidity_verifier(ProvingKey(artifacts, zkey, zkey.with_suffix(".vkey.json")), out)
    return setup["vkey_sha256"], out


def deployment_for(round_: Round) -> ChainDeployment:
    """The registry for the round's verification key on the current chain, deployed the first time it is needed
    (and again when a restarted local chain no longer has it)."""
    chain = connection()
    try:
        key_digest, verifier_sol = verifier_source(round_)
    except (NotFound, OSError, SnarkjsError) as error:  # the round's zkey is gone, or snarkjs failed
        raise ChainRefused(f"the round's Groth16 verifier could not be exported: {error}") from None
    with chain_errors():
        existing = (
            ChainDeployment.objects.filter(
                chain_id=chain.chain_id,
                verification_key_digest=key_digest,
                coordinator_address=chain.coordinator.address,
            )
            .order_by("-id")
            .first()
        )
        if existing is not None and chain.w3.eth.get_code(existing.registry_address):
            return existing
        deployed = deploy(chain, verifier_sol)
    gas = deployed.registry_tx.gas_used + (deployed.verifier_tx.gas_used if deployed.verifier_tx else 0)
    log.info("round registry deployed at %s on chain %d (gas %d)", deployed.registry, deployed.chain_id, gas)
    return ChainDeployment.objects.create(
        chain_id=deployed.chain_id,
        verification_key_digest=key_digest,
        registry_address=deployed.registry,
        verifier_address=deployed.verifier,
        coordinator_address=chain.coordinator.address,
        num_public_signals=deployed.num_public_signals,
        deploy_gas_used=gas,
        registry_tx_hash=deployed.registry_tx.tx_hash,
    )


def hospital_address(hospital: Hospital) -> str:
    """The address the hospital's node registered at enrollment: its own key, which the portal never holds."""
    if not hospital.chain_address:
        raise ChainRefused(
            f"{hospital.name}'s node has not enrolled: it registers the address of its own chain key at "
            "enrollment (dh-node enroll)"
        )
    return to_checksum_address(hospital.chain_address)


# On the local dev chain the coordinator gives each hospital's account enough to pay for its submissions
# (on Sepolia a hospital funds its own account).
LOCAL_FUNDING_WEI = 10**19
LOCAL_MIN_BALANCE_WEI = 10**18


def _fund_locally(address: str) -> None:
    chain = connection()
    if settings.DH_CHAIN == "local" and chain.w3.eth.get_balance(address) < LOCAL_MIN_BALANCE_WEI:
        chain.send_value(chain.coordinator, address, LOCAL_FUNDING_WEI)


def _ensure_registered(
    registry: RoundRegistry, deployment: ChainDeployment, hospital: Hospital, round_: Round
) -> None:
    address = hospital_address(hospital)
    _fund_locally(address)
    if registry.is_hospital(address):
        return
    try:
        result = registry.register_hospital(address)
    except ChainError:
        if registry.is_hospital(address):  # another worker registered it meanwhile
            return
        raise
    _store(deployment, round_, Kind.REGISTER, hospital, result)


# --- round transactions -----------------------------------------------------------------------------------------


def _bytes32(sha256_hex: str) -> str:
    return "0x" + sha256_hex


def round_transaction(round_: Round, kind: str, hospital: Hospital | None = None) -> ChainTransaction | None:
    return (
        ChainTransaction.objects.select_related("deployment")
        .filter(round=round_, kind=kind, hospital=hospital)
        .first()
    )


def _opened_deployment(round_: Round) -> ChainDeployment:
    opened = round_transaction(round_, Kind.OPEN)
    if opened is None:
        raise ChainRefused(f"round {round_.pk} was not opened on chain")
    return opened.deployment


def _mined(
    registry: RoundRegistry, round_id: int, event: str, hospital: str | None = None
) -> TxResult | None:
    """The transaction that emitted the round's `event` (of `hospital`), if one is on chain already."""
    for entry in registry.round_events(round_id):
        if entry["event"] == event and (hospital is None or entry["args"].get("hospital") == hospital):
            receipt = registry.connection.w3.eth.get_transaction_receipt(entry["tx_hash"])
            return TxResult(entry["tx_hash"], entry["block_number"], receipt["gasUsed"])
    return None


def _send_once(send: Callable[[], TxResult], find: Callable[[], TxResult | None]) -> TxResult:
    mined = find()
    if mined is not None:
        return mined
    try:
        return send()
    except ChainError:
        mined = find()  # refused because another worker's transaction got there first
        if mined is not None:
            return mined
        raise


def _store(
    deployment: ChainDeployment, round_: Round, kind: str, hospital: Hospital | None, result: TxResult
) -> ChainTransaction:
    """Stores the mined transaction with the round, logs it and pushes it to the round's watchers (once)."""
    try:
        with transaction.atomic():
            row = ChainTransaction.objects.create(
                deployment=deployment,
                round=round_,
                kind=kind,
                hospital=hospital,
                tx_hash=result.tx_hash,
                block_number=result.block_number,
                gas_used=result.gas_used,
            )
            detail = {
                "tx_hash": result.tx_hash,
                "block_number": result.block_number,
                "gas_used": result.gas_used,
                "chain_id": deployment.chain_id,
                "contract": deployment.registry_address,
            }
            if hospital is not None:
                detail["hospital"] = hospital.slug
            record_event(round_.pk, "portal", f"chain_{kind}", detail)
            realtime.publish_round_event(round_.pk, f"chain_{kind}", detail)
    except IntegrityError:  # another worker stored it first
        existing = ChainTransaction.objects.filter(round=round_, kind=kind, hospital=hospital).first()
        if existing is None:
            raise
        return existing
    return row


def record_open(round_: Round) -> ChainTransaction | None:
    """openRound with the base model's and the config's hashes; registers the round's hospitals first."""
    if not enabled():
        return None
    opened = round_transaction(round_, Kind.OPEN)
    if opened is not None:
        return opened
    deployment = deployment_for(round_)
    registry = registry_of(deployment)
    with chain_errors():
        for participant in round_.participants.select_related("hospital").filter(opted_out=False):
            _ensure_registered(registry, deployment, participant.hospital, round_)
        result = _send_once(
            lambda: registry.open_round(
                round_.pk,
                _bytes32(round_.base_model.weights_digest),
                _bytes32(round_.config_hash),
                int(round_.config["proof_steps"]) if round_.proof_scheme != "none" else 0,
                round_.proof_scheme != "none" and bool(round_.config.get("prove_every_step")),
            ),
            lambda: _mined(registry, round_.pk, "RoundOpened"),
        )
    return _store(deployment, round_, Kind.OPEN, None, result)


def submission_proofs(submission: Submission, registry: RoundRegistry) -> list[SnarkjsProof]:
    """The uploaded proofs the chain verifies: all of them, or with every step proven, those at the positions the
    chain drew for this hospital's commitment."""
    proofs = bundle_proofs(submission.proof or {})
    if not (submission.proof or {}).get("every_step"):
        return proofs
    positions = registry.sample_positions(submission.round_id, hospital_address(submission.hospital))
    if any(position >= len(proofs) for position in positions):
        raise ChainRefused(
            f"{submission.hospital.name}'s commitment on chain samples proof {max(positions)}, but it uploaded "
            f"{len(proofs)}"
        )
    return [proofs[position] for position in positions]


def record_submission(submission: Submission) -> ChainTransaction | None:
    """submit(round, update hash, proofs) was sent by the hospital's node, signed with its own key: this finds
    it on chain (ChainUnavailable until it is there) and checks that it records this upload."""
    if not enabled():
        return None
    round_, hospital = submission.round, submission.hospital
    recorded = round_transaction(round_, Kind.SUBMIT, hospital)
    if recorded is not None:
        return recorded
    deployment = _opened_deployment(round_)
    registry = registry_of(deployment)
    with chain_errors():
        _ensure_registered(registry, deployment, hospital, round_)
        address = hospital_address(hospital)
        result = _mined(registry, round_.pk, "SubmissionRecorded", address)
        if result is None:
            raise ChainUnavailable(
                f"{hospital.name}'s node has not recorded its submission on chain yet (or has committed it and not "
                "yet proven its sample)"
            )
        # The chain must record this upload and its proofs (a node could record one and upload another).
        recorded = registry.read_submission(round_.pk, address)
        if recorded is None or recorded.update_hash != _bytes32(submission.blob_digest):
            raise ChainRefused(
                f"{hospital.name}'s submission on chain records update {recorded and recorded.update_hash}, "
                f"not its upload's 0x{submission.blob_digest}"
            )
        proof_hash = submission_proof_hash(submission_proofs(submission, registry))
        if recorded.proof_hash != proof_hash:
            raise ChainRefused(
                f"{hospital.name}'s submission on chain records proofs {recorded.proof_hash}, not its upload's "
                f"{proof_hash}"
            )
        # With every step proven the chain verifies a sample: the hash of all the proofs binds the rest.
        uploaded = all_proofs_hash(submission.proof or {})
        if recorded.all_proofs_hash != uploaded:
            raise ChainRefused(
                f"{hospital.name}'s submission on chain records all its proofs as {recorded.all_proofs_hash}, "
                f"not its upload's {uploaded}"
            )
    return _store(deployment, round_, Kind.SUBMIT, hospital, result)


def record_close(
    round_: Round, new_model_digest: str, submissions: Sequence[Submission]
) -> ChainTransaction | None:
    """closeRound with the new model's hash and the addresses of the hospitals whose updates it includes."""
    if not enabled():
        return None
    closed = round_transaction(round_, Kind.CLOSE)
    if closed is not None:
        return closed
    deployment = _opened_deployment(round_)
    registry = registry_of(deployment)
    with chain_errors():
        participants = [hospital_address(s.hospital) for s in submissions]
        result = _send_once(
            lambda: registry.close_round(round_.pk, _bytes32(new_model_digest), participants),
            lambda: _mined(registry, round_.pk, "RoundClosed"),
        )
    return _store(deployment, round_, Kind.CLOSE, None, result)


def record_cancel(round_: Round) -> ChainTransaction | None:
    """cancelRound for a round that failed or was cancelled after it was opened on chain."""
    if not enabled() or round_transaction(round_, Kind.OPEN) is None:
        return None
    cancelled = round_transaction(round_, Kind.CANCEL)
    if cancelled is not None:
        return cancelled
    deployment = _opened_deployment(round_)
    registry = registry_of(deployment)
    with chain_errors():
        if registry.read_round(round_.pk).state == "closed":
            return None
        result = _send_once(
            lambda: registry.cancel_round(round_.pk), lambda: _mined(registry, round_.pk, "RoundCancelled")
        )
    return _store(deployment, round_, Kind.CANCEL, None, result)
