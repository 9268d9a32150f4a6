"""Typed settings, read from the environment at the process edge only.

Every field has a default that gives the newcomer's single-process stack: embedded amqtt broker,
SQLite file, API on 127.0.0.1:8000. `MOBILYTICS_BROKER` and `MOBILYTICS_DB` point the cloud at
an external Mosquitto and PostgreSQL instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from cloud.core.env import env_values
from cloud.exceptions import SettingsError
from cloud.presence.rules import Policy

DEFAULT_DB = "sqlite:///var/mobilytics.sqlite3"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # None: run the embedded amqtt broker on mqtt_host:mqtt_port.
    broker: str | None = None
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    db: str = DEFAULT_DB
    simulate: int = 0
    # The bridge's MQTT client id: a persistent session, so what arrives while it is away waits.
    client_id: str = "mobilytics-cloud"
    # Presence (cloud/presence/RULES.md).
    heartbeat_timeout_factor: float = 3.0
    default_heartbeat_s: float = 60.0
    sweep_interval_s: float = 0.5
    flap_stable_s: float = 10.0
    # Heartbeat samples (lag and health history for the device page) are kept this long.
    heartbeat_keep_days: float = 7.0
    # Ingest: a flush is written in one transaction and acknowledged after its commit.
    flush_max_messages: int = 1000
    flush_interval_ms: int = 20
    # OTA releases (cloud/releases/): a directory (the embedded default) or s3://bucket[/prefix],
    # with s3_endpoint for an S3-compatible server other than AWS; the fleet's trusted root document
    # that every uploaded release must verify against; the base URL devices download from.
    releases: str = "var/releases"
    s3_endpoint: str | None = None
    ota_root: str = "var/ota-root.json"
    public_url: str | None = None
    # Device identity (issue 7): the directory `mobilytics identity init` made (fleet CA, the cloud's
    # client certificate, the broker's files). Set, it turns on enrollment (/devices/register) and the
    # bridge presents the cloud's certificate to an mqtts:// broker.
    identity_dir: str | None = None
    # The broker address devices are told at registration (mqtts://host:port); default: `broker`.
    device_broker: str | None = None
    # Run after the CRL or password file changed so the broker re-reads them, e.g.
    # "systemctl reload mosquitto" or "kill -HUP <pid>" (Mosquitto re-reads them on SIGHUP).
    broker_reload: str | None = None
    # Reads without a token: "loopback" (only when the API listens on a loopback address), "yes", "no".
    open_reads: str = "loopback"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **overrides: object) -> Settings:
        """Settings from MOBILYTICS_<FIELD> variables, then explicit overrides (CLI flags)."""
        values = env_values(cls, env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = replace(cls(), **values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.broker is not None:
            parts = urlsplit(self.broker)
            if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
                raise SettingsError("broker", self.broker, "expected mqtt://host:port or mqtts://host:port")
        if not self.db.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://")):
            raise SettingsError("db", self.db, "expected sqlite:///PATH or postgresql://...")
        if self.device_broker is not None:
            parts = urlsplit(self.device_broker)
            if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
                raise SettingsError("device_broker", self.device_broker, "expected mqtt(s)://host:port")
        if self.open_reads not in {"loopback", "yes", "no"}:
            raise SettingsError("open_reads", self.open_reads, "expected loopback, yes or no")
        if self.heartbeat_timeout_factor < 1:
            raise SettingsError("heartbeat_timeout_factor", str(self.heartbeat_timeout_factor), "at least 1")
        for name in ("api_port", "mqtt_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise SettingsError(name, str(port), "a port is 0..65535")

    @property
    def reads_open(self) -> bool:
        """Whether GET routes answer without a token (documented in cloud/README.md, "API tokens")."""
        if self.open_reads == "loopback":
            return self.api_host in {"127.0.0.1", "::1", "localhost"}
        return self.open_reads == "yes"

    @property
    def download_base_url(self) -> str:
        """Where devices fetch artifacts and metadata (the API's own address unless set)."""
        return (self.public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def presence_policy(self) -> Policy:
        return Policy(
            timeout_factor=self.heartbeat_timeout_factor,
            default_interval_s=self.default_heartbeat_s,
            stable_s=self.flap_stable_s,
        )

    @property
    def embedded_broker(self) -> bool:
        return self.broker is None

    @property
    def broker_for_devices(self) -> dict[str, object]:
        """What registration tells a device: {"host", "port", "tls"}."""
        if self.device_broker is None:
            host, port, tls = self.broker_host_port
        else:
            parts = urlsplit(self.device_broker)
            tls = parts.scheme == "mqtts"
            host, port = parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883)
        return {"host": host, "port": port, "tls": tls}

    @property
    def broker_host_port(self) -> tuple[str, int, bool]:
        """(host, port, tls) of the broker the bridge connects to."""
        if self.broker is None:
            return self.mqtt_host, self.mqtt_port, False
        parts = urlsplit(self.broker)
        tls = parts.scheme == "mqtts"
        return parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), tls
