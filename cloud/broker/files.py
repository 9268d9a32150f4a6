"""The files a broker needs to enforce device identity, written from the cloud's state.

One directory per broker::

    ca.crt       the fleet CA (clients are verified against it)
    server.crt   the broker's certificate, signed by the fleet CA, for ``hosts``
    server.key   its key (0600)
    crl.pem      revoked device certificates (Mosquitto ``crlfile``; the amqtt plugin reads it too)
    passwd       per-device password fallback, ``username:$7$...`` lines
    acl          topic rules (cloud/broker/acl.py)

``refresh`` rewrites only the revocation-dependent files (CRL, passwd) atomically, so a broker
reloading on SIGHUP never reads half a file. The server key is made once and kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cloud.broker.acl import mosquitto_acl
from cloud.broker.mosquitto import TlsListener
from cloud.identity.ca import FleetCA, Revoked, cert_pem, crl_pem, private_pem


def render_password_file(entries: Mapping[str, str]) -> str:
    """``username:hash`` lines; usernames never contain ':' (device ids and service names cannot)."""
    for name in entries:
        if ":" in name or "\n" in name:
            raise ValueError(f"username {name!r} cannot go in a password file")
    return "".join(f"{name}:{entries[name]}\n" for name in sorted(entries))


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    directory: Path

    @property
    def cafile(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def certfile(self) -> Path:
        return self.directory / "server.crt"

    @property
    def keyfile(self) -> Path:
        return self.directory / "server.key"

    @property
    def crlfile(self) -> Path:
        return self.directory / "crl.pem"

    @property
    def password_file(self) -> Path:
        return self.directory / "passwd"

    @property
    def acl_file(self) -> Path:
        return self.directory / "acl"

    def tls_listener(self, *, port: int, host: str = "0.0.0.0") -> TlsListener:
        return TlsListener(
            port=port,
            host=host,
            cafile=self.cafile,
            certfile=self.certfile,
            keyfile=self.keyfile,
            crlfile=self.crlfile,
        )

    def write(
        self,
        ca: FleetCA,
        *,
        hosts: Iterable[str],
        revoked: Iterable[Revoked] = (),
        passwords: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> BrokerFiles:
        self.directory.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.cafile, ca.cert_pem)
        if not self.keyfile.exists():
            _atomic_write(self.keyfile, private_pem(ec.generate_private_key(ec.SECP256R1())), 0o600)
        key = serialization.load_pem_private_key(self.keyfile.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        _atomic_write(self.certfile, cert_pem(ca.issue_server(key.public_key(), hosts=hosts, now=now)))
        _atomic_write(self.acl_file, mosquitto_acl().encode())
        self.refresh(ca, revoked=revoked, passwords=passwords or {}, now=now)
        return self

    def refresh(
        self,
        ca: FleetCA,
        *,
        revoked: Iterable[Revoked],
        passwords: Mapping[str, str],
        now: datetime | None = None,
    ) -> None:
        """Rewrite the CRL and the password file (after a registration, rotation or revocation)."""
        _atomic_write(self.crlfile, crl_pem(ca.crl(revoked, now=now)))
        _atomic_write(self.password_file, render_password_file(passwords).encode(), 0o600)
