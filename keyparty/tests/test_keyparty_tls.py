"""TLS identities of key parties and MPyC's TLS files (crypto.partytls): what the portal accepts, what each run
of the MPC gets. The handshake itself and the pinning of each peer's identity run in crypto/tests/
test_keyparty.py (real MPyC processes)."""

from __future__ import annotations

import datetime
import ssl
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from crypto import partytls

pytestmark = [pytest.mark.unit]


@pytest.fixture(scope="module")
def identities():
    return [partytls.make_identity(f"party-{index}") for index in range(3)]


def test_an_identity_is_a_self_signed_p256_ca_the_portal_accepts(identities):
    key_pem, cert_pem = identities[0]
    info = partytls.check_identity(cert_pem)
    assert info.subject.startswith("dh-keyparty party-0 ") and len(info.fingerprint) == 64
    certificate = x509.load_pem_x509_certificate(cert_pem)
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    assert b"PRIVATE KEY" in key_pem and b"PRIVATE" not in cert_pem
    assert partytls.check_identity(identities[1][1]).subject != info.subject  # a random tag in each


def test_the_portal_refuses_other_certificates(identities):
    key_pem, cert_pem = identities[0]
    _run_key, chain = partytls.issue_run_certificate(key_pem, cert_pem, 0)
    with pytest.raises(partytls.CertificateError, match="expected one certificate"):
        partytls.check_identity(chain)
    with pytest.raises(partytls.CertificateError, match="not a PEM certificate|expected one"):
        partytls.check_identity("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(partytls.CertificateError, match="at most"):
        partytls.check_identity(cert_pem * 20)
    # An expired identity.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "dh-keyparty old 00")])
    now = datetime.datetime.now(datetime.UTC)
    old = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=10))
        .not_valid_after(now - datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(partytls.CertificateError, match="not valid now"):
        partytls.check_identity(old.public_bytes(partytls.serialization.Encoding.PEM))


def test_mpyc_files_for_a_run(tmp_path, identities):
    certificates = [cert.decode() for _key, cert in identities]
    key_pem, cert_pem = identities[1]
    config = partytls.write_mpyc_config(tmp_path, 1, key_pem, cert_pem, certificates)
    assert sorted(path.name for path in config.iterdir()) == [
        "mpyc_ca.crt",
        "party_1.crt",
        "party_1.key",
        partytls.PEER_ISSUERS_FILE,
    ]
    assert stat.S_IMODE((config / "party_1.key").stat().st_mode) == 0o600
    assert (config / "mpyc_ca.crt").read_text() == "".join(certificates)
    assert partytls.peer_issuers(tmp_path) == [partytls.check_identity(c).subject for c in certificates]
    # The run certificate is "MPyC party 1", issued by party 1's identity, and verifies against the bundle
    # with the host name MPyC's client checks.
    run = x509.load_pem_x509_certificates((config / "party_1.crt").read_bytes())[0]
    assert partytls.common_name(run.subject) == "MPyC party 1"
    run.verify_directly_issued_by(x509.load_pem_x509_certificate(cert_pem))
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(config / "mpyc_ca.crt"))
    context.load_cert_chain(config / "party_1.crt", config / "party_1.key")  # the key matches


def test_mpyc_files_are_refused_for_a_list_that_is_not_the_committee_agreed(tmp_path, identities):
    certificates = [cert.decode() for _key, cert in identities]
    key_pem, cert_pem = identities[1]
    with pytest.raises(partytls.CertificateError, match="not this party's own"):
        partytls.write_mpyc_config(tmp_path / "a", 0, key_pem, cert_pem, certificates)
    with pytest.raises(partytls.CertificateError, match="same subject"):
        partytls.write_mpyc_config(tmp_path / "b", 1, key_pem, cert_pem, [certificates[1]] * 3)
    with pytest.raises(partytls.CertificateError, match="not one of"):
        partytls.write_mpyc_config(tmp_path / "c", 5, key_pem, cert_pem, certificates)
