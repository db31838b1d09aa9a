"""The Groth16 trusted setup of a round's proof of training, prepared when the round opens.

Phase 1 is a prepared powers-of-tau file (settings.DH_PTAU_PATH: the public Hermez file in production, a dev
file here). Phase 2 (crypto.zk.Ceremony) has one contribution from every registered hospital, named by its
slug, in registration order, then a public beacon. Nobody can forge a proof unless every contributor of both
phases colluded: that is what the contributions are for.

In this single-machine product the portal runs each hospital's contribution for it, with fresh entropy from
os.urandom that is never stored. That keeps the demo self-contained but means the portal's machine saw every
contribution's entropy go by: it is not a real multi-party ceremony. In production each hospital runs its own
contribution on its own machine (`snarkjs zkey contribute`, see docs/PROOFS.md) and passes the zkey on.

Every step is cached by crypto.zk under the hash of the ptau and the steps before it: the same participants
reuse the same key; a newly registered hospital adds one contribution and a new beacon. The finished key's
files (zkey, circuit wasm, verification key) are copied into the portal's content-addressed blob store, so
nodes download them by digest and a round keeps its key even if the cache is cleared; the verification key
and the digests are recorded on the round (Round.proof_setup).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from crypto.zk import Ceremony, CircuitShape, build_circuit
from crypto.zk.build import file_sha256
from crypto.zk.node import SnarkjsError
from fl.models import FEATURE_DIM
from hospitals.models import Hospital
from protocol.plan import canonical_json
from registry import blobstore
from web.errors import InvalidInput

if TYPE_CHECKING:
    from rounds.models import Round

BEACON_DOMAIN = "decentrahealth/zk/beacon/v1"
# Batch sizes whose head-step circuit fits a 2^15 powers-of-tau file for two classes (15,354 and 24,805
# constraints); a larger batch needs a larger ptau and a slower setup.
PROVABLE_BATCH_SIZES = (8, 16)
ARTIFACTS = ("zkey", "wasm", "vkey")


class CeremonyError(Exception):
    """The round's proving key could not be prepared; the message says why."""


def check_provable(config: dict[str, Any]) -> None:
    """Refuses (400) a training configuration whose head steps the circuit cannot prove."""
    if config["loss"] != "mse_onehot":
        raise InvalidInput(
            "Proofs of training need the fixed-point head: set loss to mse_onehot (or plan the round without "
            "proofs)"
        )
    if config["batch_size"] not in PROVABLE_BATCH_SIZES:
        raise InvalidInput(
            f"batch_size {config['batch_size']} has no proving circuit: with proofs of training the batch size "
            f"must be one of {', '.join(map(str, PROVABLE_BATCH_SIZES))} (the circuit proves one batch per step)"
        )


def circuit_shape(round_: Round) -> CircuitShape:
    return CircuitShape(
        features=FEATURE_DIM,
        classes=round_.base_model.architecture.num_classes,
        batch=int(round_.config["batch_size"]),
    )


def ceremony_participants() -> list[str]:
    """Every registered hospital, oldest first: a newly registered one extends the cached chain by one step."""
    return list(Hospital.objects.order_by("created_at", "pk").values_list("slug", flat=True))


def beacon_for(participants: list[str]) -> str:
    """The final beacon: public and fixed by the participants, so the whole chain is cached. In production
    use a value nobody could know while contributing, e.g. the hash of a future block of the chain."""
    return hashlib.sha256("\0".join([BEACON_DOMAIN, *participants]).encode()).hexdigest()


def _store_file(path: Path) -> str:
    with open(path, "rb") as handle:
        digest, _ = blobstore.put_chunks(iter(lambda: handle.read(1 << 20), b""), path.stat().st_size)
    return digest


def prepare_round_key(round_: Round) -> dict[str, Any]:
    """Builds (or reuses) the circuit and proving key for the round; returns what the round records of them."""
    ptau = Path(settings.DH_PTAU_PATH)
    if not ptau.is_file():
        raise CeremonyError(
            f"no powers-of-tau file at {ptau}: set DH_PTAU_PATH to a prepared ptau of at least 2^15 "
            "(e.g. Hermez's powersOfTau28_hez_final_15.ptau)"
        )
    participants = ceremony_participants()
    beacon = beacon_for(participants)
    started = time.perf_counter()
    try:
        artifacts = build_circuit(circuit_shape(round_))
        ceremony = Ceremony(artifacts, ptau)
        for slug in participants:
            ceremony.contribute(slug)
        proving_key = ceremony.finalize(beacon)
    except (SnarkjsError, RuntimeError) as exc:
        raise CeremonyError(f"the trusted setup failed: {exc}") from None
    vkey = proving_key.verification_key()
    shape = artifacts.shape
    setup = {
        "shape": {"features": shape.features, "classes": shape.classes, "batch": shape.batch},
        "constraints": artifacts.constraints,
        "circuit_key": artifacts.key,
        "ptau": ptau.name,
        "ptau_sha256": file_sha256(ptau),
        "participants": participants,
        "beacon": beacon,
        "zkey_sha256": _store_file(proving_key.zkey),
        "wasm_sha256": _store_file(artifacts.wasm),
        "vkey_sha256": blobstore.put_bytes(canonical_json(vkey)),
        "vkey": vkey,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return setup
