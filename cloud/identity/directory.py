"""The identity directory: the fleet CA, the cloud's MQTT client certificate and the broker's files,
on disk where ``mobilytics identity init DIR`` made them and ``mobilytics up`` reads them
(``MOBILYTICS_IDENTITY_DIR``)::

    DIR/ca/ca.crt, ca.key        the fleet CA (cloud/identity/ca.py); ca.key 0600, never leaves here
    DIR/cloud/client.crt, .key   the control plane's identity (CN mobilytics.cloud) for the bridge
    DIR/broker/...               what Mosquitto reads (cloud/broker/files.py): its certificate, CRL,
                                 password file, ACL; ``mobilytics broker-config --tls DIR`` points at them

``init`` is safe to repeat: the CA and the keys are made once and kept (a new CA would orphan every
device certificate); the certificates issued from them are renewed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cloud.broker.files import BrokerFiles
from cloud.identity.ca import FleetCA, cert_pem, private_pem
from cloud.identity.exceptions import CertificateError
from cloud.identity.names import CLOUD
from cloud.identity.service import Identity


def _key(path: Path) -> ec.EllipticCurvePrivateKey:
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private_pem(ec.generate_private_key(ec.SECP256R1())))
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"{path} is not an EC private key")
    return key


@dataclass(frozen=True, slots=True)
class IdentityDir:
    root: Path

    @property
    def ca_dir(self) -> Path:
        return self.root / "ca"

    @property
    def ca_file(self) -> Path:
        return self.ca_dir / "ca.crt"

    @property
    def cloud_cert(self) -> Path:
        return self.root / "cloud" / "client.crt"

    @property
    def cloud_key(self) -> Path:
        return self.root / "cloud" / "client.key"

    @property
    def broker(self) -> BrokerFiles:
        return BrokerFiles(self.root / "broker")

    def init(self, *, hosts: Iterable[str]) -> IdentityDir:
        """Make (or keep) the CA, issue the cloud's and the broker's certificates, write the broker's
        files. ``hosts``: the names and addresses devices and the cloud use to reach the broker."""
        if (self.ca_dir / "ca.key").exists():
            ca = FleetCA.load(self.ca_dir)
        else:
            ca = FleetCA.create()
            ca.save(self.ca_dir)
        self.cloud_cert.parent.mkdir(parents=True, exist_ok=True)
        key = _key(self.cloud_key)
        self.cloud_cert.write_bytes(cert_pem(ca.issue_service(CLOUD, key.public_key())))
        # Revocations and passwords come from the database: `mobilytics up` refreshes them at start.
        self.broker.write(ca, hosts=hosts)
        return self

    def load(self, *, broker: dict[str, object], reload: Callable[[], None] | None = None) -> Identity:
        """The Identity the API enrolls devices with: devices are told ``broker`` ({host, port, tls})."""
        if not (self.ca_dir / "ca.key").exists():
            raise CertificateError(
                f"no fleet CA in {self.ca_dir}: run `mobilytics identity init {self.root}`"
            )
        return Identity(ca=FleetCA.load(self.ca_dir), broker=broker, files=self.broker, reload=reload)
