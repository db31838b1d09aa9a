"""TLS between the key parties of a committee (MPyC's --ssl), with certificates the committee agreed on.

Each key party has one long-lived TLS identity, made on its own host at enrollment (`dh-keyparty enroll`): an EC
P-256 key that never leaves the host and a self-signed CA certificate for it (`make_identity`), which the portal
records and hands to the other parties of every committee the party joins (`check_identity`: what the portal
accepts). Its subject names the party and a random tag, so that no two parties' certificates share a subject.

MPyC's --ssl reads three files relative to the working directory: .config/party_{i}.crt and .config/party_{i}.key
(this party's certificate and key), and .config/mpyc_ca.crt (the CAs it accepts from peers); a client checks
that the server's certificate is for the host name "MPyC party {j}". The party index changes from one committee
to the next, so for each MPC run the party issues itself a short-lived certificate named "MPyC party {index}"
signed by its identity (`issue_run_certificate`), and the CA bundle is made of the committee's identity
certificates only (`write_mpyc_config`): a party talks TLS to nobody else. Which peer index each identity may
speak for is pinned too: `peer_issuers` maps each index to the subject of the identity that must have issued
that peer's certificate, and crypto.keyparty refuses a connection whose certificate was issued by another
member (which the CA bundle alone would accept).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MAX_CERTIFICATE_BYTES = 8192
IDENTITY_DAYS = 3650
RUN_CERTIFICATE_HOURS = 48
SUBJECT_PREFIX = "dh-keyparty"
MPYC_CONFIG_DIR = ".config"
PEER_ISSUERS_FILE = "peer_issuers.json"


class CertificateError(ValueError):
    """A certificate (or key) is refused; the message says why."""


@dataclass(frozen=True)
class IdentityInfo:
    subject: str  # the subject's common name, unique among the parties of a portal
    fingerprint: str  # SHA-256 of the DER certificate, hex
    not_after: datetime.datetime


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_identity(party_name: str) -> tuple[bytes, bytes]:
    """A new TLS identity for a key party: (private key PEM, self-signed CA certificate PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    label = "".join(c if c.isalnum() or c in "-_." else "-" for c in party_name)[:40] or "party"
    subject = _name(f"{SUBJECT_PREFIX} {label} {secrets.token_hex(8)}")
    now = _now()
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=IDENTITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _private_pem(key), certificate.public_bytes(serialization.Encoding.PEM)


def _load_one(pem: bytes | str) -> x509.Certificate:
    data = pem.encode() if isinstance(pem, str) else pem
    if len(data) > MAX_CERTIFICATE_BYTES:
        raise CertificateError(f"the certificate has {len(data)} bytes; at most {MAX_CERTIFICATE_BYTES}")
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate: {exc}") from None
    if len(certificates) != 1:
        raise CertificateError(f"expected one certificate, found {len(certificates)}")
    return certificates[0]


def common_name(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if len(values) == 1 else ""


def fingerprint(pem: bytes | str) -> str:
    return hashlib.sha256(_load_one(pem).public_bytes(serialization.Encoding.DER)).hexdigest()


def check_identity(pem: bytes | str) -> IdentityInfo:
    """What the portal accepts as a key party's TLS identity: one self-signed CA certificate, valid now, for an
    EC (P-256 or P-384) or RSA (2048 bits or more) key, whose subject is a single "dh-keyparty ..." name."""
    certificate = _load_one(pem)
    subject = common_name(certificate.subject)
    if not subject.startswith(SUBJECT_PREFIX + " ") or len(certificate.subject) != 1 or len(subject) > 120:
        raise CertificateError(f"the subject must be one common name starting with {SUBJECT_PREFIX!r}")
    if certificate.issuer != certificate.subject:
        raise CertificateError("the certificate must be self-signed (its issuer is its subject)")
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise CertificateError(
            "the certificate must be a CA certificate (basicConstraints CA:TRUE)"
        ) from None
    if not constraints.ca:
        raise CertificateError("the certificate must be a CA certificate (basicConstraints CA:TRUE)")
    public = certificate.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        if public.curve.name not in ("secp256r1", "secp384r1"):
            raise CertificateError(f"EC curve {public.curve.name} is not accepted (P-256 or P-384)")
    elif isinstance(public, rsa.RSAPublicKey):
        if public.key_size < 2048:
            raise CertificateError(f"an RSA key of {public.key_size} bits is too short (2048 or more)")
    else:
        raise CertificateError("the key must be EC (P-256, P-384) or RSA")
    try:
        certificate.verify_directly_issued_by(certificate)
    except Exception as exc:  # InvalidSignature, or a key type that cannot verify: refused either way
        raise CertificateError(f"the self-signature does not verify ({type(exc).__name__})") from None
    now = _now()
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise CertificateError("the certificate is not valid now (expired or not yet valid)")
    return IdentityInfo(
        subject=subject,
        fingerprint=hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest(),
        not_after=certificate.not_valid_after_utc,
    )


def mpyc_name(index: int) -> str:
    """The host name MPyC's client checks in the certificate of party `index`."""
    return f"MPyC party {index}"


def issue_run_certificate(identity_key_pem: bytes, identity_pem: bytes, index: int) -> tuple[bytes, bytes]:
    """A fresh key and a short-lived certificate named mpyc_name(index), issued by this party's identity, for
    one MPC run: (key PEM, certificate chain PEM: the run certificate, then the identity)."""
    issuer_key = serialization.load_pem_private_key(identity_key_pem, password=None)
    issuer = _load_one(identity_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    name = mpyc_name(index)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=RUN_CERTIFICATE_HOURS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False
        )
        .sign(issuer_key, hashes.SHA256())
    )
    chain = certificate.public_bytes(serialization.Encoding.PEM) + issuer.public_bytes(
        serialization.Encoding.PEM
    )
    return _private_pem(key), chain


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def write_mpyc_config(
    run_dir: Path,
    index: int,
    identity_key_pem: bytes,
    identity_pem: bytes,
    committee_certificates: Sequence[str],
) -> Path:
    """Lays out MPyC's --ssl files for party `index` in run_dir/.config (MPyC reads them relative to its
    working directory, run_dir): this run's key (0600) and certificate, the CA bundle made of the committee's
    identity certificates (index order), and which identity must have issued each peer's certificate.

    Refuses (CertificateError) a list in which this party's own identity is not at `index`, or two members
    share a subject (the pinning below could not tell them apart)."""
    infos = [check_identity(pem) for pem in committee_certificates]
    if not 0 <= index < len(infos):
        raise CertificateError(f"index {index} is not one of the committee's {len(infos)} parties")
    if infos[index].fingerprint != fingerprint(identity_pem):
        raise CertificateError(f"the committee's certificate {index} is not this party's own")
    subjects = [info.subject for info in infos]
    if len(set(subjects)) != len(subjects):
        raise CertificateError("two parties of the committee have certificates with the same subject")
    config = Path(run_dir) / MPYC_CONFIG_DIR
    config.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_pem, chain_pem = issue_run_certificate(identity_key_pem, identity_pem, index)
    _write(config / f"party_{index}.key", key_pem, 0o600)
    _write(config / f"party_{index}.crt", chain_pem, 0o644)
    bundle = "".join(pem if pem.endswith("\n") else pem + "\n" for pem in committee_certificates)
    _write(config / "mpyc_ca.crt", bundle.encode(), 0o644)
    _write(config / PEER_ISSUERS_FILE, (json.dumps(subjects) + "\n").encode(), 0o644)
    return config


def peer_issuers(run_dir: Path) -> list[str]:
    """The subject of the identity that must issue the certificate of each party, in index order."""
    return [
        str(subject)
        for subject in json.loads((Path(run_dir) / MPYC_CONFIG_DIR / PEER_ISSUERS_FILE).read_text())
    ]
