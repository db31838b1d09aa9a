"""TLS to the portal: a certificate from a private CA is verified against the CA file a party names, and refused
without it, at once and with a message saying what to do (no retry loop for a certificate that cannot verify)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from node import cli
from protocol.transport import PortalSession

pytestmark = [pytest.mark.unit]


def _certificate(subject: str, issuer: str, public_key, signing_key, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(signing_key, hashes.SHA256())


@pytest.fixture
def private_ca_portal(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 whose certificate a private CA issued; yields its URL and the CA's file."""
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(
        "Hospital consortium CA", "Hospital consortium CA", ca_key.public_key(), ca_key, ca=True
    )
    server = _certificate("portal", "Hospital consortium CA", server_key.public_key(), ca_key, ca=False)
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "portal.pem", tmp_path / "portal.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"rounds": [], "contributions": [], "poll_seconds": 1}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}", ca_file
    finally:
        httpd.shutdown()
        thread.join(timeout=10)


def test_the_portals_certificate_is_verified_against_the_named_ca(private_ca_portal):
    url, ca_file = private_ca_portal
    assert PortalSession(url, "token", ca_file=str(ca_file)).get_json("/api/node/work/")["poll_seconds"] == 1
    with pytest.raises(requests.exceptions.SSLError):
        PortalSession(url, "token").get_json("/api/node/work/")  # the system's CAs do not know this one


def test_enrolling_without_the_private_ca_says_what_to_do(private_ca_portal, tmp_path, capsys):
    url, _ = private_ca_portal
    data = tmp_path / "data.npz"
    np.savez(data, train_images=np.zeros((2, 28, 28), np.uint8), train_labels=np.array([[0], [1]]))
    home = tmp_path / "home"
    assert cli.main(["--home", str(home), "enroll", "--portal", url, "--code", "c", "--data", str(data)]) == 1
    error = capsys.readouterr().err
    assert "certificate did not verify" in error and "--ca-file" in error
    assert not (home / "config.json").exists()
