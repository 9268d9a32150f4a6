"""The fleet certificate authority.

One self-signed CA per fleet (ECDSA P-256: what the ESP32's mbedTLS and every broker handle cheaply).
It signs three kinds of certificate, told apart by the CN and the extended key usage:

* device client certificates: CN = the device id, clientAuth, valid ``DEVICE_DAYS``;
* service client certificates (the cloud's bridge): CN = a service name (names.py), clientAuth;
* the broker's server certificate: serverAuth, subjectAltNames for its host names and addresses.

Revocation is by serial number; ``crl()`` renders the list Mosquitto reads from ``crlfile`` and the
amqtt plugin checks (cloud/broker/amqtt_auth.py). Pure: the CA is a key and a certificate in memory;
``FleetCA.load``/``save`` are the only file I/O.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloud.identity.exceptions import CertificateError, ReservedNameError
from cloud.identity.names import is_service
from protocol.topics import is_device_id

CA_DAYS = 3650
DEVICE_DAYS = 825
SERVER_DAYS = 825
CRL_DAYS = 7  # a CRL's nextUpdate; the cloud re-issues it on every revocation and daily
_BACKDATE = timedelta(minutes=5)  # tolerate clock skew between the cloud and brokers/devices


@dataclass(frozen=True, slots=True)
class Revoked:
    serial: int
    at: datetime


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


def common_name(cert: x509.Certificate | x509.CertificateSigningRequest) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(attrs) != 1:
        raise CertificateError("subject must have exactly one CN")
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode()


@dataclass(frozen=True, slots=True)
class FleetCA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, *, fleet: str = "Mobilytics fleet", now: datetime | None = None) -> FleetCA:
        now = now or datetime.now(UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        name = _name(f"{fleet} CA", fleet)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
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
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    # -- files ---------------------------------------------------------------------------------------

    @classmethod
    def load(cls, directory: Path) -> FleetCA:
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CertificateError(f"{directory / 'ca.key'} is not an EC private key")
        return cls(key, x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes()))

    def save(self, directory: Path) -> None:
        """``ca.crt`` (public) and ``ca.key`` (mode 0600, written before it holds the key)."""
        directory.mkdir(parents=True, exist_ok=True)
        key_path = directory / "ca.key"
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private_pem(self.key))
        (directory / "ca.crt").write_bytes(self.cert_pem)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def org(self) -> str:
        attrs = self.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        return str(attrs[0].value) if attrs else "Mobilytics fleet"

    # -- issuing -------------------------------------------------------------------------------------

    def _builder(
        self, cn: str, public_key: ec.EllipticCurvePublicKey, now: datetime, days: int
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(_name(cn, self.org))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )

    def issue_device(
        self,
        csr: x509.CertificateSigningRequest,
        *,
        device_id: str,
        now: datetime | None = None,
        days: int = DEVICE_DAYS,
    ) -> x509.Certificate:
        """A client certificate for ``device_id`` from its CSR: the CSR must be self-signed by the key
        it carries and name exactly this device id as CN (no other subject is copied)."""
        if is_service(device_id) or not is_device_id(device_id):
            raise ReservedNameError(device_id)
        if not csr.is_signature_valid:
            raise CertificateError(
                "CSR signature does not verify: it was not signed by its own key", device_id=device_id
            )
        cn = common_name(csr)
        if cn != device_id:
            raise CertificateError(f"CSR names CN={cn!r}, expected the device id", device_id=device_id)
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or public_key.curve.name != "secp256r1":
            raise CertificateError("device keys must be ECDSA P-256", device_id=device_id)
        return self._client(device_id, public_key, now or datetime.now(UTC), days)

    def issue_service(
        self,
        name: str,
        public_key: ec.EllipticCurvePublicKey,
        *,
        now: datetime | None = None,
        days: int = DEVICE_DAYS,
    ) -> x509.Certificate:
        if not is_service(name):
            raise CertificateError(f"service names contain a '.', got {name!r}")
        return self._client(name, public_key, now or datetime.now(UTC), days)

    def _client(
        self, cn: str, public_key: ec.EllipticCurvePublicKey, now: datetime, days: int
    ) -> x509.Certificate:
        builder = (
            self._builder(cn, public_key, now, days)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(_signing_key_usage(), critical=True)
        )
        return builder.sign(self.key, hashes.SHA256())

    def issue_server(
        self,
        public_key: ec.EllipticCurvePublicKey,
        *,
        hosts: Iterable[str],
        now: datetime | None = None,
        days: int = SERVER_DAYS,
    ) -> x509.Certificate:
        """The broker's certificate; ``hosts`` are DNS names or IP addresses clients connect to."""
        hosts = list(hosts)
        if not hosts:
            raise CertificateError("a server certificate needs at least one host name or address")
        sans: list[x509.GeneralName] = []
        for h in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                sans.append(x509.DNSName(h))
        builder = (
            self._builder(hosts[0], public_key, now or datetime.now(UTC), days)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(_signing_key_usage(), critical=True)
        )
        return builder.sign(self.key, hashes.SHA256())

    # -- checking and revoking -----------------------------------------------------------------------

    def verify(self, cert: x509.Certificate, *, now: datetime | None = None) -> None:
        """Raise CertificateError unless ``cert`` was signed by this CA and is within its validity."""
        now = now or datetime.now(UTC)
        try:
            cert.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError) as e:
            raise CertificateError(f"not issued by this fleet CA: {e}") from e
        except Exception as e:  # cryptography's InvalidSignature has no common base with the above
            raise CertificateError("signature does not verify against the fleet CA") from e
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise CertificateError(
                f"outside its validity ({cert.not_valid_before_utc:%Y-%m-%d} .. "
                f"{cert.not_valid_after_utc:%Y-%m-%d})"
            )

    def crl(
        self, revoked: Iterable[Revoked], *, now: datetime | None = None, days: int = CRL_DAYS
    ) -> x509.CertificateRevocationList:
        now = now or datetime.now(UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now - _BACKDATE)
            .next_update(now + timedelta(days=days))
        )
        for r in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(r.serial).revocation_date(r.at).build()
            )
        return builder.sign(self.key, hashes.SHA256())


def _signing_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)
