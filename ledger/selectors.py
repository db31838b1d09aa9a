"""Reads of a round's chain record: its transactions and gas, and the audit of the chain against the database.

The audit reads the round from the registry and from the portal's database and lists every field on which they
disagree: the base model's hash, the config hash, each hospital's update hash and proof hash (or a submission
missing on either side), the participants, the new model's hash, the state, and each transaction the database
says it sent. A tampered database row (or a chain the portal did not write) shows up as a difference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from contracts.client import all_proofs_hash, submission_proof_hash
from contracts.registry import RoundRegistry
from hospitals.models import Hospital
from ledger import connection as chain
from ledger.models import ChainDeployment, ChainTransaction
from ledger.services import round_transaction, submission_proofs
from protocol.node_task import ChainMaterial
from registry.selectors import model_produced_by

if TYPE_CHECKING:
    from rounds.models import Round

Kind = ChainTransaction.Kind
ZERO_HASH = "0x" + "00" * 32
# The registry's states a round may be in for each database state (transactions follow the state change).
CHAIN_STATES: dict[str, set[str]] = {
    "DRAFT": {"none"},
    "APPROVED": {"none"},
    "OPEN": {"none", "open"},
    "COLLECTING": {"open"},
    "AGGREGATING": {"open", "closed"},
    "COMPLETED": {"closed"},
    "FAILED": {"none", "cancelled"},
    "CANCELLED": {"none", "cancelled"},
}
EVENT_KINDS = {
    "RoundOpened": Kind.OPEN,
    "SubmissionRecorded": Kind.SUBMIT,
    "RoundClosed": Kind.CLOSE,
    "RoundCancelled": Kind.CANCEL,
}


def chain_record(round_: Round) -> dict[str, Any] | None:
    """The round's transactions as the database has them, with the gas of the round's own transactions."""
    rows = list(round_.chain_transactions.select_related("deployment", "hospital").order_by("id"))
    if not rows:
        return None
    deployment = rows[0].deployment
    return {
        "chain_id": deployment.chain_id,
        "contract": deployment.registry_address,
        "gas_used": sum(row.gas_used for row in rows if row.kind != Kind.REGISTER),
        "transactions": [
            {
                "kind": row.kind,
                "hospital": row.hospital.slug if row.hospital else None,
                "tx_hash": row.tx_hash,
                "block_number": row.block_number,
                "gas_used": row.gas_used,
            }
            for row in rows
        ],
    }


def registry_address(round_: Round) -> str:
    """The registry the round was opened in on chain ("" when it was not): what the key parties read it from."""
    opened = round_transaction(round_, Kind.OPEN)
    return opened.deployment.registry_address if opened is not None else ""


def node_chain_task(round_: Round, hospital: Hospital) -> ChainMaterial | None:
    """What a hospital's node needs to record its own submission: the registry, the round's id there, the
    address registered for it, and who signs ("portal" with the local chain's dev keys, else "node")."""
    opened = round_transaction(round_, Kind.OPEN)
    if opened is None or not hospital.chain_address:
        return None
    return ChainMaterial(
        chain_id=opened.deployment.chain_id,
        contract=opened.deployment.registry_address,
        round=round_.pk,
        address=hospital.chain_address,
        signer="node",
    )


def _hash(sha256_hex: str) -> str:
    return "0x" + sha256_hex


def _find_registry(round_: Round) -> RoundRegistry | None:
    """The registry the round was opened in: the database's open transaction says which, else any of this
    chain's registries that has the round (so a deleted transaction row does not hide the chain's record)."""
    opened = round_transaction(round_, Kind.OPEN)
    if opened is not None:
        return chain.registry_of(opened.deployment)
    connection = chain.connection()
    for deployment in ChainDeployment.objects.filter(chain_id=connection.chain_id).order_by("-id"):
        registry = chain.registry_of(deployment)
        if registry.read_round(round_.pk).state != "none":
            return registry
    return None


def audit_round(round_: Round) -> dict[str, Any]:
    """Chain against database for one round: {"consistent", "differences": [{"field", "hospital"?, "database",
    "chain"}], ...}. Raises ChainUnavailable / ChainRefused when the chain cannot be read."""
    with chain.chain_errors():
        registry = _find_registry(round_)
        record = registry.read_round(round_.pk) if registry is not None else None
        chain_state = record.state if record is not None else "none"
        chain_submissions = {
            address.lower(): registry.read_submission(round_.pk, address)
            for address in (record.submitters if record is not None else ())
        }
        events = registry.round_events(round_.pk) if registry is not None else []

    names = {
        address.lower(): slug
        for slug, address in Hospital.objects.exclude(chain_address="").values_list("slug", "chain_address")
    }

    def who(address_or_slug: str) -> str:
        return names.get(address_or_slug.lower(), address_or_slug)

    differences: list[dict[str, Any]] = []
    excluded: list[dict[str, str]] = []

    def differ(field: str, database: Any, on_chain: Any, hospital: str | None = None) -> None:
        if database != on_chain:
            entry = {"field": field, "database": database, "chain": on_chain}
            if hospital is not None:
                entry["hospital"] = hospital
            differences.append(entry)

    if chain_state not in CHAIN_STATES[round_.state]:
        differ("state", round_.state, chain_state)
    if record is not None:
        differ("model_hash", _hash(round_.base_model.weights_digest), record.model_hash)
        differ("config_hash", _hash(round_.config_hash), record.config_hash)

        submissions = {
            (s.hospital.chain_address or s.hospital.slug).lower(): s
            for s in round_.submissions.select_related("hospital")
        }
        for key in sorted(set(submissions) | set(chain_submissions)):
            database, on_chain = submissions.get(key), chain_submissions.get(key)
            if database is None or on_chain is None:
                differ(
                    "submission",
                    _hash(database.blob_digest) if database else None,
                    on_chain.update_hash if on_chain else None,
                    who(key),
                )
                continue
            if database.excluded_reason:  # left out of the sum because the chain records something else
                excluded.append({"hospital": who(key), "reason": database.excluded_reason})
                continue
            differ("update_hash", _hash(database.blob_digest), on_chain.update_hash, who(key))
            differ(
                "proof_hash",
                submission_proof_hash(submission_proofs(database, registry)),
                on_chain.proof_hash,
                who(key),
            )
            differ(
                "all_proofs_hash", all_proofs_hash(database.proof or {}), on_chain.all_proofs_hash, who(key)
            )

        result = model_produced_by(round_.pk)
        if result is not None or chain_state == "closed":
            differ(
                "new_model_hash", _hash(result.weights_digest) if result else ZERO_HASH, record.new_model_hash
            )
            included = Hospital.objects.filter(
                slug__in=(result.metrics.get("participants", []) if result else [])
            )
            differ(
                "participants",
                sorted(who(h.chain_address or h.slug) for h in included),
                sorted(who(address) for address in record.participants),
            )

    recorded = {
        (row.kind, row.hospital.slug if row.hospital else None): row.tx_hash
        for row in round_.chain_transactions.exclude(kind=Kind.REGISTER).select_related("hospital")
    }
    mined = {
        (EVENT_KINDS[e["event"]], who(e["args"]["hospital"]) if "hospital" in e["args"] else None): e[
            "tx_hash"
        ]
        for e in events
        if e["event"] in EVENT_KINDS  # a commitment is completed by its SubmissionRecorded
    }
    left_out = {entry["hospital"] for entry in excluded}  # their submit transaction was never stored: refused
    for kind, hospital in sorted(set(recorded) | set(mined), key=lambda k: (k[0], k[1] or "")):
        if kind == Kind.SUBMIT and hospital in left_out:
            continue
        differ(f"{kind}_transaction", recorded.get((kind, hospital)), mined.get((kind, hospital)), hospital)

    return {
        "round": round_.pk,
        "consistent": not differences,
        "chain_id": registry.connection.chain_id if registry is not None else None,
        "contract": registry.address if registry is not None else None,
        "state": {"database": round_.state, "chain": chain_state},
        "differences": differences,
        "excluded": excluded,
    }


def submission_chain_tx(round_id: int, hospital_id: int) -> ChainTransaction | None:
    """The transaction that recorded a hospital's submission to a round, once mined."""
    return ChainTransaction.objects.filter(
        round_id=round_id, hospital_id=hospital_id, kind=Kind.SUBMIT
    ).first()
