"""A throw-away certificate authority for the local emulators.

The real AWS SDKs only speak HTTP/2 (and so duplex event streams) over TLS with ALPN, so the emulators serve TLS with
a certificate made at start-up for 127.0.0.1/localhost; clients are told to trust exactly that certificate (CRT trust
store override, botocore `verify=`), never to skip verification.
"""

from __future__ import annotations

import datetime
import ipaddress
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class LocalCertificate:
    """PEM files of a self-signed loopback certificate (it is its own CA)."""

    cert_file: Path
    key_file: Path

    @property
    def cert_pem(self) -> bytes:
        return self.cert_file.read_bytes()


def make_local_certificate(directory: Path | None = None, *, now: datetime.datetime | None = None) -> LocalCertificate:
    """Generate a P-256 self-signed certificate valid for localhost and 127.0.0.1 and write it to `directory`."""
    target = directory or Path(tempfile.mkdtemp(prefix="voice-emulator-tls-"))
    start = (now or datetime.datetime.now(datetime.UTC)) - datetime.timedelta(minutes=5)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "voice-runtime local emulator")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file = target / "emulator-cert.pem"
    key_file = target / "emulator-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return LocalCertificate(cert_file=cert_file, key_file=key_file)
