"""The district's certificate authority, the broker's server certificate and one
client certificate per kit, issued with the `cryptography` package (no openssl command lines).

Layout of the directory it manages (keys are written 0600, never overwritten):
    ca.crt ca.key            the district CA (keep ca.key offline once the kits are issued)
    broker.crt broker.key    Mosquitto's TLS listener (SANs: the names kits and the hub dial)
    kits/{kit}.crt {kit}.key one per kit; CN is the kit id, which is its broker user name
"""

from __future__ import annotations

import ipaddress
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CA_DAYS", "LEAF_DAYS", "CertError", "issue_ca", "issue_kit", "issue_server"]

# Within what browsers and TLS stacks accept for a leaf (825 days); kits are re-issued on a
# service visit long before. The CA outlives every kit it signs.
CA_DAYS = 3650
LEAF_DAYS = 825
# A few minutes back, so a kit whose clock is slightly behind accepts a fresh certificate.
_BACKDATE = timedelta(minutes=10)


class CertError(RuntimeError):
    """A certificate cannot be issued as asked (missing CA, file already there, bad name)."""


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256: supported by Mosquitto/OpenSSL and paho on a Raspberry Pi, and cheap to handshake.
    return ec.generate_private_key(ec.SECP256R1())


def _write_new(path: Path, data: bytes, private: bool) -> None:
    """Write a file that must not exist yet (a second `ca` would orphan every kit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(path, flags, 0o600 if private else 0o644)
    except FileExistsError:
        raise CertError(f"{path} exists; remove it first if you mean to replace it") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _save(
    directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    for path in (directory / f"{stem}.crt", directory / f"{stem}.key"):
        if path.exists():
            raise CertError(f"{path} exists; remove it first if you mean to replace it")
    _write_new(
        directory / f"{stem}.key",
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        private=True,
    )
    _write_new(directory / f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM), False)


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    if not cert_path.exists() or not key_path.exists():
        raise CertError(f"no CA in {directory}: run `mehr certs ca --dir {directory}` first")
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertError(f"{key_path}: expected the EC key `mehr certs ca` writes")
    return cert, key


def _builder(
    subject: x509.Name, issuer: x509.Name, days: int, now: datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + timedelta(days=days))
    )


def issue_ca(directory: Path, name: str, days: int = CA_DAYS, now: datetime | None = None) -> Path:
    """Create the district's CA (ca.crt, ca.key) in `directory`; return the certificate's path."""
    now = now or datetime.now(UTC)
    key = _new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        _builder(subject, subject, days, now)
        .public_key(key.public_key())
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _save(directory, "ca", cert, key)
    return directory / "ca.crt"


def _leaf(
    ca_dir: Path,
    out_dir: Path,
    stem: str,
    subject: x509.Name,
    sans: list[x509.GeneralName],
    usage: x509.ObjectIdentifier,
    days: int,
    now: datetime | None,
) -> Path:
    ca_cert, ca_key = _load_ca(ca_dir)
    now = now or datetime.now(UTC)
    key = _new_key()
    builder = (
        _builder(subject, ca_cert.subject, days, now)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _save(out_dir, stem, cert, key)
    return out_dir / f"{stem}.crt"


def issue_server(
    directory: Path,
    dns_names: list[str],
    ips: list[str],
    days: int = LEAF_DAYS,
    now: datetime | None = None,
) -> Path:
    """Issue broker.crt/broker.key for the names and addresses kits and the hub connect to."""
    if not dns_names and not ips:
        raise CertError("give the broker at least one --dns name or --ip address")
    try:
        sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    except ValueError as exc:
        raise CertError(f"not an IP address: {exc}") from None
    common = dns_names[0] if dns_names else ips[0]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])
    return _leaf(
        directory, directory, "broker", subject, sans, ExtendedKeyUsageOID.SERVER_AUTH, days, now
    )


def issue_kit(
    directory: Path, home_id: str, kit_id: str, days: int = LEAF_DAYS, now: datetime | None = None
) -> Path:
    """Issue kits/{kit}.crt/.key: CN is the kit id (its broker user), OU its home."""
    if not kit_id or "/" in kit_id or kit_id.startswith("."):
        raise CertError(f"not a kit id: {kit_id!r}")
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, home_id),
        x509.NameAttribute(NameOID.COMMON_NAME, kit_id),
    ])  # fmt: skip
    return _leaf(
        directory, directory / "kits", kit_id, subject, [], ExtendedKeyUsageOID.CLIENT_AUTH,
        days, now,
    )  # fmt: skip
