"""The simulator's TLS material: one CA per state directory and a server certificate it signs.

The SDK checks the hub's certificate against the trust bundle the workload API hands out (the
CA's PEM) and checks the host name it dialled (``IOTEDGE_GATEWAYHOSTNAME``, an IP address here)
against the certificate's subjectAltNames. The CA is created once and reused, so a module that
cached the bundle keeps trusting a restarted simulator; the server certificate is re-issued when
it lacks a name the simulator now needs (another ``--host``) or is close to expiry.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edgesim.errors import SimulatorError

CA_VALIDITY = datetime.timedelta(days=3650)
SERVER_VALIDITY = datetime.timedelta(days=365)
RENEW_BEFORE = datetime.timedelta(days=7)


class CertificateError(SimulatorError):
    """The simulator's certificates cannot be created or read."""


@dataclass(frozen=True)
class CertBundle:
    """Paths of the TLS files and the trust bundle (the CA's PEM)."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path  # server certificate followed by the CA: the chain the hub presents
    server_key: Path

    @property
    def trust_bundle_pem(self) -> str:
        return self.ca_cert.read_text(encoding="ascii")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write_private(path: Path, data: bytes) -> None:
    # Create with 0600 from the start: a key must never be readable, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _create_ca(cert_path: Path, key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgesim local CA")])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _wanted_names(hosts: Sequence[str], hub_hostname: str) -> tuple[set[str], set[str]]:
    dns = {"localhost", hub_hostname}
    ips = {"127.0.0.1"}
    for host in hosts:
        try:
            ips.add(str(ipaddress.ip_address(host)))
        except ValueError:
            dns.add(host)
    return dns, ips


def _server_cert_is_usable(cert_path: Path, ca_cert: x509.Certificate, dns: set[str], ips: set[str]) -> bool:
    if not cert_path.exists():
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    have_dns = set(san.get_values_for_type(x509.DNSName))
    have_ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return (
        cert.issuer == ca_cert.subject
        and dns <= have_dns
        and ips <= have_ips
        and cert.not_valid_after_utc - RENEW_BEFORE > _now()
    )


def _issue_server_cert(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    cert_path: Path,
    key_path: Path,
    dns: set[str],
    ips: set[str],
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in sorted(dns)]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in sorted(ips)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgesim hub")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + SERVER_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
    cert_path.write_bytes(chain)


def ensure_certificates(state_dir: Path, hosts: Sequence[str], hub_hostname: str) -> CertBundle:
    """Create (or reuse) the CA and a server certificate valid for ``hosts`` and ``hub_hostname``."""
    cert_dir = state_dir / "certs"
    cert_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    bundle = CertBundle(cert_dir / "ca.pem", cert_dir / "ca.key", cert_dir / "server.pem", cert_dir / "server.key")
    try:
        if not (bundle.ca_cert.exists() and bundle.ca_key.exists()):
            _create_ca(bundle.ca_cert, bundle.ca_key)
        ca_cert = x509.load_pem_x509_certificate(bundle.ca_cert.read_bytes())
        ca_key = serialization.load_pem_private_key(bundle.ca_key.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise CertificateError(f"cannot read or create the simulator CA in {cert_dir}: {exc}") from exc
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"{bundle.ca_key} is not an EC private key")
    dns, ips = _wanted_names(hosts, hub_hostname)
    if not (_server_cert_is_usable(bundle.server_cert, ca_cert, dns, ips) and bundle.server_key.exists()):
        _issue_server_cert(ca_cert, ca_key, bundle.server_cert, bundle.server_key, dns, ips)
    return bundle
