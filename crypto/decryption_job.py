"""A decryption job on disk: what the portal hands the key parties, and the checks each party makes of it.

A job directory, as the portal writes it (write_job): job.json {"format", "round", "min_hospitals",
"update_norm_bound", "vector_length", "sum_digest", "public_context", "blobs", "submissions"}, the public
context and the blobs.

A key party opens only what it has checked itself (load_job): every blob is one hospital's upload for the job's
round, signed by that hospital's own signing key over (round, the blob's SHA-256, n_h, the plan's norm bound)
(protocol.signing); the
signers are distinct and at least max(min_hospitals, MIN_HOSPITALS) of them; the party recomputes the sum itself.
So a portal cannot have a ciphertext of its own making opened (it holds no hospital's key), nor one hospital's
update alone (a sum of one, or one upload beside encryptions of zero under other names, needs other hospitals'
signatures). Every blob also carries a witness: shares of its encryption randomness sealed to each party, from
which the parties check together, before any share of the key is used, that each ciphertext is a well-formed
encryption (crypto.wellformed; check_projections) and that each update's L2 norm is within the round plan's
bound (check_norms: a hospital scaling its update to replace the model), so a hospital's crafted ciphertext or
oversized update is refused and named. With proofs of training, each blob also carries shares of the hospital's
proven head, which the parties hash in MPC and compare with the proof's commitment (check_heads: a hospital whose
shared head is not the one it proved is refused and named) before opening the exact weighted sum of the heads
after the sum (the job's result: split_result). With a DP noise level (JobTerms.dp_noise_std, which every
hospital signs), each party adds its share of Gaussian noise to the sum inside the MPC (crypto.threshold). A
key also opens one sum per round and a bounded amount in all (KeyLedger beside the share): the
portal cannot open two subsets of a round's uploads and subtract them, nor spend the smudging noise's budget.
A key party that pins a chain (TrustedChain) also reads each upload's record in the round's registry itself
(check_chain_records): an upload its hospital did not record there is refused and named.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from crypto import ckks, threshold, wellformed
from crypto.zk.poseidon import FIELD_PRIME
from protocol import signing
from protocol.chain_records import ChainReader, ChainReadError

JOB_FILE = "job.json"
JOB_FORMAT = 4
# No key party opens a sum of fewer hospitals, whatever the job says: a sum of one is that hospital's update.
MIN_HOSPITALS = 2
LEDGER_FILE = "decryptions.json"


class KeyPartyRefusal(Exception):
    """A key party refuses a job (bad blob, unsigned or too few hospitals, sum digest mismatch, no key share)."""


class UploadRefused(KeyPartyRefusal):
    """One signed upload of the job is not a well-formed encryption: the job without it may be opened."""

    def __init__(self, message: str, upload: int):
        super().__init__(message)
        self.upload = upload


@dataclass(frozen=True)
class SignedUpload:
    """Who signed one blob of a job: the hospital, its registered signing address, its n_h and signature."""

    hospital: str
    signer: str
    num_samples: int
    signature: str
    head_commitment: str = ""  # with proofs: Poseidon of the head its proof ends at (decimal), the last leaf

    @classmethod
    def from_json(cls, value: object) -> SignedUpload:
        if not isinstance(value, dict):
            raise ValueError("a submission must be an object")
        return cls(
            hospital=str(value["hospital"]),
            signer=str(value["signer"]),
            num_samples=int(value["num_samples"]),
            signature=str(value["signature"]),
            head_commitment=str(value.get("head_commitment", "")),
        )


@dataclass(frozen=True)
class JobTerms:
    """What a job claims to open: the sum of round `round_id`'s uploads, one per signed upload, in blob order,
    of at least `min_hospitals` hospitals (the round's quorum), each of L2 norm at most `norm_bound` (the
    plan's update_norm_bound on n_h * delta_h). With proofs of training, head_size > 0: each upload carries
    shares of a head of that many values, which must hash to the upload's head_commitment."""

    round_id: int
    min_hospitals: int
    submissions: tuple[SignedUpload, ...]
    norm_bound: float
    head_size: int = 0
    dp_noise_std: float = 0.0  # differential privacy: the std of the noise the parties add to the opened sum
    registry: str = ""  # the round registry the round and its submissions are recorded in ("": none)

    def as_json(self) -> dict:
        return {
            "round": self.round_id,
            "registry": self.registry,
            "min_hospitals": self.min_hospitals,
            "update_norm_bound": self.norm_bound,
            "head_size": self.head_size,
            "dp_noise_std": self.dp_noise_std,
            "submissions": [asdict(submission) for submission in self.submissions],
        }

    @classmethod
    def from_json(cls, value: dict) -> JobTerms:
        norm_bound = float(value["update_norm_bound"])
        if not 0 < norm_bound < float("inf"):
            raise ValueError(f"update_norm_bound {norm_bound} is not a positive finite number")
        head_size = int(value.get("head_size", 0))
        if not 0 <= head_size <= ckks.MAX_HEAD_VALUES:
            raise ValueError(f"head_size {head_size} is not between 0 and {ckks.MAX_HEAD_VALUES}")
        dp_noise_std = float(value.get("dp_noise_std", 0.0))
        if not 0 <= dp_noise_std < float("inf"):
            raise ValueError(f"dp_noise_std {dp_noise_std} is not a finite number of at least 0")
        return cls(
            round_id=int(value["round"]),
            min_hospitals=int(value["min_hospitals"]),
            submissions=tuple(SignedUpload.from_json(item) for item in value["submissions"]),
            norm_bound=norm_bound,
            head_size=head_size,
            dp_noise_std=dp_noise_std,
            registry=str(value.get("registry", "")),
        )

    @property
    def head_commitments(self) -> list[int]:
        """Each upload's head commitment as a field element; ValueError for one that is not."""
        commitments = [int(submission.head_commitment) for submission in self.submissions]
        if any(not 0 <= value < FIELD_PRIME for value in commitments):
            raise ValueError("a head commitment is outside BN254's scalar field")
        return commitments


def result_length(vector_length: int, terms: JobTerms) -> int:
    """A job's opened result: the sum's vector_length values, then the exact weighted sum of the proven heads
    (head_size integers, exact in float64 below 2^53, which the parties check: real heads, weights of a few
    units, are a few times 2^16 in fixed point, so the sum stays far below)."""
    return vector_length + terms.head_size


def split_result(result: np.ndarray, vector_length: int) -> tuple[np.ndarray, np.ndarray]:
    """The opened sum and the weighted head sum (int64) of a job's result."""
    return result[:vector_length], result[vector_length:].astype(np.int64)


@dataclass(frozen=True)
class PartyWitness:
    """What a key party needs to check the hospitals' witnesses: its index among `parties`, its witness key
    (crypto.wellformed) and the committee's public key (pk0, pk1) mod the data primes, NTT form."""

    index: int
    parties: int
    key: X25519PrivateKey
    public_key: np.ndarray


@dataclass(frozen=True)
class CheckedJob:
    """A job as a key party accepted it: the round, its signed uploads, their sum, this party's shares of
    each upload's projections (hospitals, count, 3, primes, ROWS), which the parties open together and check
    (crypto.wellformed) before any share of the key is used, and its integer shares of each upload's message
    projections (hospitals, count, ROWS), whose squared norms the parties compare with `norm_threshold` in MPC."""

    round_id: int
    submissions: tuple[SignedUpload, ...]
    sum_digest: str
    total: ckks.ParsedBlob
    projection_shares: np.ndarray
    norm_shares: np.ndarray
    norm_bound: float
    projection_seconds: float  # the time this party spent computing its projection shares
    head_shares: (
        np.ndarray
    )  # (hospitals, head_size) integers mod FIELD_PRIME: this party's shares of the heads
    head_commitments: tuple[int, ...]  # per upload, Poseidon of the head its proof ends at (with proofs)
    dp_noise_std: float = 0.0  # the std of the DP noise the opened sum must carry (0: none)
    chain_checked: str = ""  # the registry this party found every upload recorded in ("": it read no chain)

    @property
    def hospitals(self) -> int:
        return len(self.submissions)

    @property
    def norm_threshold(self) -> int:
        return wellformed.message_norm_threshold(self.norm_bound, self.total.count)


def write_job(
    job_dir: Path | str,
    public_context: bytes,
    blobs: Sequence[bytes],
    vector_length: int,
    sum_digest: str,
    terms: JobTerms,
) -> Path:
    """Lay out a decryption job for the key parties (the portal's side). Returns the job directory."""
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / "public_context.bin").write_bytes(public_context)
    names = []
    for index, blob in enumerate(blobs):
        names.append(f"blob-{index:04d}.bin")
        (job_dir / names[-1]).write_bytes(blob)
    job = {
        "format": JOB_FORMAT,
        **terms.as_json(),
        "vector_length": vector_length,
        "sum_digest": sum_digest,
        "public_context": "public_context.bin",
        "blobs": names,
    }
    (job_dir / JOB_FILE).write_text(json.dumps(job, indent=2) + "\n")
    return job_dir


def read_trusted_hospitals(path: Path) -> dict[str, str]:
    """A key party's own list of the hospitals' signing addresses it trusts ({"hospitals": {address: name}}),
    keyed by lower-case address."""
    try:
        listed = json.loads(Path(path).read_text())["hospitals"]
        return {str(address).lower(): str(name) for address, name in listed.items()}
    except (OSError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise KeyPartyRefusal(f"unreadable list of trusted hospitals {path}: {exc}") from exc


@dataclass(frozen=True)
class TrustedChain:
    """A key party's own view of the chain: its RPC endpoint (its own, never the portal's), the chain's id, the
    round registries its operator vetted (lower-case address -> keccak-256 of the runtime code when vetted) and
    the chain address of each hospital it trusts (lower-case signing address -> lower-case chain address)."""

    rpc_url: str
    chain_id: int
    registries: dict[str, str]
    chain_addresses: dict[str, str]


def read_trusted_chain(chain_path: Path, hospitals_path: Path) -> TrustedChain:
    """The party's trusted chain ({"rpc_url", "chain_id", "registries": {address: code hash}}) and, from its list
    of trusted hospitals, their chain addresses ({"chain_addresses": {signing address: chain address}})."""
    try:
        chain = json.loads(Path(chain_path).read_text())
        rpc_url, chain_id = str(chain["rpc_url"]), int(chain["chain_id"])
        registries = {str(key).lower(): str(value).lower() for key, value in chain["registries"].items()}
    except (OSError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise KeyPartyRefusal(f"unreadable trusted chain {chain_path}: {exc}") from exc
    try:
        listed = json.loads(Path(hospitals_path).read_text()).get("chain_addresses", {})
        addresses = {str(key).lower(): str(value).lower() for key, value in listed.items()}
    except (OSError, TypeError, ValueError, AttributeError) as exc:
        raise KeyPartyRefusal(f"unreadable list of trusted hospitals {hospitals_path}: {exc}") from exc
    return TrustedChain(rpc_url, chain_id, registries, addresses)


def check_chain_records(terms: JobTerms, digests: Sequence[str], chain: TrustedChain) -> None:
    """Refuses a job whose round is not open in a registry the party vetted, on the chain it trusts, or one of
    whose uploads (`digests`: their SHA-256, in order) its hospital has not recorded there for the round under
    its pinned chain address, with its proofs verified when the registry verifies proofs. Run after
    check_signatures: the signers are the party's trusted hospitals."""
    registry = terms.registry.lower()
    if not registry:
        raise KeyPartyRefusal(
            f"the job names no round registry: this key party opens only rounds recorded on chain {chain.chain_id}"
        )
    if registry not in chain.registries:
        raise KeyPartyRefusal(
            f"round registry {terms.registry} is not one this key party vetted (dh-keyparty trust-chain --registry)"
        )
    reader = ChainReader(chain.rpc_url)
    try:
        chain_id, code_hash = reader.chain_id(), reader.code_hash(registry)
        if chain_id != chain.chain_id:
            raise KeyPartyRefusal(f"the chain at {chain.rpc_url} is chain {chain_id}, not {chain.chain_id}")
        if code_hash != chain.registries[registry]:
            raise KeyPartyRefusal(
                f"the code at round registry {terms.registry} ({code_hash or 'none'}) is not the code vetted "
                f"({chain.registries[registry]})"
            )
        recorded_round = reader.round(registry, terms.round_id)
        if recorded_round.state != "open":
            raise KeyPartyRefusal(
                f"round {terms.round_id} is {recorded_round.state} in registry {terms.registry}, not open: a "
                "key party opens only the sum of an open round's recorded submissions"
            )
        for number, (digest, submission) in enumerate(zip(digests, terms.submissions, strict=True)):
            address = chain.chain_addresses.get(submission.signer.lower())
            if address is None:
                raise KeyPartyRefusal(
                    f"ciphertext {number}: no chain address pinned for {submission.hospital} ({submission.signer}): "
                    f"dh-keyparty trust {submission.signer} --name NAME --chain-address ADDRESS"
                )
            recorded = reader.submission(registry, terms.round_id, address)
            where = f"round {terms.round_id} of registry {terms.registry}"
            if recorded is None:
                raise UploadRefused(
                    f"ciphertext {number} refused: {submission.hospital} ({address}) recorded no submission to "
                    f"{where} (the audit trail does not hold this upload)",
                    number,
                )
            if recorded.update_hash != "0x" + digest:
                raise UploadRefused(
                    f"ciphertext {number} refused: {submission.hospital} recorded update {recorded.update_hash} "
                    f"to {where}, not this ciphertext (0x{digest})",
                    number,
                )
            if recorded_round.proofs_per_submission and not recorded.verified:
                raise UploadRefused(
                    f"ciphertext {number} refused: {submission.hospital}'s proofs are not verified in {where}",
                    number,
                )
    except ChainReadError as exc:
        raise KeyPartyRefusal(str(exc)) from exc


def check_signatures(terms: JobTerms, digests: Sequence[str], trusted: dict[str, str] | None = None) -> None:
    """Refuses (KeyPartyRefusal) uploads that are not each signed for the round by a distinct hospital, or
    fewer of them than max(min_hospitals, MIN_HOSPITALS). `digests`: the SHA-256 of each blob, in order.
    `trusted` (lower-case address -> name): the only signers accepted, when the key party keeps such a list."""
    round_id, submissions = terms.round_id, terms.submissions
    if len(submissions) != len(digests):
        raise KeyPartyRefusal(
            f"the job lists {len(digests)} ciphertexts but {len(submissions)} signed uploads"
        )
    needed = max(terms.min_hospitals, MIN_HOSPITALS)
    if len(digests) < needed:
        raise KeyPartyRefusal(
            f"the job sums {len(digests)} hospital upload(s); a key party opens only a sum of at least {needed} "
            "hospitals (a sum of one is that hospital's update)"
        )
    signers: set[str] = set()
    for number, (digest, submission) in enumerate(zip(digests, submissions, strict=True)):
        statement = signing.upload_statement(
            round_id, digest, submission.num_samples, terms.norm_bound, terms.dp_noise_std
        )
        signer = signing.signer_of(statement, submission.signature)
        if signer is None or signer.lower() != submission.signer.lower():
            noise = (
                f" and DP noise std {terms.dp_noise_std:.6g}" if terms.dp_noise_std else " without DP noise"
            )
            raise KeyPartyRefusal(
                f"ciphertext {number} is not signed by {submission.hospital}'s key {submission.signer} for "
                f"round {round_id}, update norm bound {terms.norm_bound:.6g}{noise} (a ciphertext no hospital "
                "uploaded for this round, or a bound or noise level the hospitals did not sign)"
            )
        if trusted is not None and signer.lower() not in trusted:
            raise KeyPartyRefusal(
                f"ciphertext {number}: {submission.hospital}'s key {submission.signer} is not among the hospitals "
                "this key party trusts (dh-keyparty trust)"
            )
        if signer.lower() in signers:
            raise KeyPartyRefusal(
                f"ciphertext {number}: {submission.hospital}'s key {submission.signer} signed two ciphertexts of "
                "the job; a sum holds one upload per hospital"
            )
        signers.add(signer.lower())


def witness_shares(
    name: str, parsed: ckks.ParsedBlob, party: PartyWitness, head_size: int = 0
) -> tuple[np.ndarray, wellformed.NormShare]:
    """This party's shares of the blob's projections, and of its message projections and proven head (of
    `head_size` values), from the shares sealed to it in the blob."""
    if parsed.witness is None:
        raise KeyPartyRefusal(
            f"blob {name} refused: it carries no witness (shares of its encryption randomness for the key "
            "parties), so nothing shows it is a well-formed encryption"
        )
    if len(parsed.witness) != party.parties:
        raise KeyPartyRefusal(
            f"blob {name} refused: its witness holds shares for {len(parsed.witness)} key parties, the "
            f"committee has {party.parties}"
        )
    last = party.index == party.parties - 1
    try:
        opened = wellformed.open_share(parsed.witness[party.index], party.key, parsed.key_id, party.index)
        opened_norm = (
            wellformed.open_share(parsed.norm_share, party.key, parsed.key_id, party.index) if last else None
        )
        share = wellformed.read_share(opened, parsed.count)
        norm_share = wellformed.read_norm_share(opened, opened_norm, parsed.count, head_size)
    except wellformed.WitnessError as exc:
        raise KeyPartyRefusal(f"blob {name} refused: {exc}") from exc
    matrix = wellformed.projection(parsed.commitment)
    projections = wellformed.projection_share(
        share, parsed.ciphertexts, party.public_key, party.index == 0, matrix, norm_share.projections
    )
    return projections, norm_share


def load_job(
    job_dir: Path,
    party: PartyWitness,
    trusted: dict[str, str] | None = None,
    chain: TrustedChain | None = None,
) -> CheckedJob:
    """Read a job, check every blob and its signature (by a `trusted` hospital, when given) and, with `chain`,
    its record on chain (check_chain_records), recompute the sum and compare its digest with the portal's, and
    compute this party's shares of every blob's projections; returns the checked job."""
    try:
        job = json.loads((job_dir / JOB_FILE).read_text())
        if job.get("format") != JOB_FORMAT:
            raise KeyPartyRefusal(f"unsupported job format {job.get('format')!r}")
        public_context = (job_dir / job["public_context"]).read_bytes()
        names = [str(name) for name in job["blobs"]]
        length, expected_digest = int(job["vector_length"]), str(job["sum_digest"])
        terms = JobTerms.from_json(job)
        head_commitments = tuple(terms.head_commitments) if terms.head_size else ()
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise KeyPartyRefusal(f"unreadable job in {job_dir}: {exc}") from exc
    if not names:
        raise KeyPartyRefusal("the job has no ciphertexts")
    if len(set(names)) != len(names):
        raise KeyPartyRefusal("the job lists the same ciphertext blob twice")
    if len(names) > ckks.MAX_SUMMANDS:
        raise KeyPartyRefusal(f"the job sums {len(names)} ciphertexts, more than {ckks.MAX_SUMMANDS}")
    max_bytes = ckks.blob_size(length)
    digests: list[str] = []
    projections: list[np.ndarray] = []
    norm_shares: list[wellformed.NormShare] = []
    total = None
    for name in names:  # one blob in memory at a time
        try:
            blob = (job_dir / name).read_bytes()
            parsed = ckks.parse_blob(public_context, blob, length, max_bytes)
        except (OSError, ValueError) as exc:  # CiphertextError is a ValueError
            raise KeyPartyRefusal(f"blob {name} refused: {exc}") from exc
        digest = hashlib.sha256(blob).hexdigest()
        if digest in digests:
            raise KeyPartyRefusal(f"blob {name} refused: the same ciphertext blob twice")
        digests.append(digest)
        if total is None:
            total = parsed.ciphertexts
        else:
            ckks.add_mod(total, parsed.ciphertexts)
    check_signatures(terms, digests, trusted)
    if chain is not None:
        check_chain_records(terms, digests, chain)
    started = time.perf_counter()
    for name in names:  # signed uploads only: now their witnesses
        parsed = ckks.parse_blob(public_context, (job_dir / name).read_bytes())
        projection, norm_share = witness_shares(name, parsed, party, terms.head_size)
        projections.append(projection)
        norm_shares.append(norm_share)
    projection_seconds = time.perf_counter() - started
    digest = ckks.blob_digest(ckks.blob_bytes(parsed.key_id, length, total))
    if digest != expected_digest:
        raise KeyPartyRefusal(
            f"the portal's sum digest {expected_digest} differs from the sum recomputed here "
            f"({digest}); refusing to decrypt"
        )
    return CheckedJob(
        terms.round_id,
        terms.submissions,
        digest,
        ckks.ParsedBlob(parsed.key_id, length, total),
        np.stack(projections),
        np.stack([share.projections for share in norm_shares]),
        terms.norm_bound,
        projection_seconds,
        np.stack([share.head for share in norm_shares]),
        head_commitments,
        terms.dp_noise_std,
        terms.registry if chain is not None else "",
    )


def check_projections(job: CheckedJob, opened: np.ndarray) -> list[list[tuple[float, float]]]:
    """Refuses (KeyPartyRefusal, naming the hospital) a job with an upload whose opened projections
    (the sum of every party's projection_shares) are not an honest encryption's; returns, per hospital and
    ciphertext, the bounds on ||u||^2 and ||e1||^2 they prove (for the smudging budget)."""
    proven = []
    for number, (submission, projections) in enumerate(zip(job.submissions, opened, strict=True)):
        norms = wellformed.ProjectionNorms.of(wellformed.lift(projections))
        reason = norms.refusal()
        if reason:
            raise UploadRefused(
                f"{submission.hospital}'s upload (signed by {submission.signer}) refused: {reason}; no share of "
                "the key was used",
                number,
            )
        proven.append(norms.proven_squares())
    return proven


def check_norms(job: CheckedJob, within: Sequence[bool]) -> None:
    """Refuses (UploadRefused, naming the hospital) a job with an upload whose message projections were found in
    MPC (`within`, one opened bit per upload) above the norm threshold: an update whose L2 norm is above the
    round plan's bound, such as one scaled to replace the model."""
    for number, (submission, fits) in enumerate(zip(job.submissions, within, strict=True)):
        if not fits:
            raise UploadRefused(
                f"{submission.hospital}'s upload (signed by {submission.signer}) refused: its update's L2 norm is "
                f"above the round plan's update_norm_bound {job.norm_bound:.6g} (checked by the key parties in "
                "MPC, as a model-replacing update scaled up would be); no share of the key was used",
                number,
            )


def check_heads(job: CheckedJob, digests: Sequence[int]) -> None:
    """Refuses (UploadRefused, naming the hospital) a job with an upload whose shared head hashes (`digests`,
    Poseidon of each shared head, opened in MPC) to another value than the head its proof of training ends at:
    a hospital that proved one head and sent another."""
    for number, (submission, digest, committed) in enumerate(
        zip(job.submissions, digests, job.head_commitments, strict=True)
    ):
        if digest != committed:
            raise UploadRefused(
                f"{submission.hospital}'s upload (signed by {submission.signer}) refused: the head it shares with "
                "the key parties is not the head its proof of training ends at (checked in MPC on the proof's "
                "commitment); no share of the key was used",
                number,
            )


class KeyLedger:
    """What one key share has opened, kept beside it (party_dir/decryptions.json): one sum per round, and the
    smudging budget (crypto.threshold.decryption_leakage) every attempt spends, refused past KEY_LEAKAGE_BUDGET.

    An attempt is charged before this party's share enters the MPC, so a crash cannot leave one uncounted."""

    def __init__(self, party_dir: Path) -> None:
        self.path = Path(party_dir) / LEDGER_FILE

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        return list(json.loads(self.path.read_text())["decryptions"])

    def check_round(self, job: CheckedJob) -> None:
        """Raises KeyPartyRefusal when this key opened another sum of the job's round."""
        for entry in self.entries():
            if entry["round"] == job.round_id and entry["sum_digest"] != job.sum_digest:
                raise KeyPartyRefusal(
                    f"this key already opened another sum of round {job.round_id} ({entry['sum_digest'][:16]}...,"
                    f" {entry['hospitals']} hospitals); a key opens one sum per round (two would give their "
                    "difference)"
                )

    def charge(self, job: CheckedJob, leakage: float) -> float:
        """Records one attempt at opening `job`, spending `leakage` (crypto.threshold.decryption_leakage);
        raises KeyPartyRefusal for a second sum of its round or a job the budget no longer covers."""
        self.check_round(job)
        entries = self.entries()
        spent = sum(float(entry["leakage"]) for entry in entries)
        if spent + leakage > threshold.KEY_LEAKAGE_BUDGET:
            raise KeyPartyRefusal(
                f"this key's smudging budget is spent ({len(entries)} decryptions; this one would take it to "
                f"{(spent + leakage) / threshold.KEY_LEAKAGE_BUDGET:.2f} of the budget): make a new key committee"
            )
        entries.append(
            {
                "round": job.round_id,
                "sum_digest": job.sum_digest,
                "hospitals": job.hospitals,
                "ciphertexts": job.total.count,
                "leakage": leakage,
            }
        )
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps({"decryptions": entries}, indent=2) + "\n")
        os.replace(partial, self.path)
        return leakage
