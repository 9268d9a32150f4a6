"""What a device holds to prove who it is, and the hashed form the cloud keeps.

* Key pair and CSR: generated where the device is provisioned (the technician's machine or the Pi);
  the private key never goes to the cloud, only the CSR does.
* Password (fallback for brokers or networks where client certificates are impractical): 192 random
  bits, shown once, stored as ``$7$<iterations>$<salt b64>$<hash b64>``: PBKDF2-HMAC-SHA512, the
  format Mosquitto 2.0's ``password_file`` reads (``mosquitto_passwd -H sha512-pbkdf2``), so one stored
  string serves the database, Mosquitto and the amqtt plugin.

Iterations: 50,000 (mosquitto_passwd uses 101). The passwords are random, not chosen by people, so
stretching is not what keeps them safe; it makes a leaked password file expensive to test guesses
against should a weak password ever be set by hand, and it is paid at every connect (measured here:
~53 ms of CPU per check with hashlib; a fleet reconnecting at once after a broker restart pays it per
device, which is why certificates, not passwords, are the default).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cloud.identity.ca import private_pem

ITERATIONS = 50_000
_SALT_BYTES = 12  # as mosquitto_passwd


@dataclass(frozen=True, slots=True)
class DeviceKey:
    """A device's private key and the CSR that asks the fleet CA for its certificate."""

    key: ec.EllipticCurvePrivateKey
    csr: x509.CertificateSigningRequest

    @classmethod
    def generate(cls, device_id: str) -> DeviceKey:
        key = ec.generate_private_key(ec.SECP256R1())
        return cls(key, make_csr(key, device_id))

    @classmethod
    def from_pem(cls, key_pem: bytes, device_id: str) -> DeviceKey:
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("device key must be an EC private key")
        return cls(key, make_csr(key, device_id))

    @property
    def key_pem(self) -> bytes:
        return private_pem(self.key)

    @property
    def csr_pem(self) -> bytes:
        return self.csr.public_bytes(serialization.Encoding.PEM)

    def matches(self, cert: x509.Certificate) -> bool:
        """Whether ``cert`` certifies this key (a certificate for another key is useless here)."""
        return cert.public_key() == self.key.public_key()


def make_csr(key: ec.EllipticCurvePrivateKey, device_id: str) -> x509.CertificateSigningRequest:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)])
    return x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())


def load_csr(pem: bytes | str) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr(pem.encode() if isinstance(pem, str) else pem)


def new_password() -> str:
    return secrets.token_urlsafe(24)


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a ``$7$`` hash; False for anything malformed."""
    parts = stored.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != "7":
        return False
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    if not 1 <= iterations <= 10_000_000:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return hmac.compare_digest(digest, expected)
