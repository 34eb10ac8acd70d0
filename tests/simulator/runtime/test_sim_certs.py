"""The simulator's CA and server certificate: names, chain, reuse."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from edgesim.certs import ensure_certificates


def _san(path: Path) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)), {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


def test_server_certificate_names_the_host_ip_hub_and_localhost(tmp_path: Path) -> None:
    bundle = ensure_certificates(tmp_path, ["127.0.0.9"], "edgesim.azure-devices.net")
    dns, ips = _san(bundle.server_cert)
    assert {"localhost", "edgesim.azure-devices.net"} <= dns
    assert {"127.0.0.9", "127.0.0.1"} <= ips
    assert (bundle.server_key.stat().st_mode & 0o777) == 0o600
    assert (bundle.ca_key.stat().st_mode & 0o777) == 0o600


def test_chain_verifies_against_the_trust_bundle(tmp_path: Path) -> None:
    bundle = ensure_certificates(tmp_path, ["127.0.0.9"], "hub.example")
    ca = x509.load_pem_x509_certificate(bundle.trust_bundle_pem.encode())
    server = x509.load_pem_x509_certificate(bundle.server_cert.read_bytes())  # first cert of the chain
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    server.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_tls_handshake_verifies_the_ip_address_like_the_sdk(tmp_path: Path) -> None:
    host = "127.0.0.9"
    bundle = ensure_certificates(tmp_path, [host], "hub.example")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(bundle.server_cert, bundle.server_key)
    listener = socket.create_server((host, 0))
    port = listener.getsockname()[1]
    accepted = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True):
            accepted.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cadata=bundle.trust_bundle_pem)
    with socket.create_connection((host, port)) as raw, client_ctx.wrap_socket(raw, server_hostname=host) as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    thread.join(5)
    listener.close()
    assert accepted.is_set()
    assert ipaddress.ip_address(host)


def test_ca_is_reused_and_server_cert_reissued_only_for_new_names(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path, ["127.0.0.9"], "hub.example")
    ca_pem, server_pem = first.ca_cert.read_bytes(), first.server_cert.read_bytes()
    again = ensure_certificates(tmp_path, ["127.0.0.9"], "hub.example")
    assert again.ca_cert.read_bytes() == ca_pem
    assert again.server_cert.read_bytes() == server_pem
    other = ensure_certificates(tmp_path, ["127.0.0.10"], "hub.example")
    assert other.ca_cert.read_bytes() == ca_pem
    assert other.server_cert.read_bytes() != server_pem
    assert "127.0.0.10" in _san(other.server_cert)[1]
