"""Fleet CA, device keys and CSRs, password hashes, enrollment token rules: pure, no I/O but files."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from cloud.broker.acl import Access, allowed, mosquitto_acl
from cloud.identity import enrollment
from cloud.identity.ca import FleetCA, Revoked
from cloud.identity.credentials import DeviceKey, hash_password, make_csr, verify_password
from cloud.identity.exceptions import (
    CertificateError,
    ReservedNameError,
    TokenExpiredError,
    TokenMismatchError,
    TokenRevokedError,
    TokenUnknownError,
    TokenUsedError,
)
from cloud.identity.names import CLOUD
from tests.services import unavailable

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_device_certificate_names_the_device_and_chains_to_the_ca(tmp_path: Path) -> None:
    ca = FleetCA.create(now=NOW)
    ca.save(tmp_path)
    assert (tmp_path / "ca.key").stat().st_mode & 0o777 == 0o600
    ca = FleetCA.load(tmp_path)
    dev = DeviceKey.generate("bb-0042")
    cert = ca.issue_device(dev.csr, device_id="bb-0042", now=NOW)
    ca.verify(cert, now=NOW + timedelta(days=1))
    assert dev.matches(cert)
    assert (
        cert.subject.rfc4514_string().endswith("CN=bb-0042") or "CN=bb-0042" in cert.subject.rfc4514_string()
    )
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    with pytest.raises(CertificateError, match="validity"):
        ca.verify(cert, now=NOW + timedelta(days=900))
    with pytest.raises(CertificateError):
        FleetCA.create(now=NOW).verify(cert, now=NOW)


def test_csr_must_name_the_device_be_self_signed_and_p256() -> None:
    ca = FleetCA.create(now=NOW)
    other = DeviceKey.generate("bb-0043")
    with pytest.raises(CertificateError, match="CN='bb-0043'"):
        ca.issue_device(other.csr, device_id="bb-0042", now=NOW)
    rsa_csr = make_csr(rsa.generate_private_key(65537, 2048), "bb-0042")  # type: ignore[arg-type]
    with pytest.raises(CertificateError, match="P-256"):
        ca.issue_device(rsa_csr, device_id="bb-0042", now=NOW)
    p384 = make_csr(ec.generate_private_key(ec.SECP384R1()), "bb-0042")
    with pytest.raises(CertificateError, match="P-256"):
        ca.issue_device(p384, device_id="bb-0042", now=NOW)


@pytest.mark.parametrize("name", [CLOUD, "Bad_Id", "-x", "ab", "a/b"])
def test_no_device_certificate_for_service_or_malformed_names(name: str) -> None:
    ca = FleetCA.create(now=NOW)
    with pytest.raises(ReservedNameError):
        ca.issue_device(make_csr(ec.generate_private_key(ec.SECP256R1()), name), device_id=name, now=NOW)


def test_crl_lists_revoked_serials() -> None:
    ca = FleetCA.create(now=NOW)
    cert = ca.issue_device(DeviceKey.generate("bb-0042").csr, device_id="bb-0042", now=NOW)
    crl = ca.crl([Revoked(cert.serial_number, NOW)], now=NOW)
    assert crl.is_signature_valid(ca.cert.public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None


def test_password_hash_is_mosquittos_pbkdf2_format() -> None:
    stored = hash_password("s3cret")
    assert stored.startswith("$7$50000$")
    assert verify_password("s3cret", stored)
    assert not verify_password("s3cret!", stored)
    for broken in ("", "$6$x$y", "$7$abc$x$y", "$7$10$!!$!!", "plain"):
        assert not verify_password("s3cret", broken)


def test_password_hash_verifies_what_mosquitto_passwd_writes(tmp_path: Path) -> None:
    exe = shutil.which("mosquitto_passwd")
    if exe is None:
        unavailable("needs mosquitto_passwd: apt-get install mosquitto (or run scripts/test)")
    path = tmp_path / "pw"
    subprocess.run([exe, "-b", "-c", str(path), "dev-a", "pa55"], check=True)
    stored = path.read_text().strip().split(":", 1)[1]
    assert verify_password("pa55", stored)
    assert not verify_password("pa56", stored)


def test_acl_rule() -> None:
    assert allowed("dev-a", "mob/v1/dev-a/telemetry", Access.PUBLISH)
    assert not allowed("dev-a", "mob/v1/dev-a/cmd", Access.PUBLISH)
    assert allowed("dev-a", "mob/v1/dev-a/cmd", Access.SUBSCRIBE)
    assert allowed("dev-a", "mob/v1/dev-a/cmd", Access.RECEIVE)
    assert not allowed("dev-a", "mob/v1/dev-a/telemetry", Access.SUBSCRIBE)
    assert not allowed("dev-a", "mob/v1/dev-b/telemetry", Access.PUBLISH)
    assert not allowed("dev-a", "mob/v1/+/cmd", Access.SUBSCRIBE)
    assert not allowed(None, "mob/v1/dev-a/telemetry", Access.PUBLISH)
    assert not allowed("other.service", "mob/v1/dev-a/cmd", Access.PUBLISH)
    assert allowed(CLOUD, "mob/+/+/telemetry", Access.SUBSCRIBE)
    assert allowed(CLOUD, "mob/v1/dev-a/cmd", Access.PUBLISH)
    assert not allowed(CLOUD, "$SYS/broker/load", Access.SUBSCRIBE)
    text = mosquitto_acl()
    assert f"user {CLOUD}\ntopic readwrite mob/#" in text
    assert "pattern write mob/v1/%u/telemetry" in text
    assert "pattern read mob/v1/%u/config/desired" in text
    assert "pattern write mob/v1/%u/cmd\n" not in text


class Row:
    """A token row as a store keeps it (the TokenRecord protocol)."""

    def __init__(self, minted: enrollment.MintedToken, **kw: object) -> None:
        self.token_hash = minted.token_hash
        self.prefix = minted.prefix
        self.tenant = "acme"
        self.hardware: str | None = None
        self.device_id: str | None = None
        self.expires_at = minted.expires_at
        self.used_at: datetime | None = None
        self.used_by: str | None = None
        self.revoked_at: datetime | None = None
        self.__dict__.update(kw)


def test_enrollment_token_rules() -> None:
    minted = enrollment.mint(now=NOW, ttl=timedelta(hours=1))
    assert minted.secret.startswith("enr_")
    assert minted.prefix == minted.secret[:10]
    assert minted.token_hash != minted.secret
    assert len(minted.token_hash) == 64
    row = Row(minted)
    claim = {"secret": minted.secret, "device_id": "bb-1", "hardware": "esp32"}
    enrollment.check_claim(row, now=NOW + timedelta(minutes=59), **claim)  # type: ignore[arg-type]

    with pytest.raises(TokenUnknownError) as e:
        enrollment.check_claim(row, now=NOW, secret=minted.secret + "x", device_id="bb-1", hardware="esp32")
    assert e.value.reason == "unknown"
    with pytest.raises(TokenUnknownError):
        enrollment.check_claim(None, now=NOW, **claim)  # type: ignore[arg-type]
    with pytest.raises(TokenExpiredError) as e:
        enrollment.check_claim(row, now=NOW + timedelta(hours=1), **claim)  # type: ignore[arg-type]
    assert e.value.reason == "expired"
    assert "ask ops for a new one" in str(e.value)

    used = Row(minted, used_at=NOW, used_by="bb-1")
    with pytest.raises(TokenUsedError) as e:
        enrollment.check_claim(used, now=NOW + timedelta(hours=2), **claim)  # type: ignore[arg-type]
    assert e.value.reason == "used"
    assert e.value.device_id == "bb-1"
    with pytest.raises(TokenRevokedError):
        enrollment.check_claim(Row(minted, revoked_at=NOW), now=NOW, **claim)  # type: ignore[arg-type]
    with pytest.raises(TokenMismatchError, match="rpi"):
        enrollment.check_claim(Row(minted, hardware="rpi"), now=NOW, **claim)  # type: ignore[arg-type]
    with pytest.raises(TokenMismatchError, match="bb-2"):
        enrollment.check_claim(Row(minted, device_id="bb-2"), now=NOW, **claim)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl"):
        enrollment.mint(now=NOW, ttl=timedelta(days=31))
