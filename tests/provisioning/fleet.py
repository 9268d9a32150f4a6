"""A test fleet: a CA, device credentials and the cloud's, written to files the brokers and clients read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from cloud.broker.files import BrokerFiles
from cloud.identity.ca import FleetCA, Revoked, cert_pem, private_pem
from cloud.identity.credentials import DeviceKey, hash_password, new_password
from cloud.identity.names import CLOUD
from tests.provisioning.mqttc import TlsFiles


@dataclass
class Fleet:
    root: Path
    ca: FleetCA = field(default_factory=FleetCA.create)
    serials: dict[str, int] = field(default_factory=dict)
    revoked: list[Revoked] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)  # username -> plain password (tests only)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.broker = BrokerFiles(self.root / "broker")

    def device(self, device_id: str) -> TlsFiles:
        key = DeviceKey.generate(device_id)
        return self._write(device_id, key.key, self.ca.issue_device(key.csr, device_id=device_id))

    def service(self, name: str = CLOUD) -> TlsFiles:
        key = ec.generate_private_key(ec.SECP256R1())
        return self._write(name, key, self.ca.issue_service(name, key.public_key()))

    def _write(self, name: str, key: ec.EllipticCurvePrivateKey, cert) -> TlsFiles:  # type: ignore[no-untyped-def]
        d = self.root / name
        d.mkdir(exist_ok=True)
        (d / "client.key").write_bytes(private_pem(key))
        (d / "client.crt").write_bytes(cert_pem(cert))
        self.serials[name] = cert.serial_number
        return TlsFiles(ca=self.broker.cafile, cert=d / "client.crt", key=d / "client.key")

    def password(self, username: str) -> str:
        self.passwords[username] = new_password()
        return self.passwords[username]

    def hashes(self) -> dict[str, str]:
        return {u: hash_password(p, iterations=1000) for u, p in self.passwords.items()}

    def write_broker_files(self) -> BrokerFiles:
        return self.broker.write(
            self.ca, hosts=["127.0.0.1", "localhost"], revoked=self.revoked, passwords=self.hashes()
        )

    def revoke(self, name: str) -> None:
        if name in self.serials:
            self.revoked.append(Revoked(self.serials[name], datetime.now(UTC)))
        self.passwords.pop(name, None)
        self.broker.refresh(self.ca, revoked=self.revoked, passwords=self.hashes())
