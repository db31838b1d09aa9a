"""One round at a hospital: download the global model and config, train, protect, prove, upload."""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from fl import params as fl_params
from fl.data import Dataset
from fl.local_data import load_local_dataset
from fl.models import architecture_hash, build_model, get_architecture
from fl.serialization import weights_from_bytes
from fl.strategy import client_strategy_for
from fl.training import TrainConfig, evaluate
from node import chain as node_chain
from node import keys, protecting, proving
from node.client import PortalClient, PortalError
from node.config import CONTRIBUTIONS_FILE, NodeConfig
from protocol import signing
from protocol.node_task import SIGNERS, ArchitectureRef, ChainMaterial, RoundConfig
from protocol.upload import Upload

log = logging.getLogger(__name__)
LOCAL_VALIDATION_FRACTION = 0.1


def training_seed(node_seed: int, model_version: int) -> int:
    """The node's seed for training from one global model version: the same seeds reproduce a whole run."""
    return int.from_bytes(hashlib.sha256(f"{node_seed}:{model_version}".encode()).digest()[:4], "little")


def split_local_validation(dataset: Dataset, seed: int) -> tuple[Dataset, Dataset]:
    order = np.random.default_rng(seed).permutation(len(dataset))
    cut = max(1, int(len(dataset) * LOCAL_VALIDATION_FRACTION))
    return dataset.subset(order[cut:]), dataset.subset(order[:cut])


def train_config(config: RoundConfig) -> TrainConfig:
    """The local training options of the round's configuration (its proof_steps are for proving)."""
    return TrainConfig(
        loss=config.loss,
        optimiser=config.optimiser,
        lr=config.lr,
        head_lr=config.head_lr,
        local_epochs=config.local_epochs,
        batch_size=config.batch_size,
        fedprox_mu=config.fedprox_mu,
        augment=config.augment,
        sampling=config.sampling,
    )


def signs_on_chain(chain: ChainMaterial) -> bool:
    """Whether this node signs its own submission on chain (else the portal does, on the local dev chain)."""
    if chain.signer not in SIGNERS:
        raise ValueError(
            f"this node does not know the chain signer {chain.signer!r}: update the node software"
        )
    return chain.signer == "node"


def model_template(architecture: ArchitectureRef) -> fl_params.StateDict:
    """A state of the round's architecture as this node's software defines it, once its hash is the plan's: a
    model defined otherwise on the portal (another version, or a portal naming one model and meaning another)
    is refused before anything is trained."""
    own = architecture_hash(architecture.key)  # ValueError for an architecture this software does not know
    if own != architecture.hash:
        raise ValueError(
            f"the round's model {architecture.key} is defined differently on the portal (architecture hash "
            f"{architecture.hash[:12]}...) than in this node's software ({own[:12]}...): run the same version of "
            "the software as the portal"
        )
    return build_model(architecture.key, architecture.num_classes).state_dict()


def run_round(client: PortalClient, round_id: int, config: NodeConfig, home: Path) -> dict[str, Any]:
    """Runs this hospital's part of a round with the node's configuration and home; returns what was done.
    Safe to call twice (skips if submitted). The upload carries the node's signature (protocol.signing)."""
    try:
        task = client.round_task(round_id)
    except PortalError as exc:
        if exc.status != 409:
            raise
        log.warning("round %s: no task: %s", round_id, exc.detail)  # not collecting yet, or cancelled
        return {"round": round_id, "skipped": exc.detail}
    if task.submitted:
        return {"round": round_id, "skipped": "already submitted"}
    if task.state != "COLLECTING":
        return {"round": round_id, "skipped": f"round is {task.state}"}
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    architecture = task.architecture
    template = model_template(architecture)
    global_vector = weights_from_bytes(client.get_bytes(task.model.weights_url))
    if len(global_vector) != fl_params.parameter_count(template):
        raise ValueError("the downloaded model does not match its declared architecture")
    seed = training_seed(config.seed, task.model.version)
    sample_shape = get_architecture(architecture.key).input_shape
    dataset = load_local_dataset(config.data_path, architecture.num_classes, sample_shape)
    train_set, val_set = split_local_validation(dataset, seed)
    training = train_config(task.config)
    seconds["download"] = time.perf_counter() - started

    started = time.perf_counter()
    update = client_strategy_for(training).client_update(
        fl_params.unflatten(global_vector, template),
        architecture.key,
        training,
        train_set,
        seed,
        step_rule=proving.step_rule(task.proof),
    )
    result = update.result
    local = evaluate(result.state, architecture.key, val_set)
    seconds["training"] = time.perf_counter() - started

    started = time.perf_counter()
    proof, head = proving.prove(task.proof, result, client, home / CONTRIBUTIONS_FILE) or (None, None)
    seconds["proof"] = time.perf_counter() - started

    started = time.perf_counter()
    blob = protecting.protect(
        task.protection,
        update.weighted_update,
        client,
        config.allow_plaintext,
        config.pinned_key_parties,
        head=head,
    )
    seconds["protection"] = time.perf_counter() - started
    if task.protection.scheme == "ckks":
        head = None  # it travels inside the encrypted upload, shared between the key parties

    if task.chain is not None and signs_on_chain(task.chain):  # before the upload, which the portal checks
        started = time.perf_counter()
        node_chain.submit_on_chain(task.chain, blob, proof, config.chain_rpc_url, config.chain_key_file)
        seconds["chain"] = time.perf_counter() - started

    metrics = {
        **{f"train_{k}": v for k, v in result.metrics.items()},
        **{f"local_val_{k}": v for k, v in local.items()},
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }
    signature = None
    if config.signing_key_file:
        if task.protection.norm_bound is None:
            raise ValueError("the round's task names no update norm bound to sign: update the portal")
        statement = signing.upload_statement(
            round_id,
            hashlib.sha256(blob).hexdigest(),
            result.num_samples,
            task.protection.norm_bound,
            task.protection.dp_noise_std,
        )
        signature = signing.sign_text(keys.load_key(Path(config.signing_key_file)), statement)
    upload = Upload(
        num_samples=result.num_samples, metrics=metrics, proof=proof, head=head, signature=signature
    )
    started = time.perf_counter()
    try:
        client.upload(round_id, blob, upload)
    except PortalError as exc:
        if exc.status != 409:
            raise
        # Uploaded by an earlier run whose answer was lost, or the round stopped collecting: nothing to redo.
        log.warning("round %s: upload refused: %s", round_id, exc.detail)
        return {"round": round_id, "skipped": exc.detail}
    seconds["upload"] = time.perf_counter() - started
    log.info("round %s: update uploaded (%d bytes)", round_id, len(blob))
    return {"round": round_id, "bytes": len(blob), "num_samples": result.num_samples, "seconds": seconds}
